// RMSNorm for training over the head dim, with a scale shared by the heads (norm_query / norm_key,
// OC2); the input is a tensor or a strided row view (q or k inside qkv), and dx may be written into
// a strided view too. The forward saves the f32 rstd; the backward gives dx and dscale.

import type { GpuContext } from '../gpu/context.js';
import { ShapeError, type Shape } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';
import type { HeadsView } from './attention.js';
import { checkOut, floatDtypeOf, type GradTarget } from './common.js';
import { normTrainWorkgroup } from './norm-train-family.js';
import { affineCheck, checkF32, gradOut, runBackward, runForward, type RowSet } from './norm-train-run.js';

/** Rows of an RMSNorm input: a contiguous tensor, or a strided row view (e.g. q inside qkv). */
export type RmsRows = Tensor | HeadsView;

interface RmsGeometry {
  set: RowSet;
  x: Tensor;
  /** Shape of y, dy and a fresh dx. */
  shape: Shape;
}

function rmsGeometry(what: string, x: RmsRows, heads: number, dim: number, rowsOpt: number | undefined): RmsGeometry {
  if (!Number.isInteger(heads) || heads < 1 || !Number.isInteger(dim) || dim < 1) {
    throw new ShapeError(`${what}: heads ${heads} and dim ${dim} must be positive integers`);
  }
  const width = heads * dim;
  if ('stride' in x) {
    const t = x.tensor;
    const rows = rowsOpt ?? (t.numel - x.offset >= width ? Math.floor((t.numel - x.offset - width) / x.stride) + 1 : 0);
    if (x.offset + width > x.stride || (rows > 0 && (rows - 1) * x.stride + x.offset + width > t.numel)) {
      throw new ShapeError(
        `${what}: x view (stride ${x.stride}, offset ${x.offset}) of ${t.toString()} does not hold ${rows} rows × ${heads}·${dim}`,
      );
    }
    return { set: { rows, heads, dim, stride: x.stride, offset: x.offset }, x: t, shape: [rows, width] };
  }
  const last = x.shape[x.shape.length - 1];
  const lastTwo = x.shape.length >= 2 && last === dim && x.shape[x.shape.length - 2] === heads;
  if (!(last === width || lastTwo) || x.numel % width !== 0) {
    throw new ShapeError(`${what}: x ${x.toString()} must be [R, ${heads}·${dim}] or [R, ${heads}, ${dim}]`);
  }
  const rows = x.numel / width;
  if (rowsOpt !== undefined && rowsOpt !== rows) {
    throw new ShapeError(`${what}: rows ${rowsOpt} but x ${x.toString()} holds ${rows} rows`);
  }
  return { set: { rows, heads, dim, stride: width, offset: 0 }, x, shape: x.shape };
}

export interface RmsNormForwardOptions {
  heads: number;
  /** Head dim d (the normalised length). */
  dim: number;
  /** [d] f32, shared by the heads. */
  scale?: Tensor;
  /** Default 1e-6 (OC1). */
  eps?: number;
  /** Rows R of a strided view (default: as many as the view's tensor holds). */
  rows?: number;
  /** y, [R, H·d] (x's shape for a tensor) in x's dtype. */
  out?: Tensor;
  /** Force a workgroup size (tests, bench): one of {@link NORM_TRAIN_WORKGROUPS}. */
  workgroup?: number;
  label?: string;
  /** A binding limit below the device's (bytes), so tests reach the row-chunked path at small sizes. */
  maxBindingBytes?: number;
}

/**
 * RMSNorm over the head dim with a scale shared by all heads (norm_query / norm_key, MooG).
 *
 * rstd[r·H + h] = 1/√(mean_k x[r, h, k]² + eps), y[r, h, k] = x[r, h, k]·rstd[r·H + h]·scale[k].
 *
 * @param x `[R, H·d]` (or `[R, H, d]`), or a row view {tensor, stride, offset}: row r's heads at
 *   tensor[offset + r·stride …+H·d], f32 or f16
 * @returns `y` `[R, H·d]` contiguous (x's shape for a tensor), x's dtype; `rstd` `[R·H]` f32
 */
export function rmsNormForward(ctx: GpuContext, x: RmsRows, opts: RmsNormForwardOptions): { y: Tensor; rstd: Tensor } {
  const what = 'rmsNormForward';
  const g = rmsGeometry(what, x, opts.heads, opts.dim, opts.rows);
  const dtype = floatDtypeOf(what, g.x);
  affineCheck(what, 'scale', opts.scale, opts.dim);
  if (opts.out) {
    checkOut(what, opts.out, g.shape, dtype);
  }
  const y = opts.out ?? ctx.empty(g.shape, dtype, opts.label ?? 'rmsnorm-y');
  const rstd = ctx.empty([g.set.rows * g.set.heads], 'f32', 'rmsnorm-rstd');
  runForward(ctx, {
    set: g.set,
    dtype,
    wg: opts.workgroup ?? normTrainWorkgroup(ctx.caps),
    x: g.x,
    weight: opts.scale,
    bias: undefined,
    y,
    mean: null,
    rstd,
    rms: true,
    eps: opts.eps ?? 1e-6,
    label: opts.label,
    maxBindingBytes: opts.maxBindingBytes,
  });
  return { y, rstd };
}

/** A dx target that may be a strided row view (the gradient of a view into qkv). */
export interface RowsGradTarget extends GradTarget {
  /** Elements from one row to the next in `tensor` (default H·d: contiguous). */
  stride?: number;
  /** Element of row 0 (default 0). */
  offset?: number;
}

export interface RmsNormBackwardOptions {
  heads: number;
  dim: number;
  /** The forward's scale [d] f32 (then dscale is computed). */
  scale?: Tensor;
  /** Rows R of a strided view (as in the forward). */
  rows?: number;
  /** Where dx goes (f32; default a fresh [R, H·d]); null: not computed. */
  dx?: RowsGradTarget | null;
  /** [d] f32 target of Σ_{r,h} dy⊙x̂ (needs `scale`). */
  dscale?: GradTarget;
  /** Rows R per column-sum block (tests): default from the adapter and the shape. */
  rowsPerBlock?: number;
  /** Force a workgroup size (tests, bench): one of {@link NORM_TRAIN_WORKGROUPS}. */
  workgroup?: number;
  label?: string;
  /** A binding limit below the device's (bytes), so tests reach the row-chunked path at small sizes. */
  maxBindingBytes?: number;
}

/**
 * RMSNorm backward. With g = dy ⊙ scale (dy without scale) and x̂ = x·rstd, per (r, h):
 * dx = rstd·g − rstd³·x·mean_k(g⊙x); dscale[k] = Σ_{r,h} dy⊙x̂ (two-pass, deterministic).
 *
 * @param dy `[R, H·d]` f32 (y's shape)
 * @param x the forward's input (tensor or row view), f32 or f16
 * @param rstd `[R·H]` f32 from {@link rmsNormForward}
 * @returns dx (f32; `=` or `+=` per its target, in its layout) and dscale ([d] f32)
 */
export function rmsNormBackward(
  ctx: GpuContext,
  dy: Tensor,
  x: RmsRows,
  rstd: Tensor,
  opts: RmsNormBackwardOptions,
): { dx: Tensor | null; dscale?: Tensor } {
  const what = 'rmsNormBackward';
  const g = rmsGeometry(what, x, opts.heads, opts.dim, opts.rows);
  const dtype = floatDtypeOf(what, g.x);
  const { rows, heads, dim } = g.set;
  const width = heads * dim;
  if (dy.dtype !== 'f32' || dy.numel !== rows * width) {
    throw new ShapeError(`${what}: dy ${dy.toString()} must be [${rows}, ${width}] f32`);
  }
  checkF32(`${what} rstd`, rstd, rows * heads, `[${rows * heads}]`);
  affineCheck(what, 'scale', opts.scale, dim);
  if (opts.dscale && !opts.scale) {
    throw new ShapeError(`${what}: a dscale target needs the forward's scale; pass opts.scale`);
  }
  let dx: { tensor: Tensor; accumulate: boolean; stride: number; offset: number } | null = null;
  if (opts.dx === undefined) {
    dx = { tensor: ctx.empty(dy.shape, 'f32', 'rmsnorm-dx'), accumulate: false, stride: width, offset: 0 };
  } else if (opts.dx) {
    const t = opts.dx;
    const stride = t.stride ?? width;
    const offset = t.offset ?? 0;
    if (
      t.tensor.dtype !== 'f32' ||
      offset + width > stride ||
      (rows > 0 && (rows - 1) * stride + offset + width > t.tensor.numel)
    ) {
      throw new ShapeError(
        `${what}: dx ${t.tensor.toString()} (stride ${stride}, offset ${offset}) must be f32 and hold ${rows} rows × ${width}`,
      );
    }
    dx = { tensor: t.tensor, accumulate: t.accumulate, stride, offset };
  }
  const dscale = opts.scale ? gradOut(ctx, `${what} dscale`, opts.dscale, [dim], 'rmsnorm-dscale') : null;
  runBackward(ctx, {
    set: g.set,
    dtype,
    wg: opts.workgroup ?? normTrainWorkgroup(ctx.caps),
    x: g.x,
    dy,
    mean: null,
    rstd,
    weight: opts.scale,
    rms: true,
    dx,
    sums: dscale ? { a: dscale, b: null } : null,
    rowsPerBlock: opts.rowsPerBlock,
    label: opts.label,
    maxBindingBytes: opts.maxBindingBytes,
  });
  return { dx: dx?.tensor ?? null, ...(dscale ? { dscale: dscale.tensor } : {}) };
}
