// walt bench extract: clips/s of the whole extraction job on a generated sample collection,
// split into decode / encoder / denoiser / write, and the PyTorch reference's model time per
// clip on this machine as the peer.
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeSample } from '../src/io/sample.js';
import type { WaltConfig } from '../src/model/config.js';
import type { FloatDType } from '../src/tensor/dtype.js';
import { FeatureSet } from '../src/extract/reader.js';
import { runExtract, type ExtractSummary } from '../src/extract/run.js';
import { gitCommit, type Row } from './harness.js';
import { torchBench } from './torch.js';

export const EXTRACT_COLUMNS = [
  'impl',
  'config',
  'dtype',
  'clips',
  'clips_per_s',
  'frames_per_s',
  'decode_s',
  'encoder_s',
  'denoiser_s',
  'write_s',
  'total_s',
];

export async function benchExtract(o: {
  config: WaltConfig;
  compute: FloatDType;
  torch: boolean;
  adapter?: string;
  onRow: (r: Row) => void;
  log: (s: string) => void;
}): Promise<Row[]> {
  const root = mkdtempSync(join(tmpdir(), 'walt-bench-extract-'));
  const rows: Row[] = [];
  const date = new Date().toISOString();
  try {
    const sample = await makeSample(join(root, 'sample'));
    const videos = sample.files.filter((f) => f.kind === 'video').map((f) => f.path);
    const s = await runExtract({
      inputs: videos,
      out: join(root, 'out'),
      config: o.config,
      weightsSeed: 0,
      ts: [200],
      blocks: [Math.min(16, o.config.denoiser.layers)],
      shard: { index: 0, count: 1 },
      noiseSeed: 0,
      pool: 'none',
      dtype: o.compute,
      compute: o.compute,
      stride: 1,
      start: 'first',
      startSeed: 0,
      imageMode: 'replicate',
      frames: 'independent',
      retryErrors: false,
      shardBytes: 2 ** 30,
      profile: true,
      ...(o.adapter ? { adapter: o.adapter } : {}),
      log: o.log,
    });
    const row: Row = {
      impl: 'walt',
      config: o.config.name,
      dtype: o.compute,
      clips: s.ok,
      clips_per_s: s.clipsPerSecond,
      frames_per_s: s.framesPerSecond,
      decode_s: s.time.wall.decode!,
      encoder_s: s.time.gpu?.encoder ?? null,
      denoiser_s: s.time.gpu?.denoiser ?? null,
      note: 'encoder_s/denoiser_s: GPU-busy time from timestamps; decode_s, write_s: wall time waiting for decoded clips, writing',
      write_s: s.time.wall.write!,
      total_s: s.seconds,
      date,
      commit: gitCommit(),
    };
    rows.push(row);
    o.onRow(row);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
  if (o.torch) {
    const [T, H] = o.config.pixels;
    const r = torchBench({
      config: o.config.name,
      frames: T,
      size: H,
      dtype: o.compute === 'f16' ? 'bfloat16' : 'float32',
      device: 'cpu',
      runs: 1,
      warmup: o.config.name.startsWith('test') ? 1 : 0,
      timeoutMs: 4 * 3600_000,
    });
    if (r.result) {
      const row: Row = {
        impl: `pytorch-${r.result.device}`,
        config: o.config.name,
        dtype: r.result.dtype,
        clips: 1,
        clips_per_s: 1000 / r.result.total_ms,
        frames_per_s: (1000 / r.result.total_ms) * T,
        decode_s: null,
        encoder_s: r.result.encoder_ms / 1000,
        denoiser_s: r.result.denoiser_ms / 1000,
        write_s: null,
        total_s: r.result.total_ms / 1000,
        date,
        commit: gitCommit(),
        note: `model only (no decode/write), torch ${r.result.torch_version}, ${r.result.threads} threads`,
      };
      rows.push(row);
      o.onRow(row);
    } else {
      o.log(r.skipped ?? 'pytorch reference skipped');
    }
  }
  return rows;
}

export const SWEEP_COLUMNS = [
  'mode',
  'config',
  't',
  'clips',
  'seconds',
  'compute_s',
  'identical',
  'adapter',
  'date',
  'commit',
];

/** Options of {@link benchLatentSweep}. */
export interface SweepOptions {
  config: WaltConfig;
  /** The noise levels of the sweep, e.g. [100, 200, 300, 400]. */
  ts: number[];
  /** Copies of the sample's videos (more clips, steadier times); default 2. */
  copies?: number;
  adapter?: string;
  onRow: (r: Row) => void;
  log: (s: string) => void;
}

/**
 * The t-sweep with and without the latent cache (`walt extract --keep-latents`, `--from-latents`), on the sample collection's videos: (a) one full
 * `walt extract` per t; (b) one full run at the first t with `--keep-latents`, then
 * `--from-latents` runs for the other t. Rows per run: wall seconds (device start included) and
 * compute_s (wall minus setup: decode, encoder, denoiser, write); `identical`: every feature of
 * the (b) run is bit-identical to the (a) run at the same t. The last two rows are the totals and
 * the speed-up (a)/(b).
 */
export async function benchLatentSweep(o: SweepOptions): Promise<Row[]> {
  const root = mkdtempSync(join(tmpdir(), 'walt-bench-sweep-'));
  const rows: Row[] = [];
  const date = new Date().toISOString();
  try {
    const sample = await makeSample(join(root, 'sample'));
    const videos = sample.files.filter((f) => f.kind === 'video' && f.frames >= 17).map((f) => f.path);
    const inputs: string[] = [];
    for (let c = 0; c < (o.copies ?? 2); c++) {
      for (const v of videos) {
        const dst = join(root, 'in', String(c), v.split('/').pop()!);
        mkdirSync(join(root, 'in', String(c)), { recursive: true });
        copyFileSync(v, dst);
        inputs.push(dst);
      }
    }
    const base = {
      config: o.config,
      weightsSeed: 0,
      blocks: [Math.min(16, o.config.denoiser.layers)],
      shard: { index: 0, count: 1 },
      noiseSeed: 0,
      pool: 'none' as const,
      dtype: 'f32' as const,
      compute: 'f32' as const,
      stride: 1,
      start: 'first' as const,
      startSeed: 0,
      imageMode: 'replicate' as const,
      frames: 'independent' as const,
      retryErrors: false,
      shardBytes: 2 ** 30,
      gpuTimes: false,
      handleSignals: false,
      ...(o.adapter ? { adapter: o.adapter } : {}),
      log: o.log,
    };
    const row = (
      mode: string,
      t: number | null,
      s: ExtractSummary | null,
      seconds: number,
      compute: number,
      identical: boolean | null,
    ): Row => {
      const r: Row = {
        mode,
        config: o.config.name,
        t,
        clips: s?.ok ?? null,
        seconds,
        compute_s: compute,
        identical,
        adapter: o.adapter ?? 'default',
        date,
        commit: gitCommit(),
      };
      rows.push(r);
      o.onRow(r);
      return r;
    };
    const compute = (s: ExtractSummary): number => s.seconds - (s.time.wall.setup ?? 0);
    const full: Record<number, string> = {};
    let fullS = 0;
    let fullC = 0;
    for (const t of o.ts) {
      const out = join(root, `full-t${t}`);
      const s = await runExtract({ ...base, inputs, out, ts: [t] });
      full[t] = out;
      fullS += s.seconds;
      fullC += compute(s);
      row('full', t, s, s.seconds, compute(s), null);
    }
    const keep = join(root, 'keep');
    const k = await runExtract({ ...base, inputs, out: keep, ts: [o.ts[0]!], keepLatents: true });
    let cacheS = k.seconds;
    let cacheC = compute(k);
    row('keep-latents', o.ts[0]!, k, k.seconds, compute(k), await sameFeatures(keep, full[o.ts[0]!]!));
    for (const t of o.ts.slice(1)) {
      const out = join(root, `cached-t${t}`);
      const s = await runExtract({ ...base, inputs: [], out, ts: [t], fromLatents: keep });
      cacheS += s.seconds;
      cacheC += compute(s);
      row('from-latents', t, s, s.seconds, compute(s), await sameFeatures(out, full[t]!));
    }
    row('total full', null, null, fullS, fullC, null);
    row('total cached', null, null, cacheS, cacheC, null);
    row('speed-up', null, null, fullS / cacheS, fullC / cacheC, null);
    // One more t on clips already cached: a full run's mean against a --from-latents run's mean.
    const mean = (mode: string, key: 'seconds' | 'compute_s'): number => {
      const xs = rows.filter((r) => r.mode === mode).map((r) => r[key] as number);
      return xs.reduce((a, b) => a + b, 0) / xs.length;
    };
    if (o.ts.length > 1) {
      row(
        'speed-up per extra t',
        null,
        null,
        mean('full', 'seconds') / mean('from-latents', 'seconds'),
        mean('full', 'compute_s') / mean('from-latents', 'compute_s'),
        null,
      );
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
  return rows;
}

/** True when every feature tensor of `a` has the same bytes in `b`. */
async function sameFeatures(a: string, b: string): Promise<boolean> {
  const fa = FeatureSet.open(a);
  const fb = FeatureSet.open(b);
  try {
    for (const it of fa.ok) {
      for (const name of Object.keys(it.tensors)) {
        const x = (await fa.read(it.source, name)).data;
        const y = (await fb.read(it.source, name)).data;
        if (x.length !== y.length || !Buffer.from(x.buffer).equals(Buffer.from(y.buffer))) {
          return false;
        }
      }
    }
    return fa.ok.length === fb.ok.length && fa.ok.length > 0;
  } finally {
    await fa.close();
    await fb.close();
  }
}
