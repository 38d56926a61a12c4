// Row softmax with a scale (the unfused attention baseline and readouts use it) and its backward
// from the saved output (readout training).

import type { GpuContext } from '../gpu/context.js';
import { defineKernelFamily } from '../wgsl/family.js';
import type { FloatDType } from '../tensor/dtype.js';
import { ShapeError } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';
import { checkOut, floatDtypeOf, fold, type GradTarget } from './common.js';

export interface SoftmaxVariant {
  readonly dtype: FloatDType;
}

export const softmaxFamily = defineKernelFamily<SoftmaxVariant>()({
  name: 'softmax',
  file: 'softmax.wgsl',
  bindings: [
    { name: 'x', access: 'read' },
    { name: 'y', access: 'read_write' },
  ],
  params: [
    ['rows', 'u32'],
    ['cols', 'u32'],
    ['scale', 'f32'],
  ],
  defines: (v) => ({ F16: v.dtype === 'f16' }),
  overrides: (_v, caps) => ({ WG: caps.isSoftware ? 32 : 128 }),
  variantName: (v) => v.dtype,
  variants: () => [{ dtype: 'f32' }, { dtype: 'f16' }],
});

/** The backward: the same file with BACKWARD (its own bindings and entry point). */
export const softmaxBackwardFamily = defineKernelFamily<SoftmaxVariant>()({
  name: 'softmax-backward',
  file: 'softmax.wgsl',
  bindings: [
    { name: 'dy', access: 'read' },
    { name: 'y', access: 'read' },
    { name: 'dx', access: 'read_write' },
  ],
  params: [
    ['rows', 'u32'],
    ['cols', 'u32'],
    ['scale', 'f32'],
    ['accumulate', 'u32'],
  ],
  entryPoint: () => 'backward',
  defines: (v) => ({ F16: v.dtype === 'f16', BACKWARD: true }),
  overrides: (_v, caps) => ({ WG: caps.isSoftware ? 32 : 128 }),
  variantName: (v) => v.dtype,
  variants: () => [{ dtype: 'f32' }, { dtype: 'f16' }],
});

export const tolerance = { f32: { atol: 1e-6, rtol: 1e-5 }, f16: { ratioToRef: 2 } } as const;

function lastDim(what: string, t: Tensor): number {
  const cols = t.shape[t.shape.length - 1];
  if (cols === undefined || cols < 1) {
    throw new ShapeError(`${what}: needs a non-empty last dimension, got ${t.toString()}`);
  }
  return cols;
}

/**
 * Row softmax over the last dimension: y[r, c] = exp(s·x[r, c] − m_r) / Σ_c' exp(s·x[r, c'] − m_r)
 * with m_r = max_c s·x[r, c] and s = `scale` (default 1).
 *
 * @param x [..., C]
 * @returns y, the shape and dtype of x (`out` when given)
 */
export function softmax(
  ctx: GpuContext,
  x: Tensor,
  opts: { scale?: number; out?: Tensor; label?: string } = {},
): Tensor {
  const cols = lastDim('softmax', x);
  const dtype = floatDtypeOf('softmax', x);
  if (opts.out) {
    checkOut('softmax', opts.out, x.shape, dtype);
  }
  const y = opts.out ?? ctx.empty(x.shape, dtype, opts.label ?? 'softmax');
  const rows = x.numel / cols;
  ctx.dispatch(
    softmaxFamily,
    { dtype },
    {
      bindings: { x, y },
      params: { rows, cols, scale: opts.scale ?? 1 },
      workgroups: fold(rows),
      ...(opts.label ? { label: opts.label } : {}),
    },
  );
  return y;
}

/**
 * Softmax backward from the saved output, over the last dimension: for y = softmax(s·x),
 * dx[r, c] = s · y[r, c] · (dy[r, c] − Σ_c' dy[r, c']·y[r, c']).
 * The row sum is a fixed-order tree (bit-identical reruns); `dx.accumulate` adds (+=) into the
 * target, else it is overwritten; without a target a fresh tensor is returned.
 *
 * @param dy [..., C], the gradient of y
 * @param y [..., C] from {@link softmax} (same shape and dtype as dy)
 * @returns dx, the shape and dtype of y (the target's tensor when given)
 */
export function softmaxBackward(
  ctx: GpuContext,
  dy: Tensor,
  y: Tensor,
  opts: { scale?: number; dx?: GradTarget; label?: string } = {},
): Tensor {
  const cols = lastDim('softmaxBackward y', y);
  const dtype = floatDtypeOf('softmaxBackward', dy, y);
  checkOut('softmaxBackward dy', dy, y.shape, dtype);
  if (opts.dx) {
    checkOut('softmaxBackward dx', opts.dx.tensor, y.shape, dtype);
  }
  const dx = opts.dx?.tensor ?? ctx.empty(y.shape, dtype, opts.label ?? 'softmax.dx');
  const rows = y.numel / cols;
  ctx.dispatch(
    softmaxBackwardFamily,
    { dtype },
    {
      bindings: { dy, y, dx },
      params: { rows, cols, scale: opts.scale ?? 1, accumulate: opts.dx?.accumulate ? 1 : 0 },
      workgroups: fold(rows),
      ...(opts.label ? { label: opts.label } : {}),
    },
  );
  return dx;
}
