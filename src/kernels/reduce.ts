// Sum / mean over one axis (feature pooling on the GPU before readback).

import type { GpuContext } from '../gpu/context.js';
import { defineKernelFamily } from '../wgsl/family.js';
import type { FloatDType } from '../tensor/dtype.js';
import { ShapeError } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';
import { ceilDiv, floatDtypeOf, fold } from './common.js';

export interface ReduceVariant {
  readonly dtypeIn: FloatDType;
  readonly dtypeOut: FloatDType;
}

export const reduceFamily = defineKernelFamily<ReduceVariant>()({
  name: 'reduce',
  file: 'reduce.wgsl',
  bindings: [
    { name: 'x', access: 'read' },
    { name: 'y', access: 'read_write' },
  ],
  params: [
    ['outer', 'u32'],
    ['axis', 'u32'],
    ['inner', 'u32'],
    ['scale', 'f32'],
  ],
  defines: (v) => ({ F16_IN: v.dtypeIn === 'f16', F16_OUT: v.dtypeOut === 'f16' }),
  overrides: () => ({ WG: 64 }),
  variantName: (v) => `${v.dtypeIn}_${v.dtypeOut}`,
  variants: () =>
    (['f32', 'f16'] as const).flatMap((dtypeIn) =>
      (['f32', 'f16'] as const).map((dtypeOut) => ({ dtypeIn, dtypeOut })),
    ),
});

export const tolerance = { f32: { atol: 1e-5, rtol: 1e-5 }, f16: { ratioToRef: 2 } } as const;

/**
 * Reduces x viewed as (outer, axis, inner) over the middle axis: mean (default) or sum.
 * Returns (outer, inner) with the given output dtype.
 */
export function reduceAxis(
  ctx: GpuContext,
  x: Tensor,
  outer: number,
  axis: number,
  inner: number,
  opts: { op?: 'mean' | 'sum'; dtype?: FloatDType; label?: string } = {},
): Tensor {
  if (outer * axis * inner !== x.numel) {
    throw new ShapeError(`reduce: (${outer}, ${axis}, ${inner}) does not match ${x.numel} elements`);
  }
  const dtypeIn = floatDtypeOf('reduce', x);
  const dtypeOut = opts.dtype ?? dtypeIn;
  const y = ctx.empty([outer, inner], dtypeOut, opts.label ?? 'reduce');
  ctx.dispatch(
    reduceFamily,
    { dtypeIn, dtypeOut },
    {
      bindings: { x, y },
      params: { outer, axis, inner, scale: (opts.op ?? 'mean') === 'mean' ? 1 / axis : 1 },
      workgroups: fold(ceilDiv(outer * inner, 64)),
    },
  );
  return y;
}
