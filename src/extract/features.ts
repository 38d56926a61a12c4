// The GPU part of feature extraction: for a batch of clips of one shape, encode each clip once,
// noise its latent to every requested t with the item's own noise (a function of the noise seed
// and the item's source path, so any run or shard gives the same ε), run one batched denoiser
// pass per t up to the deepest requested block, pool on the GPU and read back.
import type { GpuContext } from '../gpu/context.js';
import { axpby } from '../kernels/elementwise.js';
import { reduceAxis } from '../kernels/reduce.js';
import { denoise } from '../model/denoiser.js';
import { encode, latentShapeOf, padPixels } from '../model/encoder.js';
import { noiseCoefficients } from '../model/schedule.js';
import type { ModelWeights } from '../model/weights.js';
import type { FloatDType } from '../tensor/dtype.js';
import { fromF16Array, toF16Array } from '../tensor/f16.js';
import { ShapeError } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';
import { hashString, Rng } from '../util/rng.js';

export type Pool = 'none' | 'space' | 'time' | 'spacetime';

export interface FeatureOptions {
  /** Diffusion steps (each gets one denoiser pass). */
  ts: readonly number[];
  /** 1-based blocks to keep. */
  blocks: readonly number[];
  noiseSeed: number;
  /** Class row (default: the null class). */
  classIndex?: number;
  pool: Pool;
  /** Storage dtype of the returned features. */
  outDtype: FloatDType;
  /** Also read back each clip's z₀ and ε (for `--keep-latents`). */
  keepLatents?: boolean;
}

/** A clip's normalised latent z₀ (the model's dtype) and its noise ε (f32), both (T', h, w, c). */
export interface ClipLatents {
  z0: FeatureTensor;
  eps: FeatureTensor;
}

/** A cached latent to run from (`--from-latents`): z₀ in the model's dtype, ε as f32. */
export interface LatentInput {
  source: string;
  z0: FeatureTensor;
  eps: Float32Array;
}

/** Per clip: the features by name, and the latents when asked for. */
export interface ClipResult {
  features: Map<string, FeatureTensor>;
  latents?: ClipLatents;
}

export interface ClipInput {
  /** Stable identity of the item (its source path as found): seeds its noise. */
  source: string;
  /** (T, H, W, 3) in [0, 1]. */
  pixels: Float32Array;
  shape: readonly [number, number, number, number];
}

export interface FeatureTensor {
  shape: number[];
  /** f32 values, or f16 bits when outDtype is f16. */
  data: Float32Array | Uint16Array;
  dtype: FloatDType;
}

/** Feature tensor name inside a clip's group: `t200/block.16`. */
export function featureName(t: number, block: number): string {
  return `t${t}/block.${block}`;
}

/** ε for an item: N(0, I) of the latent's size from (seed, hash(source)). */
export function itemNoise(source: string, n: number, seed: number): Float32Array {
  return new Rng(seed, hashString(source)).normals(n);
}

/** Pooled shape of a block output (T', h, w, D). */
export function pooledShape(pool: Pool, [T, h, w, D]: readonly number[]): number[] {
  switch (pool) {
    case 'none':
      return [T!, h!, w!, D!];
    case 'space':
      return [T!, D!];
    case 'time':
      return [h!, w!, D!];
    case 'spacetime':
      return [D!];
  }
}

function poolTensor(ctx: GpuContext, x: Tensor, pool: Pool, outDtype: FloatDType): Tensor {
  const [B, T, h, w, D] = x.shape as [number, number, number, number, number];
  switch (pool) {
    case 'none':
      return x;
    case 'space':
      return reduceAxis(ctx, x, B * T, h * w, D, { dtype: outDtype });
    case 'time':
      return reduceAxis(ctx, x, B, T, h * w * D, { dtype: outDtype });
    case 'spacetime':
      return reduceAxis(ctx, x, B, T * h * w, D, { dtype: outDtype });
  }
}

/**
 * Features of a batch of clips with the same shape. All GPU work (encoder per clip, one denoiser
 * pass per t, pooling, copies for readback) is encoded and submitted before this returns; the
 * promise resolves when the read-backs land, so a caller can submit the next batch while this
 * one computes (double-buffering). Returns, per clip, the tensors `t<t>/block.<l>` (shape per
 * `pooledShape`) and, with `keepLatents`, z₀ (B·(T', h, w, c) in the model's dtype) and ε. Pixel
 * clips of 1 frame take the identity path in spatiotemporal layers (a video model's image input,
 * spec §4.5). z_t = √ᾱ_t·z₀ + √(1−ᾱ_t)·ε with ε from {@link itemNoise}.
 */
export function clipFeatures(
  ctx: GpuContext,
  W: ModelWeights,
  clips: readonly ClipInput[],
  o: FeatureOptions,
): Promise<ClipResult[]> {
  if (clips.length === 0) {
    return Promise.resolve([]);
  }
  const shape = clips[0]!.shape;
  for (const c of clips) {
    if (c.shape.join() !== shape.join()) {
      throw new ShapeError(
        `clipFeatures: a batch needs one clip shape; got ${c.shape.join('x')} and ${shape.join('x')}`,
      );
    }
  }
  const [T, H, Wd] = shape;
  const lat = latentShapeOf(W.config, T, H, Wd);
  const latN = lat.reduce((a, b) => a * b);
  const B = clips.length;
  const eps = new Float32Array(B * latN);
  clips.forEach((c, b) => eps.set(itemNoise(c.source, latN, o.noiseSeed), b * latN));
  // The scope ends once the work is encoded (the read-backs are enqueued): its tensors go back to
  // the pool, which is safe in queue order.
  const pending = ctx.scope(() => {
    // Encode each clip once into one (B, T', h, w, c) latent tensor.
    ctx.tag = 'encoder';
    const z0 = ctx.empty([B, ...lat], W.dtype, 'latents');
    for (let b = 0; b < B; b++) {
      ctx.scope(() => {
        const px = ctx.upload(padPixels(clips[b]!.pixels), [T, H, Wd, 4], W.dtype, 'pixels');
        const z = encode(ctx, W, px);
        ctx.copy(z, z0, 0, b * z.byteLength);
      });
    }
    return noiseAndDenoise(ctx, W, z0, eps, lat, o);
  });
  return collect(pending, W.dtype, o);
}

/**
 * Features from cached latents (`--from-latents`): the noising and the denoiser only, on z₀ and ε
 * exactly as a full run made them, so the features are bit-identical to {@link clipFeatures}'.
 * Every latent of a batch has one shape (T', h, w, c).
 */
export function latentFeatures(
  ctx: GpuContext,
  W: ModelWeights,
  items: readonly LatentInput[],
  o: FeatureOptions,
): Promise<ClipResult[]> {
  if (items.length === 0) {
    return Promise.resolve([]);
  }
  const lat = items[0]!.z0.shape as [number, number, number, number];
  const latN = lat.reduce((a, b) => a * b);
  for (const it of items) {
    if (it.z0.shape.join() !== lat.join() || it.eps.length !== latN) {
      throw new ShapeError(
        `latentFeatures: ${it.source}: latent [${it.z0.shape.join(',')}] in a batch of [${lat.join(',')}]`,
      );
    }
    if (it.z0.dtype !== W.dtype) {
      throw new ShapeError(`latentFeatures: ${it.source}: z0 is ${it.z0.dtype}, the model computes in ${W.dtype}`);
    }
  }
  const B = items.length;
  const eps = new Float32Array(B * latN);
  items.forEach((it, b) => eps.set(it.eps, b * latN));
  const z0Host = W.dtype === 'f16' ? new Uint16Array(B * latN) : new Float32Array(B * latN);
  items.forEach((it, b) => z0Host.set(it.z0.data, b * latN));
  const pending = ctx.scope(() => {
    ctx.tag = 'latents';
    const z0 = ctx.upload(z0Host, [B, ...lat], W.dtype, 'latents');
    return noiseAndDenoise(ctx, W, z0, eps, lat, o);
  });
  return collect(pending, W.dtype, o);
}

interface Pending {
  B: number;
  lat: readonly number[];
  eps: Float32Array;
  reads: { name: string; raw: Promise<ArrayBuffer>; f16: boolean; perShape: number[] }[];
  z0Raw: Promise<ArrayBuffer> | undefined;
}

/** The part shared by full and cached runs: noise z₀ to every t, denoise, pool, read back. */
function noiseAndDenoise(
  ctx: GpuContext,
  W: ModelWeights,
  z0: Tensor,
  eps: Float32Array,
  lat: readonly number[],
  o: FeatureOptions,
): Pending {
  const B = z0.shape[0]!;
  const d = W.config.denoiser;
  const classIndex = o.classIndex ?? d.numClasses;
  // (t, block) → its read-back (already enqueued) and per-clip shape.
  const reads: Pending['reads'] = [];
  const z0Raw = o.keepLatents ? z0.readRaw() : undefined;
  const epsT = ctx.upload(eps, [B, ...lat], W.dtype, 'noise');
  for (const t of o.ts) {
    ctx.scope(() => {
      const { signal, noise } = noiseCoefficients(t);
      const zt = axpby(ctx, signal, z0, noise, epsT);
      const r = denoise(ctx, W, zt, {
        t: Array.from({ length: B }, () => t),
        classes: Array.from({ length: B }, () => classIndex),
        taps: o.blocks,
        final: false,
      });
      for (const l of o.blocks) {
        const x = r.taps.get(l)!;
        const pooled = poolTensor(ctx, x, o.pool, o.outDtype);
        // readRaw enqueues the copy synchronously; the tensor may be disposed right after.
        reads.push({
          name: featureName(t, l),
          raw: pooled.readRaw(),
          f16: pooled.dtype === 'f16',
          perShape: pooledShape(o.pool, x.shape.slice(1)),
        });
      }
    });
  }
  return { B, lat, eps, reads, z0Raw };
}

/** Waits for a batch's read-backs and splits them per clip. */
function collect(p: Pending, modelDtype: FloatDType, o: FeatureOptions): Promise<ClipResult[]> {
  const { B, lat, eps, reads, z0Raw } = p;
  const latN = eps.length / B;
  return Promise.all([Promise.all(reads.map((r) => r.raw)), z0Raw]).then(([raws, z0Bytes]) => {
    const out: ClipResult[] = Array.from({ length: B }, () => ({ features: new Map<string, FeatureTensor>() }));
    reads.forEach((r, i) => {
      const raw = raws[i]!;
      const bytes = r.f16 ? 2 : 4;
      const per = raw.byteLength / bytes / B;
      for (let b = 0; b < B; b++) {
        const slice = raw.slice(b * per * bytes, (b + 1) * per * bytes);
        const data = r.f16 ? new Uint16Array(slice) : new Float32Array(slice);
        out[b]!.features.set(r.name, convertFeature(data, o.outDtype === 'f16', r.perShape));
      }
    });
    if (z0Bytes) {
      const f16 = modelDtype === 'f16';
      const bytes = f16 ? 2 : 4;
      for (let b = 0; b < B; b++) {
        const slice = z0Bytes.slice(b * latN * bytes, (b + 1) * latN * bytes);
        out[b]!.latents = {
          z0: { shape: [...lat], data: f16 ? new Uint16Array(slice) : new Float32Array(slice), dtype: modelDtype },
          eps: { shape: [...lat], data: eps.slice(b * latN, (b + 1) * latN), dtype: 'f32' },
        };
      }
    }
    return out;
  });
}

/** Converts read-back values (f32, or f16 bits) to the storage dtype. */
function convertFeature(data: Float32Array | Uint16Array, wantF16: boolean, shape: number[]): FeatureTensor {
  if (data instanceof Uint16Array) {
    return wantF16 ? { shape, data, dtype: 'f16' } : { shape, data: fromF16Array(data), dtype: 'f32' };
  }
  return wantF16 ? { shape, data: toF16Array(data), dtype: 'f16' } : { shape, data, dtype: 'f32' };
}

/**
 * Linear temporal resampling with half-pixel centres, clamped at the ends (spec §6, OC25):
 * out[f] = (1−w)·x[⌊s⌋] + w·x[min(⌊s⌋+1, T−1)], s = clamp((f+0.5)·T/F − 0.5, 0, T−1).
 * x is (T, …) f32; returns (F, …).
 */
export function resampleTime(x: Float32Array, T: number, F: number): Float32Array {
  const per = x.length / T;
  const out = new Float32Array(F * per);
  for (let f = 0; f < F; f++) {
    const s = Math.min(Math.max(((f + 0.5) * T) / F - 0.5, 0), T - 1);
    const i0 = Math.floor(s);
    const i1 = Math.min(i0 + 1, T - 1);
    const w = s - i0;
    for (let j = 0; j < per; j++) {
      out[f * per + j] = (1 - w) * x[i0 * per + j]! + w * x[i1 * per + j]!;
    }
  }
  return out;
}
