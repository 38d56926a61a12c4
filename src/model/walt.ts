// One clip through the whole model: encode (pixels) or take a latent, noise it to step t, one
// denoiser pass, return the requested taps. Used by `walt forward` and `walt extract`.
import type { GpuContext } from '../gpu/context.js';
import { axpby } from '../kernels/elementwise.js';
import { ShapeError } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';
import { Rng } from '../util/rng.js';
import { deepestBlock, denoise } from './denoiser.js';
import { encode, latentShapeOf, padPixels } from './encoder.js';
import { noiseCoefficients } from './schedule.js';
import type { ModelWeights } from './weights.js';

export interface ForwardRequest {
  /** Pixels (T, H, W, 3) in [0, 1], or a normalised latent (T', h, w, c) when `latent` is set. */
  input: Float32Array;
  inputShape: readonly number[];
  latent: boolean;
  t: number;
  /** ε with the latent's shape, or a seed to draw it. */
  noise: Float32Array | { seed: number; stream?: number };
  /** 0-based class row; undefined = the null class. */
  classIndex?: number;
  /** 1-based blocks to return. */
  taps: readonly number[];
  final: boolean;
}

export interface ForwardResult {
  /** Normalised encoder output (pixel input only). */
  latent?: Float32Array;
  latentShape: [number, number, number, number];
  zt: Float32Array;
  blocks: Map<number, { shape: number[]; data: Float32Array }>;
  vPred?: { shape: number[]; data: Float32Array };
}

/** ε ~ N(0, I) of `n` values from a seed (and a per-item stream). */
export function noiseFromSeed(n: number, seed: number, stream = 0): Float32Array {
  return new Rng(seed, stream).normals(n);
}

/** Validates a pixel clip's shape against the config and returns the latent shape. */
export function checkPixels(W: ModelWeights, shape: readonly number[]): [number, number, number, number] {
  const cfg = W.config;
  if (shape.length !== 4 || shape[3] !== 3) {
    throw new ShapeError(`pixel input must be [T, H, W, 3] float32 in [0, 1], got [${shape.join(',')}]`);
  }
  const [T, H, Wd] = shape as [number, number, number];
  if (H !== cfg.pixels[1] || Wd !== cfg.pixels[2]) {
    throw new ShapeError(
      `pixel input is ${H}x${Wd}; config '${cfg.name}' takes ${cfg.pixels[1]}x${cfg.pixels[2]} (resize/crop first, or use walt extract)`,
    );
  }
  if (T !== 1 && T !== cfg.pixels[0]) {
    throw new ShapeError(
      `pixel input has ${T} frames; config '${cfg.name}' takes ${cfg.pixels[0]} (a video) or 1 (an image)`,
    );
  }
  return latentShapeOf(cfg, T, H, Wd);
}

/** Runs one clip (B = 1). Reads back only what was asked for. */
export async function forwardClip(ctx: GpuContext, W: ModelWeights, req: ForwardRequest): Promise<ForwardResult> {
  const cfg = W.config;
  const d = cfg.denoiser;
  let latentShape: [number, number, number, number];
  if (req.latent) {
    if (req.inputShape.length !== 4 || req.inputShape[3] !== cfg.encoder.latentChannels) {
      throw new ShapeError(
        `--latent input must be [T', h, w, ${cfg.encoder.latentChannels}], got [${req.inputShape.join(',')}]`,
      );
    }
    latentShape = req.inputShape as [number, number, number, number];
  } else {
    latentShape = checkPixels(W, req.inputShape);
  }
  const n = latentShape.reduce((a, b) => a * b);
  const eps = req.noise instanceof Float32Array ? req.noise : noiseFromSeed(n, req.noise.seed, req.noise.stream ?? 0);
  if (eps.length !== n) {
    throw new ShapeError(`--noise has ${eps.length} values; the latent [${latentShape.join(',')}] has ${n}`);
  }
  const { signal, noise } = noiseCoefficients(req.t);
  const classIndex = req.classIndex ?? d.numClasses;
  const stop = deepestBlock(req.taps, req.final, d.layers);
  void stop;

  return ctx.scope(async () => {
    let z0: Tensor;
    if (req.latent) {
      z0 = ctx.upload(req.input, latentShape, W.dtype, 'latent');
    } else {
      const px = ctx.upload(
        padPixels(req.input),
        [req.inputShape[0]!, req.inputShape[1]!, req.inputShape[2]!, 4],
        W.dtype,
        'pixels',
      );
      z0 = encode(ctx, W, px);
      px.dispose();
    }
    const e = ctx.upload(eps, latentShape, W.dtype, 'noise');
    const zt = axpby(ctx, signal, z0, noise, e);
    const res = denoise(ctx, W, zt.reshape([1, ...latentShape]), {
      t: [req.t],
      classes: [classIndex],
      taps: req.taps,
      final: req.final,
    });
    const out: ForwardResult = {
      latentShape,
      zt: await zt.read(),
      blocks: new Map(),
      ...(req.latent ? {} : { latent: await z0.read() }),
    };
    for (const [l, t] of res.taps) {
      out.blocks.set(l, { shape: t.shape.slice(1), data: await t.read() });
    }
    if (res.vPred) {
      out.vPred = { shape: res.vPred.shape.slice(1), data: await res.vPred.read() };
    }
    return out;
  });
}

/**
 * Creates every pipeline that forwardClip(req) will dispatch, ahead and in parallel (the cold
 * start, reported on its own); the real forward then compiles nothing. Returns the count.
 */
export function prepareForward(ctx: GpuContext, W: ModelWeights, req: ForwardRequest): Promise<number> {
  return ctx.prepareFor(() => forwardClip(ctx, W, req));
}
