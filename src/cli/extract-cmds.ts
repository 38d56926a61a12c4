// walt extract, walt merge, walt pca, walt sample.
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Pool } from '../extract/features.js';
import { MergeError, mergeFolders } from '../extract/merge.js';
import { writePcaPng } from '../extract/pca.js';
import { FeatureSet } from '../extract/reader.js';
import { runExtract, type ExtractSummary, type ShardSpec } from '../extract/run.js';
import { OptionsError, readSpec, showValue, SPEC_FILE } from '../extract/spec.js';
import { makeFormatSample, makeSample } from '../io/sample.js';
import { loadConfig } from '../model/config.js';
import { parseFloatDType } from '../tensor/dtype.js';
import { flag, int, intList, optStr, parse, str, UsageError } from './args.js';

export const EXTRACT_HELP = `walt extract INPUT... --out DIR [options]
walt extract --from-latents DIR --out DIR2 [--t …] [--blocks …] [options]

Features of the W.A.L.T denoiser over videos (every container ffmpeg reads: mp4, m4v, mov, mkv,
webm, avi, mpg, ts, m2ts, 3gp, flv, wmv, ogv, gif, …), images (png, jpg, webp, bmp, tif, …),
.npy clips ([T,H,W,3] in [0,1]), folders (recursive; extensions matched case-insensitively) and
list files (.txt/.lst/.csv: one path per line, optional label column). Each input: sample
frames, resize the shorter side and centre-crop to the config's resolution, encode, noise to each
--t, one denoiser pass, keep the --blocks. Resumable (a rerun skips what DIR/manifest.jsonl
already has) and shardable. Nothing is written until the first result: a run that fails its
checks leaves no folder behind.

  --config NAME|PATH   model config (default: L with --weights; test-tiny without)
  --weights W          safetensors weights (default: seeded random weights, with a notice)
  --t 200[,100,…]      noise levels (one encoder pass, one denoiser pass each; default 200)
  --blocks 16[,12,…]   1-based blocks to keep (default min(16, layers)); work stops after the deepest
  --pool none|space|time|spacetime   mean-pool on the GPU before readback (default none)
  --dtype f32|f16      storage dtype of the features (default f32)
  --compute f32|f16    model compute dtype (default f32; f16 needs shader-f16)
  --resample N         linear temporal resampling of the features to N frames (spec §6; e.g. 17)
  --noise-seed N       ε per item from (N, the item's source path): the same in any run or shard (default 0)
  --stride S           frame step (default 1)         --start first|center|random (default first)
  --seed N             seed for --start random (default 0)
  --image-mode replicate|single   video model: an image repeated to the clip length (default) or 1 frame
  --frames independent|joint      image model: every frame its own image (default) or the clip jointly
  --class K            class row (default: the null class)
  --batch B            clips per denoiser batch (default: from the device's limits)
  --keep-latents       also store each item's normalised latent z0 and its noise eps (for --from-latents)
  --from-latents DIR   run only the noising and the denoiser on the latents a --keep-latents run stored
                       in DIR (no decoding, no encoder; the frame and noise options are DIR's): a
                       sweep over --t and --blocks; features identical to a full run
  --shard i/N          0-based shard of the inputs (default: JOB_COMPLETION_INDEX with --shards N or
                       WALT_SHARDS, or SLURM_ARRAY_TASK_ID/SLURM_ARRAY_TASK_COUNT, else 0/1)
  --shards N           shard count for JOB_COMPLETION_INDEX
  --shard-size-mb 1024 feature shard size (0: one item per shard)   --retry-errors  redo failed inputs
  --grace-seconds 25   after SIGTERM/SIGINT: time to finish the current batch and shard, then exit
  --gpu-times on|off   GPU-busy time from timestamps in the summary (default on where available)
  --workers N          parallel decoders (ffmpeg processes; default min(4, cores))
  --adapter NAME       WebGPU adapter

Output: DIR/features-NNNNN.safetensors (tensors '<key>/t<t>/block.<l>'), DIR/manifest.jsonl
(one line per input, in input order: source, status ok|error, kind, error, reason, key, shard,
tensors, latents, frame_indices, pts, warnings, label), DIR/extract.json (the options),
DIR/extract.log (times, skipped files). Exit status 0; 1 when an input failed (each failure is
in the manifest with its reason); 2 for bad options; 130 after SIGINT and 143 after SIGTERM
(the first signal finishes the current batch and shard; a second stops at once; a rerun
continues where it stopped).
`;

export const MERGE_HELP = `walt merge DIR... --out DIR

Joins the folders of shard runs into one self-contained folder: the shards are hard-linked (or
copied across file systems) into DIR as features-NNNNN.safetensors, and DIR/manifest.jsonl lists
the folders' lines in the order the folders are given, each folder's in its input order. Refuses
folders made with different options (extract.json: t, blocks, config, weights digest, pool,
dtype, …), missing or empty folders, and an input that appears in two folders.
`;

export const PCA_HELP = `walt pca DIR --out pca.png [--item SOURCE] [--feature t200/block.16] [--scale 16]

A picture of one clip's features: the first three principal components of its (T·h·w, D)
tokens as RGB, one tile per frame (needs unpooled features).
`;

export const SAMPLE_HELP = `walt sample DIR [--with-bad | --formats]

Makes a small sample collection with ffmpeg (H.264 mp4, VP9 webm, MJPEG mov/avi, VP8 mkv,
a short video, a PNG and a JPEG); --with-bad adds a truncated mp4/webm, a text file named .mp4,
a zero-frame avi and an audio-only mp4. --formats makes instead short clips in many codecs and
containers with real footage's quirks (.MP4 .m4v .mpg .ts .gif .webp .jpeg, HEVC, VP9, WMV, FLV,
Theora, ProRes, H.263 3gp, M2TS, BMP, TIFF, a cinepak AVI listing 444 frames of which 68 decode,
an MP4 with an edit list).
`;

/** --shard, else the job-array environment. */
export function resolveShard(arg: string | undefined, shards: number | undefined, env = process.env): ShardSpec {
  const check = (index: number, count: number, from: string): ShardSpec => {
    if (!Number.isInteger(index) || !Number.isInteger(count) || count < 1 || index < 0 || index >= count) {
      throw new UsageError(`${from}: shard ${index}/${count} is not 0 ≤ i < N`);
    }
    return { index, count };
  };
  if (arg !== undefined) {
    const m = /^(\d+)\/(\d+)$/.exec(arg);
    if (!m) {
      throw new UsageError(`--shard must look like i/N (0-based), got '${arg}'`);
    }
    return check(Number(m[1]), Number(m[2]), '--shard');
  }
  if (env.JOB_COMPLETION_INDEX !== undefined) {
    const n = shards ?? (env.WALT_SHARDS !== undefined ? Number(env.WALT_SHARDS) : undefined);
    if (n === undefined) {
      throw new UsageError('JOB_COMPLETION_INDEX is set: give the shard count with --shards N or WALT_SHARDS');
    }
    return check(Number(env.JOB_COMPLETION_INDEX), n, 'JOB_COMPLETION_INDEX');
  }
  if (env.SLURM_ARRAY_TASK_ID !== undefined && env.SLURM_ARRAY_TASK_COUNT !== undefined) {
    const min = Number(env.SLURM_ARRAY_TASK_MIN ?? 0);
    return check(Number(env.SLURM_ARRAY_TASK_ID) - min, Number(env.SLURM_ARRAY_TASK_COUNT), 'SLURM_ARRAY_TASK_ID');
  }
  return { index: 0, count: 1 };
}

function workerUrl(): URL | undefined {
  const u = new URL('./decode-worker.js', import.meta.url);
  return u.protocol === 'file:' && existsSync(fileURLToPath(u)) ? u : undefined;
}

/** Frame and noise options a --from-latents run takes from the latents' folder: flag → spec key. */
const FROM_LATENTS_FLAGS: Record<string, string> = {
  stride: 'stride',
  start: 'start',
  seed: 'start_seed',
  'noise-seed': 'noise_seed',
  'image-mode': 'image_mode',
  frames: 'frames',
  compute: 'compute',
};

/** 1-based blocks: "2,4" → [2, 4] (sorted, unique), each in 1…layers. */
export function parseBlocks(s: string, layers: number): number[] {
  const out = new Set<number>();
  for (const part of s
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean)) {
    const n = Number(part);
    if (!Number.isInteger(n) || n < 1 || n > layers) {
      throw new UsageError(`--blocks: '${part}' is not a block in 1…${layers} (1-based)`);
    }
    out.add(n);
  }
  if (out.size === 0) {
    throw new UsageError('--blocks needs at least one block (1-based), e.g. --blocks 16');
  }
  return [...out].sort((a, b) => a - b);
}

function oneOf<T extends string>(name: string, v: string, allowed: readonly T[]): T {
  if (!(allowed as readonly string[]).includes(v)) {
    throw new UsageError(`--${name} must be ${allowed.join(', ')}; got '${v}'`);
  }
  return v as T;
}

/** A list of up to `n` items, then "… and N more". */
export function firstOf(xs: readonly string[], n: number, sep = ', '): string {
  return xs.slice(0, n).join(sep) + (xs.length > n ? `${sep}… and ${xs.length - n} more` : '');
}

export async function extractCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parse(
    'extract',
    argv,
    {
      out: { type: 'string' },
      config: { type: 'string' },
      weights: { type: 'string' },
      'weights-seed': { type: 'string' },
      t: { type: 'string' },
      blocks: { type: 'string' },
      pool: { type: 'string' },
      dtype: { type: 'string' },
      compute: { type: 'string' },
      resample: { type: 'string' },
      'noise-seed': { type: 'string' },
      stride: { type: 'string' },
      start: { type: 'string' },
      seed: { type: 'string' },
      'image-mode': { type: 'string' },
      frames: { type: 'string' },
      'image-model': { type: 'boolean' },
      class: { type: 'string' },
      batch: { type: 'string' },
      shard: { type: 'string' },
      shards: { type: 'string' },
      'shard-size-mb': { type: 'string' },
      'retry-errors': { type: 'boolean' },
      'keep-latents': { type: 'boolean' },
      'from-latents': { type: 'string' },
      'grace-seconds': { type: 'string' },
      'gpu-times': { type: 'string' },
      workers: { type: 'string' },
      adapter: { type: 'string' },
    },
    true,
  );
  if (flag(values, 'help')) {
    process.stdout.write(EXTRACT_HELP);
    return 0;
  }
  const fromLatents = optStr(values, 'from-latents');
  // --from-latents: the frame and noise options (and by default the config) come from that folder.
  let source: Record<string, unknown> = {};
  if (fromLatents !== undefined) {
    if (positionals.length > 0) {
      throw new UsageError(`--from-latents ${fromLatents} takes its items from that folder: give no inputs with it`);
    }
    if (!existsSync(fromLatents)) {
      throw new UsageError(`--from-latents ${fromLatents}: no such folder`);
    }
    const spec = readSpec(fromLatents);
    if (spec === null) {
      throw new UsageError(`--from-latents ${fromLatents}: no ${SPEC_FILE} there (not a walt extract folder)`);
    }
    source = spec;
    for (const [flagName, key] of Object.entries(FROM_LATENTS_FLAGS)) {
      const given = values[flagName];
      if (typeof given === 'string' && given !== String(spec[key])) {
        throw new UsageError(
          `--${flagName} ${given}: the latents in ${fromLatents} were made with ${showValue(spec[key])} (it comes from there; leave it out)`,
        );
      }
    }
  } else if (positionals.length === 0) {
    throw new UsageError('give at least one input (files, folders or list files), or --from-latents DIR');
  }
  const missing = positionals.filter((p) => !existsSync(p));
  if (missing.length > 0) {
    throw new UsageError(`${missing.map((p) => `'${p}'`).join(', ')}: no such file or folder`);
  }
  const weights = optStr(values, 'weights');
  if (weights && !existsSync(weights)) {
    throw new UsageError(`--weights ${weights}: no such file`);
  }
  const fromSource = (flagName: string): string | undefined =>
    fromLatents !== undefined &&
    source[FROM_LATENTS_FLAGS[flagName]!] !== undefined &&
    source[FROM_LATENTS_FLAGS[flagName]!] !== null
      ? String(source[FROM_LATENTS_FLAGS[flagName]!])
      : undefined;
  let configName = optStr(values, 'config');
  let imageModel = flag(values, 'image-model');
  if (configName === undefined && fromLatents !== undefined && typeof source.config === 'string') {
    imageModel ||= source.config.endsWith('+image');
    configName = source.config.replace(/\+image$/, '');
  }
  let config;
  try {
    config = loadConfig(configName ?? (weights ? 'L' : 'test-tiny'), { imageModel });
  } catch (e) {
    throw new UsageError(e instanceof Error ? e.message : String(e));
  }
  if (
    fromLatents !== undefined &&
    (config.name !== source.config || JSON.stringify(config.pixels) !== JSON.stringify(source.pixels))
  ) {
    throw new UsageError(
      `--config ${config.name}: the latents in ${fromLatents} were made with ${showValue(source.config)} (pixels ${showValue(source.pixels)})`,
    );
  }
  const ts = intList(str(values, 't', '200'), 't');
  for (const t of ts) {
    if (t < 0 || t > 999) {
      throw new UsageError(`--t ${t}: steps are 0…999`);
    }
  }
  if (ts.length === 0) {
    throw new UsageError('--t needs at least one step, e.g. --t 200');
  }
  const blocks = parseBlocks(
    str(values, 'blocks', String(Math.min(16, config.denoiser.layers))),
    config.denoiser.layers,
  );
  const pool = oneOf<Pool>('pool', str(values, 'pool', 'none'), ['none', 'space', 'time', 'spacetime']);
  const start = oneOf('start', fromSource('start') ?? str(values, 'start', 'first'), ['first', 'center', 'random']);
  const imageMode = oneOf('image-mode', fromSource('image-mode') ?? str(values, 'image-mode', 'replicate'), [
    'replicate',
    'single',
  ]);
  const frames = oneOf('frames', fromSource('frames') ?? str(values, 'frames', 'independent'), [
    'independent',
    'joint',
  ]);
  const gpuTimes = oneOf('gpu-times', str(values, 'gpu-times', 'on'), ['on', 'off']);
  const out = str(values, 'out');
  const shard = resolveShard(
    optStr(values, 'shard'),
    values.shards !== undefined ? int(values, 'shards', 1, 1) : undefined,
  );
  const resample = values.resample !== undefined ? int(values, 'resample', 17, 1) : undefined;
  const batch = values.batch !== undefined ? int(values, 'batch', 1, 1) : undefined;
  const concurrency = values.workers !== undefined ? int(values, 'workers', 1, 1) : undefined;
  const classIndex = values.class !== undefined ? int(values, 'class', 0, 0) : undefined;
  const adapter = optStr(values, 'adapter');
  const num = (flagName: string, fallback: number, min: number): number => {
    const v = fromSource(flagName);
    return v !== undefined ? Number(v) : int(values, flagName, fallback, min);
  };
  const wu = workerUrl();
  let s: ExtractSummary;
  try {
    s = await runExtract({
      inputs: positionals,
      out,
      config,
      ...(weights ? { weights } : {}),
      weightsSeed: int(values, 'weights-seed', 0),
      ts,
      blocks,
      shard,
      noiseSeed: num('noise-seed', 0, -Infinity),
      pool,
      dtype: parseFloatDType(str(values, 'dtype', 'f32')),
      compute: parseFloatDType(fromSource('compute') ?? str(values, 'compute', 'f32'), '--compute'),
      ...(resample ? { resample } : {}),
      stride: num('stride', 1, 1),
      start,
      startSeed: num('seed', 0, -Infinity),
      imageMode,
      frames,
      ...(classIndex !== undefined ? { classIndex } : {}),
      ...(batch ? { batch } : {}),
      retryErrors: flag(values, 'retry-errors'),
      shardBytes: int(values, 'shard-size-mb', 1024, 0) * 2 ** 20,
      keepLatents: flag(values, 'keep-latents'),
      ...(fromLatents !== undefined ? { fromLatents } : {}),
      graceSeconds: int(values, 'grace-seconds', 25, 0),
      gpuTimes: gpuTimes === 'on',
      ...(concurrency ? { concurrency } : {}),
      ...(wu ? { workerUrl: wu } : {}),
      ...(adapter ? { adapter } : {}),
      log: (m) => process.stderr.write(`walt extract: ${m}\n`),
    });
  } catch (e) {
    if (e instanceof OptionsError) {
      throw new UsageError(e.message);
    }
    throw e;
  }
  process.stderr.write(`${summaryLines(s).join('\n')}\n`);
  if (s.signal) {
    return s.signal === 'SIGTERM' ? 143 : 130;
  }
  return s.errorsInManifest > 0 ? 1 : 0;
}

/** The end-of-run summary on the terminal. */
export function summaryLines(s: ExtractSummary): string[] {
  const p = 'walt extract:';
  const lines = [
    `${p} ${s.ok} extracted, ${s.skipped} already done, ${s.errors} failed now` +
      (s.errorsInManifest > 0 ? ` (${s.errorsInManifest} failed inputs in the manifest)` : '') +
      `; ${s.seconds.toFixed(1)} s` +
      (s.ok > 0 ? `, ${s.clipsPerSecond.toFixed(3)} clips/s, ${s.framesPerSecond.toFixed(2)} frames/s` : ''),
  ];
  if (s.failed.length > 0) {
    lines.push(`${p} failed:`);
    for (const f of s.failed.slice(0, 10)) {
      lines.push(`  ${f.error}`);
    }
    if (s.failed.length > 10) {
      lines.push(`  … and ${s.failed.length - 10} more`);
    }
  }
  if (s.unknownFiles.length > 0) {
    const names = s.unknownFiles.map((f) => f.split('/').pop()!);
    lines.push(
      `${p} skipped ${s.unknownFiles.length} file${s.unknownFiles.length === 1 ? '' : 's'} with unknown extensions: ${firstOf(names, 5)} (listed in extract.log)`,
    );
  }
  const w = s.time.wall;
  if (s.ok > 0 || s.errors > 0) {
    const parts = Object.entries(w)
      .filter(([, v]) => v >= 0.05)
      .map(([k, v]) => `${k} ${v.toFixed(1)} s`);
    const g = s.time.gpu;
    lines.push(
      `${p} time (wall ${s.seconds.toFixed(1)} s): ${parts.join(', ')}` +
        (g
          ? `; GPU busy ${(g.encoder + g.denoiser).toFixed(1)} s (encoder ${g.encoder.toFixed(1)} s, denoiser ${g.denoiser.toFixed(1)} s)`
          : ''),
    );
  }
  lines.push(`${p} features in ${resolve(s.out)} (manifest.jsonl, features-*.safetensors)`);
  if (s.errorsInManifest > 0) {
    lines.push(
      `${p} failed inputs are listed with their reasons in ${join(resolve(s.out), 'manifest.jsonl')} (status "error")`,
    );
  }
  if (s.signal) {
    lines.push(
      `${p} interrupted by ${s.signal}${s.stoppedAtOnce ? ' (stopped at once)' : ''}: the items written stay done; run the same command again to continue`,
    );
  }
  return lines;
}

export async function mergeCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parse('merge', argv, { out: { type: 'string' } }, true);
  if (flag(values, 'help')) {
    process.stdout.write(MERGE_HELP);
    return 0;
  }
  if (positionals.length === 0) {
    throw new UsageError('give the shard folders to merge');
  }
  const out = str(values, 'out');
  let r;
  try {
    r = await mergeFolders(positionals, out);
  } catch (e) {
    if (e instanceof MergeError) {
      process.stderr.write(`walt merge: ${e.message}\n`);
      return 1;
    }
    throw e;
  }
  process.stderr.write(
    `walt merge: ${r.items} inputs (${r.ok} ok, ${r.errors} failed) from ${positionals.length} folders, ${r.shards} shards ${r.linked ? 'linked' : 'copied'} → ${join(out, 'manifest.jsonl')}\n`,
  );
  return 0;
}

export async function pcaCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parse(
    'pca',
    argv,
    { out: { type: 'string' }, item: { type: 'string' }, feature: { type: 'string' }, scale: { type: 'string' } },
    true,
  );
  if (flag(values, 'help')) {
    process.stdout.write(PCA_HELP);
    return 0;
  }
  const dir = positionals[0];
  if (!dir) {
    throw new UsageError('give the features folder');
  }
  const fs = FeatureSet.open(dir);
  try {
    const item = optStr(values, 'item') ? fs.item(str(values, 'item')) : fs.ok[0];
    if (!item) {
      throw new UsageError(`${dir}: no extracted item to draw`);
    }
    const asked = optStr(values, 'feature');
    const names = Object.keys(item.tensors);
    if (asked !== undefined && !item.tensors[asked]) {
      throw new UsageError(`--feature ${asked}: ${item.source} has no such feature; it has ${names.join(', ')}`);
    }
    const name = asked ?? names.find((n) => item.tensors[n]!.shape.length === 4);
    if (!name || item.tensors[name]?.shape.length !== 4) {
      throw new UsageError(
        `${item.source}: needs an unpooled (T, h, w, D) feature (extract with --pool none); it has ${names.map((n) => `${n} [${item.tensors[n]!.shape.join(',')}]`).join(', ')}`,
      );
    }
    const f = await fs.read(item.source, name);
    const out = str(values, 'out');
    await writePcaPng(out, f.data, f.shape, int(values, 'scale', 16, 1));
    process.stderr.write(`walt pca: ${item.source} ${name} [${f.shape.join(',')}] → ${out}\n`);
  } finally {
    await fs.close();
  }
  return 0;
}

export async function sampleCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parse(
    'sample',
    argv,
    { 'with-bad': { type: 'boolean' }, formats: { type: 'boolean' } },
    true,
  );
  if (flag(values, 'help') || positionals.length === 0) {
    process.stdout.write(SAMPLE_HELP);
    return positionals.length === 0 && !flag(values, 'help') ? 2 : 0;
  }
  if (flag(values, 'formats')) {
    const f = await makeFormatSample(positionals[0]!);
    process.stderr.write(
      `walt sample: ${f.files.length} files in ${f.dir}${f.skipped.length ? `; skipped: ${f.skipped.join('; ')}` : ''}\n`,
    );
    return 0;
  }
  const m = await makeSample(positionals[0]!, { withBad: flag(values, 'with-bad') });
  process.stderr.write(
    `walt sample: ${m.files.length} files in ${m.dir} (ffmpeg ${m.ffmpeg.source}: ${m.ffmpeg.path})${m.skipped.length ? `; skipped: ${m.skipped.join('; ')}` : ''}\n`,
  );
  return 0;
}
