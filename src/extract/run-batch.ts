// A batch of walt extract: its GPU work (clips or cached latents through the encoder and denoiser;
// an image model's frames one by one), submitted at once and finished later so that readback,
// conversion and shard writes overlap the next batch's compute; and the host-side post-processing of
// its features (temporal resampling, then pooling, and the storage dtype).

import type { GpuContext } from '../gpu/context.js';
import type { ModelWeights } from '../model/weights.js';
import type { FloatDType } from '../tensor/dtype.js';
import { fromF16Array, toF16Array } from '../tensor/f16.js';
import {
  clipFeatures,
  latentFeatures,
  resampleTime,
  type ClipInput,
  type ClipLatents,
  type ClipResult,
  type FeatureTensor,
  type Pool,
} from './features.js';
import type { ExtractOptions } from './run-options.js';
import type { RunOutput } from './run-output.js';
import type { RunStopper } from './run-signals.js';
import type { Work } from './run-source.js';
import type { Stopwatch } from './run-summary.js';

/** Mean pooling of `x` [T, h, w, D] over space, time or both (`none`: unchanged). */
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

/** A feature tensor's values as f32. */
const asF32 = (t: FeatureTensor): Float32Array =>
  t.dtype === 'f16' ? fromF16Array(t.data as Uint16Array) : (t.data as Float32Array);
/** A feature tensor of `data` in the storage dtype. */
const stored = (data: Float32Array, shape: number[], dtype: FloatDType): FeatureTensor =>
  dtype === 'f16' ? { data: toF16Array(data), shape, dtype } : { data, shape, dtype };

/** Stacks per-frame latents (each (1, T', h, w, c)) into (F, T', h, w, c). */
const stackLatents = (parts: ClipLatents[]): ClipLatents => {
  const cat = (ts: FeatureTensor[]): FeatureTensor => {
    const n = ts[0]!.data.length;
    const data = ts[0]!.data instanceof Uint16Array ? new Uint16Array(n * ts.length) : new Float32Array(n * ts.length);
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

/** What a batch needs: the run, the device, and where its results go. */
export interface BatchEnv {
  o: ExtractOptions;
  ctx: GpuContext;
  weights: ModelWeights;
  batchSize: number;
  clock: Stopwatch;
  stop: RunStopper;
  output: RunOutput;
  /** Called when a batch's items are written (or held for the next shard). */
  counted: (batch: Work[]) => Promise<void>;
}

/**
 * The function that submits a batch's GPU work now and returns the function that waits for its
 * features and writes them.
 */
export function batchStarter(env: BatchEnv): (batch: Work[]) => () => Promise<void> {
  const { o, ctx: C, weights: W, batchSize, clock, stop, output } = env;
  const imageModel = o.config.denoiser.imageModel;
  /** Waits for `p` unless the run must stop at once. */
  const orStop = <T>(p: Promise<T>): Promise<T> => stop.orStop(p);

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
    const count = (): Promise<void> => env.counted(batch);
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
          await output.emit(w, merged, lat);
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
          await output.emit(w, finish(r.features), lat);
        }
      });
      await count();
    };
  };
  return startBatch;
}
