// AdaLN-LoRA: every layer's modulation A^i = A_base + up_i(down_i(u)) in one dispatch (spec §4.3).
import type { GpuContext } from '../gpu/context.js';
import { defineKernelFamily } from '../wgsl/family.js';
import type { FloatDType } from '../tensor/dtype.js';
import { expectShape } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';
import { ceilDiv, floatDtypeOf, fold } from './common.js';

export interface AdalnVariant {
  readonly dtype: FloatDType;
}

export const adalnFamily = defineKernelFamily<AdalnVariant>()({
  name: 'adaln',
  file: 'adaln.wgsl',
  bindings: [
    { name: 'base', access: 'read' },
    { name: 'd', access: 'read' },
    { name: 'up', access: 'read' },
    { name: 'out', access: 'read_write' },
  ],
  params: [
    ['samples', 'u32'],
    ['layers', 'u32'],
    ['width6', 'u32'],
    ['rank', 'u32'],
  ],
  defines: (v) => ({ F16: v.dtype === 'f16' }),
  overrides: () => ({ WG: 64 }),
  variantName: (v) => v.dtype,
  variants: () => [{ dtype: 'f32' }, { dtype: 'f16' }],
});

export const tolerance = { f32: { atol: 1e-5, rtol: 1e-5 }, f16: { ratioToRef: 2 } } as const;

/**
 * base (S, 6D) = adaln.base(u); d (S, L·r) = stacked downs · u; up (L, 6D, r).
 * Returns the modulation table (S, L·6D): layer i's (γ1, γ2, β1, β2, α1, α2) at columns i·6D….
 */
export function adalnLora(ctx: GpuContext, base: Tensor, d: Tensor, up: Tensor, label = 'adaln'): Tensor {
  const { S, W6 } = expectShape('adaln base', base.shape, ['S', 'W6']);
  const { L, r } = expectShape('adaln up (L, 6D, r)', up.shape, ['L', W6!, 'r']);
  expectShape('adaln d', d.shape, [S!, L! * r!]);
  const dtype = floatDtypeOf('adaln', base, d, up);
  const out = ctx.empty([S!, L! * W6!], dtype, label);
  ctx.dispatch(
    adalnFamily,
    { dtype },
    {
      bindings: { base, d, up, out },
      params: { samples: S!, layers: L!, width6: W6!, rank: r! },
      workgroups: fold(ceilDiv(out.numel, 64)),
    },
  );
  return out;
}
