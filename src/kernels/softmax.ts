// Row softmax with a scale (the unfused attention baseline and readouts use it).

import type { GpuContext } from '../gpu/context.js';
import { defineKernelFamily } from '../gpu/family.js';
import type { FloatDType } from '../tensor/dtype.js';
import { ShapeError } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';
import { floatDtypeOf, fold } from './common.js';

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

export const tolerance = { f32: { atol: 1e-6, rtol: 1e-5 }, f16: { ratioToRef: 2 } } as const;

/** y[r, :] = softmax(scale · x[r, :]) over the last dimension. */
export function softmax(
  ctx: GpuContext,
  x: Tensor,
  opts: { scale?: number; out?: Tensor; label?: string } = {},
): Tensor {
  const cols = x.shape[x.shape.length - 1];
  if (cols === undefined || cols < 1) {
    throw new ShapeError('softmax: needs a non-empty last dimension');
  }
  const dtype = floatDtypeOf('softmax', x);
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
