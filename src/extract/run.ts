// walt extract: features over a collection, resumable and shardable (see README "Extraction").
import { appendFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadOrTune } from '../gpu/autotune.js';
import { GpuContext } from '../gpu/context.js';
import { DecodePool } from '../io/decode-pool.js';
import { expandInputs, type InputItem } from '../io/inputs.js';
import type { Clip, ClipStart } from '../io/media.js';
import { tokenGrid, type WaltConfig } from '../model/config.js';
import { loadWeights, randomWeightValues, uploadWeights, type ModelWeights } from '../model/weights.js';
import type { FloatDType } from '../tensor/dtype.js';
import { fromF16Array, toF16Array } from '../tensor/f16.js';
import { writeBytesAtomic } from '../util/atomic.js';
import { formatDuration, progress } from '../util/progress.js';
import { hashString } from '../util/rng.js';
import { clipFeatures, featureName, resampleTime, type ClipInput, type FeatureTensor, type Pool } from './features.js';
import { damagedItems, readManifest, writeManifest, type ManifestLine, type ManifestOk } from './manifest.js';
import { ShardWriter } from './shards.js';

export interface ShardSpec {
  index: number;
  count: number;
}

export interface ExtractOptions {
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
  /** Bench only: GPU timestamps on every dispatch, to split GPU time into encoder and denoiser. */
  profile?: boolean;
  log: (s: string) => void;
}

export interface ExtractSummary {
  inputs: number;
  assigned: number;
  skipped: number;
  ok: number;
  errors: number;
  /** Error lines for this shard's inputs in the manifest after the run (old and new). */
  errorsInManifest: number;
  interrupted: boolean;
  seconds: number;
  clipsPerSecond: number;
  framesPerSecond: number;
  phases: Record<string, number>;
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
function runSpec(o: ExtractOptions): Record<string, unknown> {
  return {
    config: o.config.name,
    pixels: o.config.pixels,
    weights: o.weights ?? `random:${o.weightsSeed}`,
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
    shard: `${o.shard.index}/${o.shard.count}`,
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

/** Denoiser batch size from the device's binding limit (the MLP hidden layer is the largest). */
export function autoBatch(ctx: GpuContext, cfg: WaltConfig, dtype: FloatDType): number {
  const d = cfg.denoiser;
  const g = tokenGrid(d);
  const tokens = g[0] * g[1] * g[2];
  const perClip = tokens * d.width * d.mlpRatio * (dtype === 'f16' ? 2 : 4);
  return Math.max(1, Math.min(8, Math.floor(ctx.caps.limits.maxStorageBufferBindingSize / perClip)));
}

export async function runExtract(o: ExtractOptions): Promise<ExtractSummary> {
  const t0 = performance.now();
  mkdirSync(o.out, { recursive: true });
  const logPath = join(o.out, 'extract.log');
  const log = (s: string): void => {
    appendFileSync(logPath, `${new Date().toISOString()} ${s}\n`);
  };
  const say = (s: string): void => {
    o.log(s);
    log(s);
  };
  log(`walt extract ${process.argv.slice(2).join(' ')}`);

  // The run's spec must match what DIR already holds.
  const specPath = join(o.out, 'extract.json');
  const spec = `${JSON.stringify(runSpec(o), null, 2)}\n`;
  if (existsSync(specPath)) {
    const old = readFileSync(specPath, 'utf8');
    if (old !== spec) {
      throw new Error(
        `${o.out} holds features extracted with other options:\n${old}\nthis run asks for:\n${spec}Use another --out folder, or the same options.`,
      );
    }
  } else {
    await writeBytesAtomic(specPath, spec);
  }

  const all = await expandInputs(o.inputs);
  const mine = all.filter((it) => shardOf(it.source, o.shard.count) === o.shard.index);
  const order = new Map(mine.map((it, i) => [it.source, i]));
  const lines = new Map<string, ManifestLine>();
  for (const l of readManifest(o.out)) {
    lines.set(l.source, l);
  }
  const damaged = await damagedItems(o.out, [...lines.values()]);
  for (const p of damaged.problems) {
    say(`damaged shard: ${p}`);
  }
  const todo = mine.filter((it) => {
    const l = lines.get(it.source);
    return !l || (l.status === 'error' && o.retryErrors) || damaged.sources.has(it.source);
  });
  const sortedLines = (): ManifestLine[] =>
    [...lines.values()].sort((a, b) => (order.get(a.source) ?? Infinity) - (order.get(b.source) ?? Infinity));
  const summary: ExtractSummary = {
    inputs: all.length,
    assigned: mine.length,
    skipped: mine.length - todo.length,
    ok: 0,
    errors: 0,
    errorsInManifest: 0,
    interrupted: false,
    seconds: 0,
    clipsPerSecond: 0,
    framesPerSecond: 0,
    phases: { decode: 0, gpu: 0, write: 0, encoder: 0, denoiser: 0 },
    out: o.out,
  };
  say(
    `${all.length} inputs, ${mine.length} in shard ${o.shard.index}/${o.shard.count}, ${summary.skipped} already in the manifest, ${todo.length} to do`,
  );
  // Items being redone lose their old lines until they are written again.
  for (const it of todo) {
    lines.delete(it.source);
  }
  if (todo.length === 0) {
    await writeManifest(o.out, sortedLines());
    summary.errorsInManifest = sortedLines().filter((l) => l.status === 'error' && order.has(l.source)).length;
    summary.seconds = (performance.now() - t0) / 1000;
    return summary;
  }

  const ctx = await GpuContext.create(o.adapter ? { adapter: o.adapter } : {});
  let weights: ModelWeights | null = null;
  let interrupts = 0;
  const onSigint = (): void => {
    interrupts++;
    o.log(
      interrupts === 1
        ? 'interrupt: finishing the current batch and shard (Ctrl-C again to discard the current shard)'
        : 'interrupt: discarding the current shard',
    );
  };
  process.on('SIGINT', onSigint);
  const writer = new ShardWriter(o.out, o.shardBytes);
  const pendingLines: ManifestOk[] = [];
  let frames = 0;
  try {
    if (o.compute === 'f16' && !ctx.caps.f16) {
      throw new Error(`--compute f16: ${ctx.adapter.name} has no shader-f16`);
    }
    await loadOrTune(ctx, { log: (s) => log(`tune: ${s}`) });
    if (o.weights) {
      weights = await loadWeights(ctx, o.weights, o.config, { needEncoder: true, dtype: o.compute });
    } else {
      o.log(
        `\n  *** NOTICE: no --weights given: extracting with SEEDED RANDOM weights (seed ${o.weightsSeed}) for '${o.config.name}'. ***\n` +
          `  *** These features are for testing the pipeline only.                                              ***\n`,
      );
      weights = uploadWeights(ctx, o.config, randomWeightValues(o.config, o.weightsSeed), {
        needEncoder: true,
        dtype: o.compute,
        source: `random:${o.weightsSeed}`,
      });
    }
    const W = weights;
    const batchSize = o.batch ?? autoBatch(ctx, o.config, o.compute);
    say(`device ${ctx.adapter.name}; batch ${batchSize}; shards of ~${Math.round(o.shardBytes / 2 ** 20)} MiB`);
    const cfg = o.config;
    const imageModel = cfg.denoiser.imageModel;
    const pool = new DecodePool({
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
    const bar = progress('extract', todo.length, 'clips');
    let done = 0;
    const meta = { config: cfg.name, generator: 'walt extract' };

    const flush = async (): Promise<void> => {
      const w0 = performance.now();
      const name = await writer.flush(meta);
      if (name) {
        for (const l of pendingLines.splice(0)) {
          lines.set(l.source, l);
        }
      }
      await writeManifest(o.out, sortedLines());
      summary.phases.write! += (performance.now() - w0) / 1000;
    };

    const emit = async (item: InputItem, clip: Clip, feats: Map<string, FeatureTensor>): Promise<void> => {
      const key = itemKey(item.source);
      const { shard, tensors } = writer.add({ key, tensors: feats });
      pendingLines.push({
        source: item.source,
        status: 'ok',
        key,
        shard,
        tensors,
        kind: item.kind,
        frames_used: clip.framesUsed,
        ...(clip.warnings.length ? { warnings: clip.warnings } : {}),
        ...(item.label !== undefined ? { label: item.label } : {}),
      });
      summary.ok++;
      frames += clip.shape[0];
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
    if (o.profile) {
      ctx.setProfiling(true);
    }
    const gpuDtype: FloatDType = o.resample ? 'f32' : o.dtype;

    const opts = {
      ts: o.ts,
      blocks: o.blocks,
      noiseSeed: o.noiseSeed,
      ...(o.classIndex !== undefined ? { classIndex: o.classIndex } : {}),
    };
    /**
     * Submits a batch's GPU work now and returns the function that waits for its features and
     * writes them: the caller submits the next batch before finishing this one (double-buffering:
     * readback, conversion and shard writes overlap the next batch's compute).
     */
    const startBatch = (batch: { item: InputItem; clip: Clip }[]): (() => Promise<void>) => {
      const g0 = performance.now();
      const timed = async (work: () => Promise<void>): Promise<void> => {
        const writeBefore = summary.phases.write!;
        await work();
        // Shard writes inside are counted under 'write'.
        summary.phases.gpu! += (performance.now() - g0) / 1000 - (summary.phases.write! - writeBefore);
        done += batch.length;
        bar.update(done + summary.errors);
      };
      if (imageModel && o.frames === 'independent') {
        // Each frame is its own 1-frame image (as the image model was trained).
        return () =>
          timed(async () => {
            for (const { item, clip } of batch) {
              const [T, H, Wd] = clip.shape;
              const per = H * Wd * 3;
              const inputs: ClipInput[] = Array.from({ length: T }, (_, f) => ({
                source: `${item.source}#frame${f}`,
                pixels: clip.data.subarray(f * per, (f + 1) * per),
                shape: [1, H, Wd, 3] as const,
              }));
              const feats: Map<string, FeatureTensor>[] = [];
              for (let i = 0; i < inputs.length; i += batchSize) {
                feats.push(
                  ...(await clipFeatures(ctx, W, inputs.slice(i, i + batchSize), {
                    ...opts,
                    pool: 'none',
                    outDtype: 'f32',
                  })),
                );
              }
              const merged = new Map<string, FeatureTensor>();
              for (const name of feats[0]!.keys()) {
                const parts = feats.map((m) => m.get(name)!);
                const [, h, w, D] = parts[0]!.shape as [number, number, number, number];
                let data: Float32Array = new Float32Array(T * h * w * D);
                parts.forEach((p, f) => data.set(p.data, f * h * w * D));
                let shape = [T, h, w, D];
                if (o.resample && T > 1) {
                  data = resampleTime(data, T, o.resample);
                  shape = [o.resample, h, w, D];
                }
                const pooled = poolCpu(data, shape, o.pool);
                merged.set(name, stored(pooled.data, pooled.shape, o.dtype));
              }
              await emit(item, clip, merged);
            }
          });
      }
      const pending = clipFeatures(
        ctx,
        W,
        batch.map(({ item, clip }) => ({ source: item.source, pixels: clip.data, shape: clip.shape })),
        { ...opts, pool: gpuPool, outDtype: gpuDtype },
      );
      return () =>
        timed(async () => {
          const feats = await pending;
          for (const [i, { item, clip }] of batch.entries()) {
            await emit(item, clip, finish(feats[i]!));
          }
        });
    };

    let finishPrevious: (() => Promise<void>) | null = null;
    const runBatch = async (batch: { item: InputItem; clip: Clip }[]): Promise<void> => {
      const finishThis = startBatch(batch);
      if (finishPrevious) {
        await finishPrevious();
      }
      finishPrevious = finishThis;
    };

    let batch: { item: InputItem; clip: Clip }[] = [];
    let d0 = performance.now();
    for await (const r of pool.decode(todo)) {
      summary.phases.decode! += (performance.now() - d0) / 1000;
      if (r.error) {
        lines.set(r.item.source, {
          source: r.item.source,
          status: 'error',
          error: r.error.message,
          reason: r.error.reason,
          ...(r.item.label !== undefined ? { label: r.item.label } : {}),
        });
        summary.errors++;
        log(`error: ${r.error.message}`);
        bar.update(done + summary.errors);
      } else {
        if (batch.length > 0 && batch[0]!.clip.shape.join() !== r.ok.shape.join()) {
          await runBatch(batch);
          batch = [];
        }
        batch.push({ item: r.item, clip: r.ok });
        if (batch.length >= batchSize) {
          await runBatch(batch);
          batch = [];
        }
      }
      if (interrupts > 0) {
        break;
      }
      d0 = performance.now();
    }
    if (batch.length > 0 && interrupts === 0) {
      await runBatch(batch);
    }
    if (finishPrevious) {
      await (finishPrevious as () => Promise<void>)();
    }
    bar.stop();
    await pool.close();
    if (interrupts > 1) {
      const n = writer.discard();
      summary.ok -= pendingLines.length;
      pendingLines.length = 0;
      say(`discarded the unfinished shard (${n} items will be recomputed by the next run)`);
      await writeManifest(o.out, sortedLines());
    } else {
      await flush();
    }
    summary.interrupted = interrupts > 0;
    if (o.profile) {
      // GPU time of every dispatch, by the tag the model code sets ('encoder', 'blocks.i/…', …).
      const recs = await ctx.takeProfile();
      summary.phases.encoder = recs.filter((r) => r.tag === 'encoder').reduce((a, r) => a + r.ms, 0) / 1000;
      summary.phases.denoiser = recs.filter((r) => r.tag !== 'encoder').reduce((a, r) => a + r.ms, 0) / 1000;
    }
  } finally {
    process.off('SIGINT', onSigint);
    weights?.dispose();
    await ctx.close();
  }
  summary.errorsInManifest = sortedLines().filter((l) => l.status === 'error' && order.has(l.source)).length;
  summary.seconds = (performance.now() - t0) / 1000;
  summary.clipsPerSecond = summary.ok / Math.max(summary.seconds, 1e-9);
  summary.framesPerSecond = frames / Math.max(summary.seconds, 1e-9);
  log(
    `done: ${summary.ok} ok, ${summary.errors} errors, ${summary.seconds.toFixed(1)} s (${formatDuration(summary.seconds)}), ` +
      `${summary.clipsPerSecond.toFixed(3)} clips/s, ${summary.framesPerSecond.toFixed(2)} frames/s, phases ${JSON.stringify(summary.phases)}`,
  );
  return summary;
}

export { featureName };
