// walt bench extract: clips/s of the whole extraction job on a generated sample collection,
// split into decode / encoder / denoiser / write, and the PyTorch reference's model time per
// clip on this machine as the peer.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeSample } from '../src/io/sample.js';
import type { WaltConfig } from '../src/model/config.js';
import type { FloatDType } from '../src/tensor/dtype.js';
import { runExtract } from '../src/extract/run.js';
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
      decode_s: s.phases.decode!,
      encoder_s: s.phases.encoder!,
      denoiser_s: s.phases.denoiser!,
      note: 'encoder_s/denoiser_s: GPU timestamps; decode_s: waiting for decoded clips',
      write_s: s.phases.write!,
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
