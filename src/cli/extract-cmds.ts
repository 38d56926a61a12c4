// walt extract, walt merge, walt pca, walt sample.
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FeatureSet } from '../extract/reader.js';
import { mergeManifests } from '../extract/merge.js';
import { writePcaPng } from '../extract/pca.js';
import { runExtract, type ShardSpec } from '../extract/run.js';
import type { Pool } from '../extract/features.js';
import { makeSample } from '../io/sample.js';
import { loadConfig } from '../model/config.js';
import { parseFloatDType } from '../tensor/dtype.js';
import { flag, int, intList, optStr, parse, str, UsageError } from './args.js';
import { parseTaps } from './model-cmds.js';

export const EXTRACT_HELP = `walt extract INPUT... --out DIR [options]

Features of the W.A.L.T denoiser over videos (mp4, webm, mov, avi, mkv), images (png, jpg),
.npy clips ([T,H,W,3] in [0,1]), folders (recursive) and list files (.txt/.lst/.csv: one path
per line, optional label column). Each input: sample frames, resize the shorter side and
centre-crop to the config's resolution, encode, noise to each --t, one denoiser pass, keep the
--blocks. Resumable (a rerun skips what DIR/manifest.jsonl already has) and shardable.

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
  --shard i/N          0-based shard of the inputs (default: JOB_COMPLETION_INDEX with --shards N or
                       WALT_SHARDS, or SLURM_ARRAY_TASK_ID/SLURM_ARRAY_TASK_COUNT, else 0/1)
  --shards N           shard count for JOB_COMPLETION_INDEX
  --shard-size-mb 1024 feature shard size (0: one item per shard)   --retry-errors  redo failed inputs
  --workers N          parallel decoders (ffmpeg processes; default min(4, cores))
  --adapter NAME       WebGPU adapter

Output: DIR/features-NNNNN.safetensors (tensors '<key>/t<t>/block.<l>'), DIR/manifest.jsonl
(one line per input: source, status ok|error, error, key, shard, tensors, frames_used,
warnings), DIR/extract.json (the options), DIR/extract.log (times). Exit status 1 when an input
failed (each failure is in the manifest with its reason), 130 when interrupted.
`;

export const MERGE_HELP = `walt merge DIR... --out DIR

Joins the manifests of shard runs into DIR/manifest.jsonl (shard paths made relative to DIR;
no data copied). Fails if an input appears in two shards.
`;

export const PCA_HELP = `walt pca DIR --out pca.png [--item SOURCE] [--feature t200/block.16] [--scale 16]

A picture of one clip's features: the first three principal components of its (T·h·w, D)
tokens as RGB, one tile per frame (needs unpooled features).
`;

export const SAMPLE_HELP = `walt sample DIR [--with-bad]

Makes a small sample collection with ffmpeg (H.264 mp4, VP9 webm, MJPEG mov/avi, VP8 mkv,
a short video, a PNG and a JPEG); --with-bad adds a truncated mp4/webm, a text file named .mp4,
a zero-frame avi and an audio-only mp4.
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
      workers: { type: 'string' },
      adapter: { type: 'string' },
    },
    true,
  );
  if (flag(values, 'help')) {
    process.stdout.write(EXTRACT_HELP);
    return 0;
  }
  if (positionals.length === 0) {
    throw new UsageError('give at least one input (files, folders or list files)');
  }
  const weights = optStr(values, 'weights');
  if (weights && !existsSync(weights)) {
    throw new UsageError(`--weights ${weights}: no such file`);
  }
  const config = loadConfig(str(values, 'config', weights ? 'L' : 'test-tiny'), {
    imageModel: flag(values, 'image-model'),
  });
  const ts = intList(str(values, 't', '200'), 't');
  for (const t of ts) {
    if (t < 0 || t > 999) {
      throw new UsageError(`--t ${t}: steps are 0…999`);
    }
  }
  const { taps } = parseTaps(
    str(values, 'blocks', String(Math.min(16, config.denoiser.layers))),
    config.denoiser.layers,
  );
  const pool = str(values, 'pool', 'none') as Pool;
  if (!['none', 'space', 'time', 'spacetime'].includes(pool)) {
    throw new UsageError(`--pool must be none, space, time or spacetime, got '${pool}'`);
  }
  const start = str(values, 'start', 'first');
  if (!['first', 'center', 'random'].includes(start)) {
    throw new UsageError(`--start must be first, center or random, got '${start}'`);
  }
  const imageMode = str(values, 'image-mode', 'replicate');
  const frames = str(values, 'frames', 'independent');
  if (!['replicate', 'single'].includes(imageMode) || !['independent', 'joint'].includes(frames)) {
    throw new UsageError('--image-mode is replicate|single and --frames is independent|joint');
  }
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
  const wu = workerUrl();
  const s = await runExtract({
    inputs: positionals,
    out,
    config,
    ...(weights ? { weights } : {}),
    weightsSeed: int(values, 'weights-seed', 0),
    ts,
    blocks: taps,
    shard,
    noiseSeed: int(values, 'noise-seed', 0),
    pool,
    dtype: parseFloatDType(str(values, 'dtype', 'f32')),
    compute: parseFloatDType(str(values, 'compute', 'f32'), '--compute'),
    ...(resample ? { resample } : {}),
    stride: int(values, 'stride', 1, 1),
    start: start as 'first' | 'center' | 'random',
    startSeed: int(values, 'seed', 0),
    imageMode: imageMode as 'replicate' | 'single',
    frames: frames as 'independent' | 'joint',
    ...(classIndex !== undefined ? { classIndex } : {}),
    ...(batch ? { batch } : {}),
    retryErrors: flag(values, 'retry-errors'),
    shardBytes: int(values, 'shard-size-mb', 1024, 0) * 2 ** 20,
    ...(concurrency ? { concurrency } : {}),
    ...(wu ? { workerUrl: wu } : {}),
    ...(adapter ? { adapter } : {}),
    log: (m) => process.stderr.write(`walt extract: ${m}\n`),
  });
  const lines = [
    `walt extract: ${s.ok} extracted, ${s.skipped} already done, ${s.errors} failed now` +
      (s.errorsInManifest > 0 ? ` (${s.errorsInManifest} failed inputs in the manifest)` : '') +
      `; ${s.seconds.toFixed(1)} s` +
      (s.ok > 0 ? `, ${s.clipsPerSecond.toFixed(3)} clips/s, ${s.framesPerSecond.toFixed(2)} frames/s` : ''),
    `walt extract: features in ${resolve(s.out)} (manifest.jsonl, features-*.safetensors)`,
  ];
  if (s.ok > 0) {
    lines.push(
      `walt extract: time split: decode wait ${s.phases.decode!.toFixed(1)} s, encoder+denoiser ${s.phases.gpu!.toFixed(1)} s, write ${s.phases.write!.toFixed(1)} s`,
    );
  }
  if (s.errorsInManifest > 0) {
    lines.push(
      `walt extract: failed inputs are listed with their reasons in ${join(resolve(s.out), 'manifest.jsonl')} (status "error")`,
    );
  }
  process.stderr.write(`${lines.join('\n')}\n`);
  return s.interrupted ? 130 : s.errorsInManifest > 0 ? 1 : 0;
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
  const r = await mergeManifests(positionals, str(values, 'out'));
  process.stderr.write(
    `walt merge: ${r.items} inputs (${r.ok} ok, ${r.errors} failed) → ${join(str(values, 'out'), 'manifest.jsonl')}\n`,
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
    const name =
      optStr(values, 'feature') ?? Object.keys(item.tensors).find((n) => item.tensors[n]!.shape.length === 4);
    if (!name || item.tensors[name]?.shape.length !== 4) {
      throw new UsageError(`${item.source}: needs an unpooled (T, h, w, D) feature (extract with --pool none)`);
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
  const { values, positionals } = parse('sample', argv, { 'with-bad': { type: 'boolean' } }, true);
  if (flag(values, 'help') || positionals.length === 0) {
    process.stdout.write(SAMPLE_HELP);
    return positionals.length === 0 && !flag(values, 'help') ? 2 : 0;
  }
  const m = await makeSample(positionals[0]!, { withBad: flag(values, 'with-bad') });
  process.stderr.write(
    `walt sample: ${m.files.length} files in ${m.dir} (ffmpeg ${m.ffmpeg.source}: ${m.ffmpeg.path})${m.skipped.length ? `; skipped: ${m.skipped.join('; ')}` : ''}\n`,
  );
  return 0;
}
