// walt extract: features over a collection, resumable and shardable (see README "Feature extraction").
//
// A run has two phases. Validation reads and checks everything (inputs, config, weights, classes,
// the folder's options) and writes nothing, so a failed run never leaves a folder that later runs
// refuse. Then the device starts and the loop runs: decode ahead (or read cached latents), batch,
// submit, and write shards; the folder, its extract.json and extract.log appear with the first
// result. SIGINT and SIGTERM finish the current batch and shard within a grace period; a second
// signal, or the end of the grace period, stops at once.
import { appendFileSync, existsSync, mkdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { loadOrTune } from '../kernels/tuning.js';
import { GpuContext } from '../gpu/context.js';
import { DecodePool } from '../io/decode-pool.js';
import { scanInputs, type InputItem } from '../io/inputs.js';
import type { Clip, ClipStart } from '../io/media.js';
import { SafetensorsFile } from '../io/safetensors.js';
import { tokenGrid, type WaltConfig } from '../model/config.js';
import {
  loadWeights,
  randomWeightValues,
  uploadWeights,
  validateWeights,
  type ModelWeights,
} from '../model/weights.js';
import type { FloatDType } from '../tensor/dtype.js';
import { fromF16Array, toF16Array } from '../tensor/f16.js';
import { writeBytesAtomic } from '../util/atomic.js';
import { formatDuration, progress } from '../util/progress.js';
import { hashString } from '../util/rng.js';
import {
  clipFeatures,
  featureName,
  latentFeatures,
  resampleTime,
  type ClipInput,
  type ClipLatents,
  type ClipResult,
  type FeatureTensor,
  type Pool,
} from './features.js';
import {
  damagedItems,
  readManifest,
  writeManifest,
  type ItemKind,
  type ManifestLine,
  type ManifestOk,
  type TensorInfo,
} from './manifest.js';
import { ShardWriter } from './shards.js';
import {
  INFO_KEYS,
  OptionsError,
  readSpec,
  showValue,
  SPEC_FILE,
  specDifferences,
  specText,
  weightsDigest,
  type RunSpec,
} from './spec.js';

export interface ShardSpec {
  index: number;
  count: number;
}

export interface ExtractOptions {
  /** Files, folders and list files. Empty with `fromLatents`. */
  inputs: string[];
  out: string;
  config: WaltConfig;
  weights?: string;
  weightsSeed: number;
  ts: number[];
  blocks: number[];
  shard: ShardSpec;
  noiseSeed: number;
  pool: Pool;
  /** Storage dtype of the features. */
  dtype: FloatDType;
  /** Compute dtype of the model. */
  compute: FloatDType;
  resample?: number;
  stride: number;
  start: ClipStart;
  startSeed: number;
  /** Video models: images replicated to the clip length ('replicate') or one frame ('single'). */
  imageMode: 'replicate' | 'single';
  /** Image models: each frame its own image ('independent') or the clip as one input ('joint'). */
  frames: 'independent' | 'joint';
  classIndex?: number;
  batch?: number;
  retryErrors: boolean;
  shardBytes: number;
  concurrency?: number;
  workerUrl?: URL;
  adapter?: string;
  /** Store each item's z₀ and ε in the shards (`--keep-latents`). */
  keepLatents?: boolean;
  /**
   * Run from the latents a `--keep-latents` run stored in this folder: only the noising and the
   * denoiser (`--from-latents DIR`). The pixel-side options are that folder's.
   */
  fromLatents?: string;
  /** After the first SIGINT/SIGTERM: seconds to finish the current batch and shard (default 25). */
  graceSeconds?: number;
  /** GPU-busy time from timestamps, when the adapter has 'timestamp-query' (default true). */
  gpuTimes?: boolean;
  /** Bench: GPU timestamps on (same as gpuTimes). */
  profile?: boolean;
  /** Handle SIGINT/SIGTERM (default true). */
  handleSignals?: boolean;
  log: (s: string) => void;
}

/** Where the time went. `wall` phases are disjoint stretches of the run and sum to its length. */
export interface TimeSplit {
  /** Seconds: setup (validation, device, weights), decode (waiting for clips or latents), submit
   * (encoding GPU work), gpu-wait (waiting for results), host (conversion, pooling on the host),
   * write (shards and manifest), other. */
  wall: Record<string, number>;
  /** GPU-busy seconds from timestamps (encoder, denoiser), when the adapter has them. */
  gpu?: { encoder: number; denoiser: number };
}

export interface ExtractSummary {
  inputs: number;
  assigned: number;
  skipped: number;
  ok: number;
  errors: number;
  /** Error lines for this shard's inputs in the manifest after the run (old and new). */
  errorsInManifest: number;
  /** This run's failures: source and message, in input order. */
  failed: { source: string; error: string }[];
  /** Files the folder scan did not take (unknown extensions), as found. */
  unknownFiles: string[];
  interrupted: boolean;
  /** The signal that interrupted the run. */
  signal?: 'SIGINT' | 'SIGTERM';
  /** True when the run stopped at once (second signal, or the grace period ran out). */
  stoppedAtOnce: boolean;
  seconds: number;
  clipsPerSecond: number;
  framesPerSecond: number;
  time: TimeSplit;
  /** Batches sent to the GPU and finished (written or held for the next shard). */
  batches: number;
  out: string;
}

/** Deterministic shard of an item: hash of its source path. */
export function shardOf(source: string, count: number): number {
  return hashString(source) % count;
}

/** Tensor group name of an item inside a shard. */
export function itemKey(source: string): string {
  const h1 = hashString(source).toString(16).padStart(8, '0');
  const h2 = hashString(`walt:${source}`).toString(16).padStart(8, '0');
  return `item-${h1}${h2}`;
}

/** What defines the features; stored in DIR/extract.json; a rerun must match it. */
export function runSpec(o: ExtractOptions, weightsId: string): RunSpec {
  return {
    config: o.config.name,
    pixels: o.config.pixels,
    weights: weightsId,
    t: o.ts,
    blocks: o.blocks,
    noise_seed: o.noiseSeed,
    pool: o.pool,
    dtype: o.dtype,
    compute: o.compute,
    resample: o.resample ?? null,
    stride: o.stride,
    start: o.start,
    start_seed: o.startSeed,
    image_mode: o.imageMode,
    frames: o.config.denoiser.imageModel ? o.frames : null,
    class: o.classIndex ?? null,
    keep_latents: o.keepLatents ?? false,
    shard: `${o.shard.index}/${o.shard.count}`,
    ...(o.weights ? { weights_path: resolve(o.weights) } : {}),
    ...(o.fromLatents ? { latents_from: resolve(o.fromLatents) } : {}),
  };
}

function poolCpu(x: Float32Array, shape: number[], pool: Pool): { data: Float32Array; shape: number[] } {
  const [T, h, w, D] = shape as [number, number, number, number];
  const mean = (outer: number, axis: number, inner: number): Float32Array => {
    const out = new Float32Array(outer * inner);
    for (let o = 0; o < outer; o++) {
      for (let a = 0; a < axis; a++) {
        for (let i = 0; i < inner; i++) {
          out[o * inner + i]! += x[(o * axis + a) * inner + i]! / axis;
        }
      }
    }
    return out;
  };
  switch (pool) {
    case 'none':
      return { data: x, shape };
    case 'space':
      return { data: mean(T, h * w, D), shape: [T, D] };
    case 'time':
      return { data: mean(1, T, h * w * D), shape: [h, w, D] };
    case 'spacetime':
      return { data: mean(1, T * h * w, D), shape: [D] };
  }
}

const asF32 = (t: FeatureTensor): Float32Array =>
  t.dtype === 'f16' ? fromF16Array(t.data as Uint16Array) : (t.data as Float32Array);
const stored = (data: Float32Array, shape: number[], dtype: FloatDType): FeatureTensor =>
  dtype === 'f16' ? { data: toF16Array(data), shape, dtype } : { data, shape, dtype };

/** Bytes of the largest activation one clip needs in the denoiser (the MLP's hidden layer). */
function bytesPerClip(cfg: WaltConfig, dtype: FloatDType): number {
  const d = cfg.denoiser;
  const g = tokenGrid(d);
  return g[0] * g[1] * g[2] * d.width * d.mlpRatio * (dtype === 'f16' ? 2 : 4);
}

/** Denoiser batch size from the device's binding limit (the MLP hidden layer is the largest). */
export function autoBatch(ctx: GpuContext, cfg: WaltConfig, dtype: FloatDType): number {
  return Math.max(1, Math.min(8, Math.floor(ctx.caps.limits.maxStorageBufferBindingSize / bytesPerClip(cfg, dtype))));
}

/** One unit of work: an input and either its decoded clip or its cached latents. */
interface Work {
  item: InputItem;
  meta: ItemMeta;
  clip?: Clip;
  /** Cached z₀ (n, T', h, w, c) and ε for `--from-latents`. */
  cached?: { z0: FeatureTensor; eps: FeatureTensor };
}

/** What the manifest records about an item besides its tensors. */
interface ItemMeta {
  kind: ItemKind;
  frame_indices: number[];
  pts?: (number | null)[];
  warnings?: string[];
}

const metaOf = (item: InputItem, clip: Clip): ItemMeta => ({
  kind: item.kind,
  frame_indices: clip.framesUsed,
  ...(clip.pts ? { pts: clip.pts } : {}),
  ...(clip.warnings.length ? { warnings: clip.warnings } : {}),
});

/** Thrown inside the loop when the run must stop at once. */
class StopNow extends Error {}

/** What validation found: everything the loop needs, nothing written. */
interface Plan {
  spec: RunSpec;
  all: number;
  mine: InputItem[];
  unknownFiles: string[];
  /** `--from-latents`: the cached items by source, and lines of that folder to copy (errors). */
  cache?: { dir: string; bySource: Map<string, ManifestOk>; errors: Map<string, ManifestLine> };
  existing: ManifestLine[];
  folderExists: boolean;
}

/** Pixel-side options a `--from-latents` run takes from the latents' folder. */
export const LATENT_SOURCE_KEYS = [
  'config',
  'pixels',
  'noise_seed',
  'compute',
  'stride',
  'start',
  'start_seed',
  'image_mode',
  'frames',
] as const;

async function validate(o: ExtractOptions, log: (s: string) => void): Promise<Plan> {
  const cfg = o.config;
  const layers = cfg.denoiser.layers;
  for (const l of o.blocks) {
    if (!Number.isInteger(l) || l < 1 || l > layers) {
      throw new OptionsError(`--blocks: ${l} is not a block of '${cfg.name}' (1…${layers})`);
    }
  }
  for (const t of o.ts) {
    if (!Number.isInteger(t) || t < 0 || t > 999) {
      throw new OptionsError(`--t: ${t} is not a diffusion step (0…999)`);
    }
  }
  if (o.classIndex !== undefined && (o.classIndex < 0 || o.classIndex > cfg.denoiser.numClasses)) {
    throw new OptionsError(
      `--class ${o.classIndex}: '${cfg.name}' has classes 0…${cfg.denoiser.numClasses - 1} and the null class ${cfg.denoiser.numClasses}`,
    );
  }
  if (existsSync(o.out) && !statSync(o.out).isDirectory()) {
    throw new OptionsError(`--out ${o.out} is a file, not a folder; give a folder`);
  }

  // Inputs.
  let items: InputItem[];
  let unknownFiles: string[] = [];
  let cache: Plan['cache'];
  if (o.fromLatents) {
    if (o.inputs.length > 0) {
      throw new OptionsError('--from-latents DIR takes its items from DIR: give no inputs with it');
    }
    const dir = o.fromLatents;
    const src = readSpec(dir);
    if (src === null) {
      throw new OptionsError(`--from-latents ${dir}: no ${SPEC_FILE} there (is it a walt extract folder?)`);
    }
    if (src.keep_latents !== true) {
      throw new OptionsError(`--from-latents ${dir}: that run did not keep latents (extract it with --keep-latents)`);
    }
    const lines = readManifest(dir);
    const bySource = new Map<string, ManifestOk>();
    const errors = new Map<string, ManifestLine>();
    items = [];
    for (const l of lines) {
      if (l.status === 'ok' && !l.latents) {
        throw new OptionsError(`--from-latents ${dir}: '${l.source}' has no latents in the manifest`);
      }
      if (l.status === 'ok') {
        bySource.set(l.source, l);
      } else {
        errors.set(l.source, l);
      }
      items.push({ source: l.source, path: resolve(l.source), kind: l.kind ?? 'unknown' });
      if (l.label !== undefined) {
        items[items.length - 1]!.label = l.label;
      }
    }
    cache = { dir, bySource, errors };
  } else {
    const missing = o.inputs.filter((p) => !existsSync(p));
    if (missing.length > 0) {
      throw new OptionsError(
        `${missing.map((p) => `'${p}'`).join(', ')}: no such file or folder; check the path${missing.length > 1 ? 's' : ''}`,
      );
    }
    const scan = await scanInputs(o.inputs);
    items = scan.items;
    unknownFiles = scan.skipped;
  }

  // Weights: header and tensor list against the config, digest.
  let weightsId = `random:${o.weightsSeed}`;
  if (o.weights) {
    if (!existsSync(o.weights)) {
      throw new OptionsError(
        `--weights ${o.weights}: no such file (make one with: walt init --config ${cfg.name} --out ${o.weights})`,
      );
    }
    let file: SafetensorsFile | undefined;
    try {
      file = await SafetensorsFile.open(o.weights);
      validateWeights(file, cfg, !o.fromLatents);
    } catch (e) {
      throw new OptionsError(`--weights: ${e instanceof Error ? e.message : String(e)}`);
    } finally {
      await file?.close();
    }
    weightsId = await weightsDigest(o.weights);
    log(`weights ${o.weights}: ${weightsId}`);
  }

  // The folder's options.
  const spec = runSpec(o, weightsId);
  const old = readSpec(o.out);
  if (old !== null) {
    // Folders from before `keep_latents` existed kept no latents.
    const diff = specDifferences(spec, { keep_latents: false, ...old }, INFO_KEYS);
    if (diff.length > 0) {
      throw new OptionsError(
        `${o.out} holds features extracted with other options:\n` +
          diff.map((d) => `  ${d.key}: ${showValue(d.a)} here, ${showValue(d.b)} in the folder`).join('\n') +
          `\nUse the folder's options, or another --out folder.`,
      );
    }
  }
  const existing = readManifest(o.out);
  const mine = items.filter((it) => shardOf(it.source, o.shard.count) === o.shard.index);
  return {
    spec,
    all: items.length,
    mine,
    unknownFiles,
    ...(cache ? { cache } : {}),
    existing,
    folderExists: old !== null || existing.length > 0,
  };
}

/** Disjoint wall-time stretches of the run, by phase. */
class Stopwatch {
  readonly wall: Record<string, number> = {
    setup: 0,
    decode: 0,
    submit: 0,
    'gpu-wait': 0,
    host: 0,
    write: 0,
  };
  private current = 'setup';
  private since = performance.now();

  /** Ends the current stretch and starts one of `phase`; returns the previous phase. */
  enter(phase: string): string {
    const now = performance.now();
    this.wall[this.current] = (this.wall[this.current] ?? 0) + (now - this.since) / 1000;
    const prev = this.current;
    this.current = phase;
    this.since = now;
    return prev;
  }

  /** Runs the synchronous `fn` as `phase`, then returns to the phase before. */
  sync<T>(phase: string, fn: () => T): T {
    const prev = this.enter(phase);
    try {
      return fn();
    } finally {
      this.enter(prev);
    }
  }

  /** Runs `fn` as `phase`, then returns to the phase before. */
  async time<T>(phase: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.enter(phase);
    try {
      return await fn();
    } finally {
      this.enter(prev);
    }
  }
}

export async function runExtract(o: ExtractOptions): Promise<ExtractSummary> {
  const t0 = performance.now();
  const clock = new Stopwatch();
  const logPath = join(o.out, 'extract.log');
  // Log lines wait in memory until the folder exists (it is created with the first result).
  const logBuffer: string[] = [];
  let folderReady = false;
  const log = (s: string): void => {
    const line = `${new Date().toISOString()} ${s}\n`;
    if (folderReady) {
      appendFileSync(logPath, line);
    } else {
      logBuffer.push(line);
    }
  };
  const say = (s: string): void => {
    o.log(s);
    log(s);
  };
  log(`walt extract ${process.argv.slice(2).join(' ')}`);

  const plan = await validate(o, log);
  const { spec, mine } = plan;
  /** Creates the folder, extract.json and extract.log: called just before the first result is written. */
  const ensureFolder = async (): Promise<void> => {
    if (folderReady) {
      return;
    }
    mkdirSync(o.out, { recursive: true });
    if (!existsSync(join(o.out, SPEC_FILE))) {
      await writeBytesAtomic(join(o.out, SPEC_FILE), specText(spec));
    }
    folderReady = true;
    appendFileSync(logPath, logBuffer.splice(0).join(''));
  };
  if (plan.folderExists) {
    await ensureFolder();
  }

  const order = new Map(mine.map((it, i) => [it.source, i]));
  const lines = new Map<string, ManifestLine>();
  for (const l of plan.existing) {
    lines.set(l.source, l);
  }
  const damaged = await damagedItems(o.out, [...lines.values()]);
  for (const p of damaged.problems) {
    say(`damaged shard: ${p}`);
  }
  // --from-latents: the latents folder's failed inputs are failed here too (same manifest as a full run).
  if (plan.cache) {
    for (const it of mine) {
      const e = plan.cache.errors.get(it.source);
      if (e && !lines.has(it.source)) {
        lines.set(it.source, e);
      }
    }
  }
  const todo = mine.filter((it) => {
    const l = lines.get(it.source);
    return !l || (l.status === 'error' && o.retryErrors && !plan.cache) || damaged.sources.has(it.source);
  });
  const sortedLines = (): ManifestLine[] =>
    [...lines.values()].sort((a, b) => (order.get(a.source) ?? Infinity) - (order.get(b.source) ?? Infinity));
  const summary: ExtractSummary = {
    inputs: plan.all,
    assigned: mine.length,
    skipped: mine.length - todo.length,
    ok: 0,
    errors: 0,
    errorsInManifest: 0,
    failed: [],
    unknownFiles: plan.unknownFiles,
    interrupted: false,
    stoppedAtOnce: false,
    seconds: 0,
    clipsPerSecond: 0,
    framesPerSecond: 0,
    time: { wall: clock.wall },
    batches: 0,
    out: o.out,
  };
  say(
    `${plan.all} inputs, ${mine.length} in shard ${o.shard.index}/${o.shard.count}, ${summary.skipped} already in the manifest, ${todo.length} to do`,
  );
  if (plan.unknownFiles.length > 0) {
    log(`skipped ${plan.unknownFiles.length} files with unknown extensions:\n  ${plan.unknownFiles.join('\n  ')}`);
  }
  // Items being redone lose their old lines until they are written again.
  for (const it of todo) {
    lines.delete(it.source);
  }
  const writeLines = async (): Promise<void> => {
    await ensureFolder();
    await writeManifest(o.out, sortedLines());
  };
  const finishSummary = (): ExtractSummary => {
    summary.errorsInManifest = sortedLines().filter((l) => l.status === 'error' && order.has(l.source)).length;
    clock.enter('other');
    summary.seconds = (performance.now() - t0) / 1000;
    summary.clipsPerSecond = summary.ok / Math.max(summary.seconds, 1e-9);
    return summary;
  };
  if (todo.length === 0) {
    await writeLines();
    return finishSummary();
  }

  // Signals: the first finishes the current batch and shard within the grace period; a second one,
  // or the end of the grace period, stops at once.
  const grace = o.graceSeconds ?? 25;
  const hard = new AbortController();
  let stopSignal: 'SIGINT' | 'SIGTERM' | null = null;
  let graceTimer: NodeJS.Timeout | undefined;
  // Stops the decoders at the first signal: no new batch starts.
  const feeding = new AbortController();
  const onSignal = (sig: 'SIGINT' | 'SIGTERM'): void => {
    if (stopSignal === null) {
      stopSignal = sig;
      feeding.abort();
      say(
        `${sig}: finishing the current batch and shard (up to ${grace} s; ${sig === 'SIGINT' ? 'Ctrl-C' : 'a second signal'} again stops at once)`,
      );
      graceTimer = setTimeout(() => {
        say(`${sig}: the ${grace} s grace period is over: stopping now (the unfinished shard is recomputed next run)`);
        hard.abort();
      }, grace * 1000);
      graceTimer.unref();
    } else if (!hard.signal.aborted) {
      say(`${sig}: stopping now (the unfinished shard is recomputed next run)`);
      hard.abort();
    }
  };
  const onInt = (): void => onSignal('SIGINT');
  const onTerm = (): void => onSignal('SIGTERM');
  if (o.handleSignals !== false) {
    process.on('SIGINT', onInt);
    process.on('SIGTERM', onTerm);
  }
  /** Waits for `p` unless the run must stop at once. */
  const orStop = <T>(p: Promise<T>): Promise<T> => {
    if (hard.signal.aborted) {
      p.catch(() => undefined);
      return Promise.reject(new StopNow());
    }
    return new Promise<T>((res, rej) => {
      const onAbort = (): void => rej(new StopNow());
      hard.signal.addEventListener('abort', onAbort, { once: true });
      p.then(
        (v) => {
          hard.signal.removeEventListener('abort', onAbort);
          res(v);
        },
        (e: unknown) => {
          hard.signal.removeEventListener('abort', onAbort);
          rej(e instanceof Error ? e : new Error(String(e)));
        },
      );
    });
  };

  let ctx: GpuContext | null = null;
  let weights: ModelWeights | null = null;
  const writer = new ShardWriter(o.out, o.shardBytes);
  const pendingLines: ManifestOk[] = [];
  const cacheFiles = new Map<string, SafetensorsFile>();
  let frames = 0;
  const gpu = { encoder: 0, denoiser: 0 };
  let timestamps = false;
  try {
    ctx = await GpuContext.create(o.adapter ? { adapter: o.adapter } : {});
    const C = ctx;
    // Device limits, before anything is written.
    if (o.compute === 'f16' && !C.caps.f16) {
      throw new OptionsError(`--compute f16: ${C.adapter.name} has no shader-f16; use --compute f32`);
    }
    const maxBatch = Math.floor(C.caps.limits.maxStorageBufferBindingSize / bytesPerClip(o.config, o.compute));
    if (maxBatch < 1) {
      throw new OptionsError(
        `'${o.config.name}' needs ${bytesPerClip(o.config, o.compute)} bytes per clip in one binding; ${C.adapter.name} allows ${C.caps.limits.maxStorageBufferBindingSize} (try --compute f16)`,
      );
    }
    if (o.batch !== undefined && o.batch > maxBatch) {
      throw new OptionsError(
        `--batch ${o.batch}: ${C.adapter.name}'s binding limit allows at most ${maxBatch} clips of '${o.config.name}' per batch`,
      );
    }
    await loadOrTune(C, { log: (s) => log(`tune: ${s}`) });
    const needEncoder = !plan.cache;
    if (o.weights) {
      weights = await loadWeights(C, o.weights, o.config, { needEncoder, dtype: o.compute });
    } else {
      o.log(
        `\n  *** NOTICE: no --weights given: extracting with SEEDED RANDOM weights (seed ${o.weightsSeed}) for '${o.config.name}'. ***\n` +
          `  *** These features are for testing the pipeline only.                                              ***\n`,
      );
      weights = uploadWeights(C, o.config, randomWeightValues(o.config, o.weightsSeed), {
        needEncoder,
        dtype: o.compute,
        source: `random:${o.weightsSeed}`,
      });
    }
    const W = weights;
    const batchSize = o.batch ?? autoBatch(C, o.config, o.compute);
    timestamps = (o.gpuTimes ?? true) || o.profile === true;
    if (timestamps && !C.device.features.has('timestamp-query')) {
      timestamps = false;
      log('no timestamp-query on this adapter: GPU-busy time is not measured');
    }
    if (timestamps) {
      C.setProfiling(true);
    }
    say(
      `device ${C.adapter.name}; batch ${batchSize}; shards of ~${Math.round(o.shardBytes / 2 ** 20)} MiB` +
        (plan.cache ? `; from the latents in ${plan.cache.dir}` : ''),
    );
    const cfg = o.config;
    const imageModel = cfg.denoiser.imageModel;
    const bar = progress('extract', todo.length, 'clips');
    let done = 0;
    const meta = { config: cfg.name, generator: 'walt extract' };
    let dispatchesAtDrain = C.stats.dispatches;
    /** Adds up the timestamps recorded so far (the records are kept until taken). */
    const drainTimestamps = async (force: boolean): Promise<void> => {
      if (!timestamps || (!force && C.stats.dispatches - dispatchesAtDrain < 20_000)) {
        return;
      }
      dispatchesAtDrain = C.stats.dispatches;
      for (const r of await C.takeProfile()) {
        if (r.tag === 'encoder') {
          gpu.encoder += r.ms / 1000;
        } else {
          gpu.denoiser += r.ms / 1000;
        }
      }
    };

    const flush = async (): Promise<void> => {
      await clock.time('write', async () => {
        await ensureFolder();
        const name = await writer.flush(meta);
        if (name) {
          for (const l of pendingLines.splice(0)) {
            lines.set(l.source, l);
          }
        }
        await writeManifest(o.out, sortedLines());
      });
    };

    const emit = async (w: Work, feats: Map<string, FeatureTensor>, latents?: ClipLatents): Promise<void> => {
      const key = itemKey(w.item.source);
      const all = new Map(feats);
      if (latents) {
        all.set('latent/z0', latents.z0);
        all.set('latent/eps', latents.eps);
      }
      const { shard, tensors } = writer.add({ key, tensors: all });
      const featureInfo: Record<string, TensorInfo> = {};
      for (const n of feats.keys()) {
        featureInfo[n] = tensors[n]!;
      }
      pendingLines.push({
        source: w.item.source,
        status: 'ok',
        kind: w.meta.kind,
        key,
        shard,
        tensors: featureInfo,
        ...(latents ? { latents: { z0: tensors['latent/z0']!, eps: tensors['latent/eps']! } } : {}),
        frame_indices: w.meta.frame_indices,
        ...(w.meta.pts ? { pts: w.meta.pts } : {}),
        ...(w.meta.warnings ? { warnings: w.meta.warnings } : {}),
        ...(w.item.label !== undefined ? { label: w.item.label } : {}),
      });
      summary.ok++;
      frames += w.meta.frame_indices.length;
      if (writer.full) {
        await flush();
      }
    };

    // Post-processing on the host: temporal resampling (then pooling, which needs the full time axis).
    const finish = (perItem: Map<string, FeatureTensor>): Map<string, FeatureTensor> => {
      if (!o.resample) {
        return perItem;
      }
      const out = new Map<string, FeatureTensor>();
      for (const [n, t] of perItem) {
        const [T, ...rest] = t.shape as [number, ...number[]];
        const r = T > 1 ? resampleTime(asF32(t), T, o.resample) : asF32(t);
        const shape = [T > 1 ? o.resample : T, ...rest];
        const pooled = poolCpu(r, shape, o.pool);
        out.set(n, stored(pooled.data, pooled.shape, o.dtype));
      }
      return out;
    };
    const gpuPool: Pool = o.resample ? 'none' : o.pool;
    const gpuDtype: FloatDType = o.resample ? 'f32' : o.dtype;
    const opts = {
      ts: o.ts,
      blocks: o.blocks,
      noiseSeed: o.noiseSeed,
      keepLatents: o.keepLatents === true,
      ...(o.classIndex !== undefined ? { classIndex: o.classIndex } : {}),
    };

    /** Stacks per-frame latents (each (1, T', h, w, c)) into (F, T', h, w, c). */
    const stackLatents = (parts: ClipLatents[]): ClipLatents => {
      const cat = (ts: FeatureTensor[]): FeatureTensor => {
        const n = ts[0]!.data.length;
        const data =
          ts[0]!.data instanceof Uint16Array ? new Uint16Array(n * ts.length) : new Float32Array(n * ts.length);
        ts.forEach((t, i) => data.set(t.data, i * n));
        return { data, shape: [ts.length, ...ts[0]!.shape], dtype: ts[0]!.dtype };
      };
      return { z0: cat(parts.map((p) => p.z0)), eps: cat(parts.map((p) => p.eps)) };
    };
    /** (n, T', h, w, c) → n latent inputs of (T', h, w, c) (n > 1: an image model's frames). */
    const splitLatents = (w: Work): { source: string; z0: FeatureTensor; eps: Float32Array }[] => {
      const { z0, eps } = w.cached!;
      const [n, ...lat] = z0.shape as [number, ...number[]];
      const per = lat.reduce((a, b) => a * b);
      const epsF = asF32(eps);
      return Array.from({ length: n }, (_, f) => ({
        source: n > 1 ? `${w.item.source}#frame${f}` : w.item.source,
        z0: { shape: lat, data: z0.data.subarray(f * per, (f + 1) * per), dtype: z0.dtype },
        eps: epsF.subarray(f * per, (f + 1) * per),
      }));
    };
    /** Runs one GPU batch of per-frame inputs (image model, independent frames) in chunks of batchSize. */
    const perFrame = async (inputs: ClipInput[] | ReturnType<typeof splitLatents>): Promise<ClipResult[]> => {
      const out: ClipResult[] = [];
      for (let i = 0; i < inputs.length; i += batchSize) {
        const part = inputs.slice(i, i + batchSize);
        const o2 = { ...opts, pool: 'none' as const, outDtype: 'f32' as const };
        const p =
          'pixels' in part[0]!
            ? clipFeatures(C, W, part as ClipInput[], o2)
            : latentFeatures(C, W, part as ReturnType<typeof splitLatents>, o2);
        out.push(...(await clock.time('gpu-wait', () => orStop(p))));
      }
      return out;
    };

    /**
     * Submits a batch's GPU work now and returns the function that waits for its features and
     * writes them: the caller submits the next batch before finishing this one (double-buffering:
     * readback, conversion and shard writes overlap the next batch's compute).
     */
    const startBatch = (batch: Work[]): (() => Promise<void>) => {
      const count = async (): Promise<void> => {
        done += batch.length;
        summary.batches++;
        bar.update(done + summary.errors);
        await drainTimestamps(false);
      };
      if (imageModel && o.frames === 'independent') {
        // Each frame is its own 1-frame image (as the image model was trained).
        return async () => {
          for (const w of batch) {
            let res: ClipResult[];
            let T: number;
            if (w.clip) {
              const clip = w.clip;
              const [Tc, H, Wd] = clip.shape;
              T = Tc;
              const per = H * Wd * 3;
              res = await perFrame(
                Array.from({ length: T }, (_, f) => ({
                  source: `${w.item.source}#frame${f}`,
                  pixels: clip.data.subarray(f * per, (f + 1) * per),
                  shape: [1, H, Wd, 3] as const,
                })),
              );
            } else {
              const parts = splitLatents(w);
              T = parts.length;
              res = await perFrame(parts);
            }
            const prev = clock.enter('host');
            const merged = new Map<string, FeatureTensor>();
            for (const name of res[0]!.features.keys()) {
              const parts = res.map((m) => m.features.get(name)!);
              const [, h, wd, D] = parts[0]!.shape as [number, number, number, number];
              let data: Float32Array = new Float32Array(T * h * wd * D);
              parts.forEach((p, f) => data.set(p.data, f * h * wd * D));
              let shape = [T, h, wd, D];
              if (o.resample && T > 1) {
                data = resampleTime(data, T, o.resample);
                shape = [o.resample, h, wd, D];
              }
              const pooled = poolCpu(data, shape, o.pool);
              merged.set(name, stored(pooled.data, pooled.shape, o.dtype));
            }
            const lat = o.keepLatents ? (w.cached ? w.cached : stackLatents(res.map((r) => r.latents!))) : undefined;
            await emit(w, merged, lat);
            clock.enter(prev);
          }
          await count();
        };
      }
      const pending = clock.sync('submit', () =>
        batch[0]!.clip
          ? clipFeatures(
              C,
              W,
              batch.map((w) => ({ source: w.item.source, pixels: w.clip!.data, shape: w.clip!.shape })),
              { ...opts, pool: gpuPool, outDtype: gpuDtype },
            )
          : latentFeatures(
              C,
              W,
              batch.map((w) => splitLatents(w)[0]!),
              { ...opts, pool: gpuPool, outDtype: gpuDtype },
            ),
      );
      pending.catch(() => undefined); // awaited by the returned function
      return async () => {
        const feats = await clock.time('gpu-wait', () => orStop(pending));
        await clock.time('host', async () => {
          for (const [i, w] of batch.entries()) {
            const r = feats[i]!;
            const lat = o.keepLatents
              ? w.cached
                ? w.cached
                : {
                    z0: { ...r.latents!.z0, shape: [1, ...r.latents!.z0.shape] },
                    eps: { ...r.latents!.eps, shape: [1, ...r.latents!.eps.shape] },
                  }
              : undefined;
            await emit(w, finish(r.features), lat);
          }
        });
        await count();
      };
    };

    let finishPrevious: (() => Promise<void>) | null = null;
    const runBatch = async (batch: Work[]): Promise<void> => {
      const finishThis = startBatch(batch);
      if (finishPrevious) {
        await finishPrevious();
      }
      finishPrevious = finishThis;
    };

    // The work: decoded clips, or cached latents read from the latents' shards.
    const pool = plan.cache
      ? null
      : new DecodePool({
          ...(o.concurrency ? { concurrency: o.concurrency } : {}),
          ...(o.workerUrl ? { workerUrl: o.workerUrl } : {}),
          clip: {
            frames: cfg.pixels[0],
            stride: o.stride,
            start: o.start,
            seed: o.startSeed,
            size: [cfg.pixels[1], cfg.pixels[2]],
            imageFrames: o.imageMode === 'single' && !imageModel ? 1 : cfg.pixels[0],
          },
        });
    type Next = { work: Work } | { error: { item: InputItem; message: string; reason: string } };
    const cache = plan.cache;
    async function* source(): AsyncGenerator<Next> {
      if (pool) {
        for await (const r of pool.decode(todo, feeding.signal)) {
          if (r.error) {
            if (r.error.reason === 'interrupted') {
              continue; // not the file's fault: the next run decodes it again
            }
            yield { error: { item: r.item, message: r.error.message, reason: r.error.reason } };
          } else {
            yield { work: { item: r.item, meta: metaOf(r.item, r.ok), clip: r.ok } };
          }
        }
        return;
      }
      for (const item of todo) {
        if (feeding.signal.aborted) {
          return;
        }
        const l = cache!.bySource.get(item.source);
        if (!l) {
          continue; // a failed input: its line was copied above
        }
        let f = cacheFiles.get(l.shard);
        if (!f) {
          f = await SafetensorsFile.open(join(cache!.dir, l.shard));
          cacheFiles.set(l.shard, f);
        }
        const z0Bytes = await f.readBytes(`${l.key}/latent/z0`);
        const eps = await f.readF32(`${l.key}/latent/eps`);
        const z0Info = l.latents!.z0;
        const z0: FeatureTensor = {
          shape: z0Info.shape,
          dtype: z0Info.dtype === 'F16' ? 'f16' : 'f32',
          data:
            z0Info.dtype === 'F16'
              ? new Uint16Array(z0Bytes.buffer.slice(z0Bytes.byteOffset, z0Bytes.byteOffset + z0Bytes.byteLength))
              : new Float32Array(z0Bytes.buffer.slice(z0Bytes.byteOffset, z0Bytes.byteOffset + z0Bytes.byteLength)),
        };
        const meta: ItemMeta = {
          kind: l.kind,
          frame_indices: l.frame_indices,
          ...(l.pts ? { pts: l.pts } : {}),
          ...(l.warnings ? { warnings: l.warnings } : {}),
        };
        yield { work: { item, meta, cached: { z0, eps: { shape: l.latents!.eps.shape, data: eps, dtype: 'f32' } } } };
      }
    }
    const shapeOf = (w: Work): string => (w.clip ? w.clip.shape.join() : w.cached!.z0.shape.join());

    let batch: Work[] = [];
    const it = source();
    try {
      clock.enter('decode');
      for (;;) {
        if (stopSignal !== null) {
          break;
        }
        let n: IteratorResult<Next>;
        try {
          n = await it.next();
        } catch (e) {
          if (feeding.signal.aborted) {
            break; // the decoders were stopped by a signal
          }
          throw e;
        }
        if (n.done === true) {
          break;
        }
        clock.enter('other');
        const r = n.value;
        if ('error' in r) {
          const line: ManifestLine = {
            source: r.error.item.source,
            status: 'error',
            kind: r.error.item.kind,
            error: r.error.message,
            reason: r.error.reason,
            ...(r.error.item.label !== undefined ? { label: r.error.item.label } : {}),
          };
          lines.set(line.source, line);
          summary.errors++;
          summary.failed.push({ source: line.source, error: line.error });
          log(`error: ${line.error}`);
          bar.update(done + summary.errors);
        } else if (stopSignal === null) {
          if (batch.length > 0 && shapeOf(batch[0]!) !== shapeOf(r.work)) {
            await runBatch(batch);
            batch = [];
          }
          batch.push(r.work);
          if (batch.length >= batchSize && stopSignal === null) {
            await runBatch(batch);
            batch = [];
          }
        }
        clock.enter('decode');
      }
      clock.enter('other');
      if (batch.length > 0 && stopSignal === null) {
        await runBatch(batch);
      }
      batch = [];
      if (finishPrevious) {
        await (finishPrevious as () => Promise<void>)();
      }
    } catch (e) {
      if (!(e instanceof StopNow)) {
        throw e;
      }
      summary.stoppedAtOnce = true;
    } finally {
      await it.return(undefined);
      bar.stop();
      await pool?.close();
    }
    if (summary.stoppedAtOnce) {
      const n = writer.discard();
      summary.ok -= pendingLines.length;
      pendingLines.length = 0;
      say(`stopped: discarded the unfinished shard (${n} items are recomputed by the next run)`);
      await clock.time('write', writeLines);
    } else {
      await flush();
    }
    summary.interrupted = stopSignal !== null;
    if (stopSignal !== null) {
      summary.signal = stopSignal;
    }
    if (!summary.stoppedAtOnce) {
      await drainTimestamps(true);
      summary.time.gpu = timestamps ? gpu : undefined;
    }
  } finally {
    clearTimeout(graceTimer);
    if (o.handleSignals !== false) {
      process.off('SIGINT', onInt);
      process.off('SIGTERM', onTerm);
    }
    for (const f of cacheFiles.values()) {
      await f.close();
    }
    weights?.dispose();
    await ctx?.close();
  }
  if (summary.time.gpu === undefined) {
    delete summary.time.gpu;
  }
  finishSummary();
  summary.framesPerSecond = frames / Math.max(summary.seconds, 1e-9);
  const wall = Object.entries(summary.time.wall)
    .map(([k, v]) => `${k} ${v.toFixed(2)} s`)
    .join(', ');
  const gpuText = summary.time.gpu
    ? `; GPU busy (timestamps): encoder ${summary.time.gpu.encoder.toFixed(2)} s, denoiser ${summary.time.gpu.denoiser.toFixed(2)} s`
    : '';
  log(
    `done: ${summary.ok} ok, ${summary.errors} errors, ${summary.batches} batches, ${summary.seconds.toFixed(1)} s (${formatDuration(summary.seconds)}), ` +
      `${summary.clipsPerSecond.toFixed(3)} clips/s, ${summary.framesPerSecond.toFixed(2)} frames/s; wall: ${wall}${gpuText}` +
      (summary.interrupted
        ? `; interrupted by ${summary.signal}${summary.stoppedAtOnce ? ' (stopped at once)' : ''}`
        : ''),
  );
  return summary;
}

export { featureName };
