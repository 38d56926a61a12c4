// LayerNorm for training (readouts, OC1/OC2): full, scale-only ("LN_scale") or without affine,
// over the last dimension. The forward saves the f32 mean and rstd; the backward gives dx, dweight
// and dbias (the sums deterministic, through norm-train-run.ts).

import type { GpuContext } from '../gpu/context.js';
import { sameShape, ShapeError } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';
import { colSum } from './colsum.js';
import { checkOut, floatDtypeOf, type GradTarget } from './common.js';
import { normTrainWorkgroup } from './norm-train-family.js';
import { affineCheck, checkF32, gradOut, labelArg, runBackward, runForward } from './norm-train-run.js';

/** The last dimension C of `x` ([R, C], leading dims flattened). */
function lastDim(what: string, x: Tensor): number {
  const c = x.shape[x.shape.length - 1];
  if (c === undefined || c < 1) {
    throw new ShapeError(`${what}: x ${x.toString()} needs a non-empty last dimension [R, C]`);
  }
  return c;
}

export interface LayerNormForwardOptions {
  /** [C] f32: full LayerNorm with `bias`, scale-only (flax `use_bias=False`, OC2 "LN_scale") without. */
  weight?: Tensor;
  /** [C] f32. */
  bias?: Tensor;
  /** 1e-6 for the readout norms, 1e-4 for the MooG state norm (OC1). */
  eps?: number;
  /** y, [R, C] (x's shape) in x's dtype. */
  out?: Tensor;
  /** Force a workgroup size (tests, bench): one of {@link NORM_TRAIN_WORKGROUPS}. */
  workgroup?: number;
  label?: string;
  /** A binding limit below the device's (bytes), so tests reach the row-chunked path at small sizes. */
  maxBindingBytes?: number;
}

export interface LayerNormForwardResult {
  /** [R, C] (x's shape), x's dtype. */
  y: Tensor;
  /** [R] f32. */
  mean: Tensor;
  /** [R] f32: 1/√(σ² + eps). */
  rstd: Tensor;
}

/**
 * LayerNorm over the last dimension, saving its statistics for {@link layerNormBackward}.
 *
 * μ_r = mean_c x[r, c], σ²_r = mean_c (x[r, c] − μ_r)² (biased; two passes, shifted by the
 * row's first value, so accurate for |μ| ≫ σ), rstd_r = 1/√(σ²_r + eps),
 * y[r, c] = (x[r, c] − μ_r)·rstd_r·weight[c] + bias[c] (each factor only when given).
 *
 * @param x `[R, C]` (leading dims are flattened into R), f32 or f16
 * @returns `y` like x (x's dtype), `mean` and `rstd` `[R]` f32
 */
export function layerNormForward(
  ctx: GpuContext,
  x: Tensor,
  opts: LayerNormForwardOptions = {},
): LayerNormForwardResult {
  const what = 'layerNormForward';
  const C = lastDim(what, x);
  const dtype = floatDtypeOf(what, x);
  const R = x.numel / C;
  affineCheck(what, 'weight', opts.weight, C);
  affineCheck(what, 'bias', opts.bias, C);
  if (opts.out) {
    checkOut(what, opts.out, x.shape, dtype);
  }
  const y = opts.out ?? ctx.empty(x.shape, dtype, opts.label ?? 'layernorm-y');
  const mean = ctx.empty([R], 'f32', 'layernorm-mean');
  const rstd = ctx.empty([R], 'f32', 'layernorm-rstd');
  runForward(ctx, {
    set: { rows: R, heads: 1, dim: C, stride: C, offset: 0 },
    dtype,
    wg: opts.workgroup ?? normTrainWorkgroup(ctx.caps),
    x,
    weight: opts.weight,
    bias: opts.bias,
    y,
    mean,
    rstd,
    rms: false,
    eps: opts.eps ?? 1e-6,
    label: opts.label,
    maxBindingBytes: opts.maxBindingBytes,
  });
  return { y, mean, rstd };
}

export interface LayerNormBackwardOptions {
  /** The forward's weight [C] f32 (then dweight is computed). */
  weight?: Tensor;
  /** The forward had a bias: compute dbias (also implied by a `dbias` target). */
  hasBias?: boolean;
  /** Where dx goes ([R, C] f32); null: dx is not computed (e.g. frozen inputs). */
  dx?: GradTarget | null;
  /** [C] f32 target of Σ_r dy⊙x̂ (needs `weight`). */
  dweight?: GradTarget;
  /** [C] f32 target of Σ_r dy. */
  dbias?: GradTarget;
  /** Rows per column-sum block (tests): default from the adapter and the shape. */
  rowsPerBlock?: number;
  /** Force a workgroup size (tests, bench): one of {@link NORM_TRAIN_WORKGROUPS}. */
  workgroup?: number;
  label?: string;
  /** A binding limit below the device's (bytes), so tests reach the row-chunked path at small sizes. */
  maxBindingBytes?: number;
}

export interface LayerNormBackwardResult {
  /** [R, C] (x's shape) f32, or null when not asked for. */
  dx: Tensor | null;
  /** [C] f32, when the forward had a weight. */
  dweight?: Tensor;
  /** [C] f32, when the forward had a bias. */
  dbias?: Tensor;
}

/**
 * LayerNorm backward. With g = dy ⊙ weight (dy without weight) and x̂ = (x − μ)·rstd, per row:
 * dx = rstd·(g − mean_c g − x̂·mean_c(g ⊙ x̂)); dweight[c] = Σ_r dy⊙x̂, dbias[c] = Σ_r dy, both
 * two-pass deterministic column sums (bit-identical across runs on one adapter).
 *
 * @param dy `[R, C]` f32, x's shape
 * @param x `[R, C]` the forward's input (f32 or f16)
 * @param mean `[R]` f32 and `rstd` `[R]` f32 from {@link layerNormForward}
 * @returns dx (f32, x's shape; `=` or `+=` per its target), dweight, dbias ([C] f32)
 */
export function layerNormBackward(
  ctx: GpuContext,
  dy: Tensor,
  x: Tensor,
  mean: Tensor,
  rstd: Tensor,
  opts: LayerNormBackwardOptions = {},
): LayerNormBackwardResult {
  const what = 'layerNormBackward';
  const C = lastDim(what, x);
  const dtype = floatDtypeOf(what, x);
  const R = x.numel / C;
  if (!sameShape(dy.shape, x.shape) || dy.dtype !== 'f32') {
    throw new ShapeError(
      `${what}: dy ${dy.toString()} must be [${x.shape.join(', ')}] f32 (x's shape; gradients are f32)`,
    );
  }
  checkF32(`${what} mean`, mean, R, `[${R}]`);
  checkF32(`${what} rstd`, rstd, R, `[${R}]`);
  affineCheck(what, 'weight', opts.weight, C);
  if (opts.dweight && !opts.weight) {
    throw new ShapeError(`${what}: a dweight target needs the forward's weight; pass opts.weight`);
  }
  const dx = opts.dx === null ? null : gradOut(ctx, `${what} dx`, opts.dx, x.shape, 'layernorm-dx');
  const dweight = opts.weight ? gradOut(ctx, `${what} dweight`, opts.dweight, [C], 'layernorm-dweight') : null;
  const dbias = opts.hasBias || opts.dbias ? gradOut(ctx, `${what} dbias`, opts.dbias, [C], 'layernorm-dbias') : null;
  // Without a weight, dbias = Σ_r dy is a plain column sum.
  if (dbias && !dweight) {
    colSum(ctx, dy, {
      out: dbias,
      ...labelArg(opts.label),
      ...(opts.maxBindingBytes ? { maxBindingBytes: opts.maxBindingBytes } : {}),
    });
  }
  if (!dx && !dweight) {
    return { ...(dbias ? { dbias: dbias.tensor } : {}), dx: null };
  }
  runBackward(ctx, {
    set: { rows: R, heads: 1, dim: C, stride: C, offset: 0 },
    dtype,
    wg: opts.workgroup ?? normTrainWorkgroup(ctx.caps),
    x,
    dy,
    mean,
    rstd,
    weight: opts.weight,
    rms: false,
    dx: dx ? { ...dx, stride: C, offset: 0 } : null,
    sums: dweight ? { a: dweight, b: dbias } : null,
    rowsPerBlock: opts.rowsPerBlock,
    label: opts.label,
    maxBindingBytes: opts.maxBindingBytes,
  });
  return {
    dx: dx?.tensor ?? null,
    ...(dweight ? { dweight: dweight.tensor } : {}),
    ...(dbias ? { dbias: dbias.tensor } : {}),
  };
}
