// walt bench model: ms per clip of the encoder and the denoiser apart, f32 and f16, with the
// GFLOP/s they reach (FLOPs of spec §3.5, §4.12) and the peak GPU memory; optionally the
// PyTorch reference on the same machine.
import type { GpuContext } from '../src/gpu/context.js';
import type { WaltConfig } from '../src/model/config.js';
import { denoise } from '../src/model/denoiser.js';
import { encode, latentShapeOf, padPixels } from '../src/model/encoder.js';
import { denoiserFlops, encoderFlops } from '../src/model/flops.js';
import { randomWeightValues, uploadWeights } from '../src/model/weights.js';
import type { FloatDType } from '../src/tensor/dtype.js';
import { Rng } from '../src/util/rng.js';
import { benchEnv, summarize, type Row } from './harness.js';
import { torchBench } from './torch.js';

export interface ModelBenchOptions {
  config: WaltConfig;
  dtypes: FloatDType[];
  /** Untimed runs before the timed ones (0 on a software adapter: one L clip takes minutes). */
  warmup: number;
  reps: number;
  torch: boolean;
  /** Stops at the next pass; the rows measured so far are returned. */
  signal?: AbortSignal;
  onRow: (r: Row) => void;
  log: (s: string) => void;
}

export const MODEL_COLUMNS = [
  'impl',
  'config',
  'stage',
  'dtype',
  'ms',
  'ms_min',
  'gflops',
  'tflop',
  'peak_mib',
  'first_ms',
  'reps',
];

export async function benchModel(ctx: GpuContext, o: ModelBenchOptions): Promise<Row[]> {
  const env = benchEnv(ctx);
  const cfg = o.config;
  const [T, H, W] = cfg.pixels;
  const rows: Row[] = [];
  const stopped = (): boolean => o.signal?.aborted === true;
  const encF = encoderFlops(cfg).total;
  const denF = denoiserFlops(cfg).total;
  const values = randomWeightValues(cfg, 0);
  const pixels = padPixels(new Rng(1).uniforms(T * H * W * 3));
  const lat = latentShapeOf(cfg, T, H, W);
  const z = new Rng(2).normals(lat.reduce((a, b) => a * b));
  for (const dtype of o.dtypes) {
    if (stopped()) {
      break;
    }
    if (dtype === 'f16' && !ctx.caps.f16) {
      o.log(`f16 skipped: ${ctx.adapter.name} has no shader-f16`);
      continue;
    }
    const Wt = uploadWeights(ctx, cfg, values, { needEncoder: true, dtype });
    const weightBytes = [...Wt.gpu.values()].reduce((a, t) => a + t.byteLength, 0);
    const stage = async (name: string, flops: number, run: () => void): Promise<void> => {
      const times: number[] = [];
      let first = 0;
      ctx.pool.resetPeak();
      for (let i = 0; i < o.warmup + o.reps && !stopped(); i++) {
        const t0 = performance.now();
        run();
        await ctx.sync();
        const ms = performance.now() - t0;
        if (i === 0) {
          first = ms;
        }
        if (i >= o.warmup) {
          times.push(ms);
        }
        o.log(`${cfg.name} ${name} ${dtype} run ${i + 1}/${o.warmup + o.reps}: ${(ms / 1000).toFixed(2)} s`);
      }
      if (times.length === 0) {
        return; // interrupted before a timed run
      }
      const { ms, ms_min } = summarize(times);
      const row: Row = {
        impl: 'walt',
        config: cfg.name,
        stage: name,
        dtype,
        ms,
        ms_min,
        gflops: flops / ms / 1e6,
        tflop: flops / 1e12,
        peak_mib: (ctx.memory().peakBytesInUse + weightBytes) / 2 ** 20,
        first_ms: first,
        reps: times.length,
        frames: T,
        size: H,
        adapter: env.adapter,
        software: env.software,
        date: env.date,
        commit: env.commit,
      };
      rows.push(row);
      o.onRow(row);
    };
    await stage('encoder', encF, () => {
      ctx.scope(() => encode(ctx, Wt, ctx.upload(pixels, [T, H, W, 4], dtype)));
    });
    await stage('denoiser', denF, () => {
      ctx.scope(() =>
        denoise(ctx, Wt, ctx.upload(z, [1, ...lat], dtype), {
          t: [200],
          classes: [cfg.denoiser.numClasses],
          taps: [],
          final: true,
        }),
      );
    });
    const enc = rows.find((r) => r.stage === 'encoder' && r.dtype === dtype);
    const den = rows.find((r) => r.stage === 'denoiser' && r.dtype === dtype);
    if (!enc || !den) {
      Wt.dispose();
      break; // interrupted
    }
    const total: Row = {
      ...den,
      stage: 'encoder+denoiser',
      ms: (enc.ms as number) + (den.ms as number),
      ms_min: (enc.ms_min as number) + (den.ms_min as number),
      gflops: (encF + denF) / ((enc.ms as number) + (den.ms as number)) / 1e6,
      tflop: (encF + denF) / 1e12,
      peak_mib: Math.max(enc.peak_mib as number, den.peak_mib as number),
      first_ms: (enc.first_ms as number) + (den.first_ms as number),
    };
    rows.push(total);
    o.onRow(total);
    Wt.dispose();
  }
  if (o.torch && !stopped()) {
    for (const dtype of o.dtypes) {
      const tdt = dtype === 'f16' ? 'bfloat16' : 'float32';
      const r = torchBench({
        config: cfg.name,
        frames: T,
        size: H,
        dtype: tdt,
        device: 'cpu',
        runs: o.reps,
        warmup: o.warmup,
        timeoutMs: 4 * 3600_000,
      });
      if (!r.result) {
        o.log(r.skipped ?? 'pytorch skipped');
        continue;
      }
      for (const [stage, ms, flops] of [
        ['encoder', r.result.encoder_ms, encF],
        ['denoiser', r.result.denoiser_ms, denF],
        ['encoder+denoiser', r.result.total_ms, encF + denF],
      ] as const) {
        const row: Row = {
          impl: `pytorch-${r.result.device}`,
          config: cfg.name,
          stage,
          dtype: r.result.dtype,
          ms,
          gflops: flops / ms / 1e6,
          tflop: flops / 1e12,
          peak_mib: null,
          first_ms: null,
          reps: o.reps,
          frames: T,
          size: H,
          adapter: `torch ${r.result.torch_version} ${r.result.device} (${r.result.threads} threads)`,
          software: env.software,
          date: env.date,
          commit: env.commit,
        };
        rows.push(row);
        o.onRow(row);
      }
    }
  }
  return rows;
}
