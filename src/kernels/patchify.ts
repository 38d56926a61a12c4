// Latent ↔ token layouts for patch sizes 1 and 2 (spec §4.2, §4.8).
import type { GpuContext } from '../gpu/context.js';
import { defineKernelFamily } from '../wgsl/family.js';
import type { FloatDType } from '../tensor/dtype.js';
import { expectShape, ShapeError } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';
import { ceilDiv, floatDtypeOf, fold } from './common.js';

export interface PatchifyVariant {
  readonly dtype: FloatDType;
  readonly inverse: boolean;
}

export const patchifyFamily = defineKernelFamily<PatchifyVariant>()({
  name: 'patchify',
  file: 'patchify.wgsl',
  bindings: [
    { name: 'src', access: 'read' },
    { name: 'dst', access: 'read_write' },
  ],
  params: [
    ['frames', 'u32'],
    ['height', 'u32'],
    ['width', 'u32'],
    ['c_z', 'u32'],
    ['c_tok', 'u32'],
    ['patch_size', 'u32'],
  ],
  defines: (v) => ({ F16: v.dtype === 'f16', UNPATCHIFY: v.inverse }),
  overrides: () => ({ WG: 64 }),
  variantName: (v) => `${v.dtype}${v.inverse ? '_inverse' : ''}`,
  variants: () => (['f32', 'f16'] as const).flatMap((dtype) => [false, true].map((inverse) => ({ dtype, inverse }))),
});

/** z (B, T, H, W, C_z) → tokens (B·T·(H/p)·(W/p), p²·C_in), channels C_z…C_in−1 zero. */
export function patchify(ctx: GpuContext, z: Tensor, patch: number, cIn: number): Tensor {
  const { B, T, H, W, C } = expectShape('patchify z', z.shape, ['B', 'T', 'H', 'W', 'C']);
  if (H! % patch !== 0 || W! % patch !== 0 || C! > cIn) {
    throw new ShapeError(`patchify: latent ${H}x${W}x${C} does not fit patch ${patch} with ${cIn} input channels`);
  }
  const dtype = floatDtypeOf('patchify', z);
  const rows = B! * T! * (H! / patch) * (W! / patch);
  const out = ctx.empty([rows, patch * patch * cIn], dtype, 'tokens');
  ctx.dispatch(
    patchifyFamily,
    { dtype, inverse: false },
    {
      bindings: { src: z, dst: out },
      params: { frames: B! * T!, height: H!, width: W!, c_z: C!, c_tok: cIn, patch_size: patch },
      workgroups: fold(ceilDiv(out.numel, 64)),
    },
  );
  return out;
}

/** tokens (B·T·(H/p)·(W/p), p²·C) → z (B, T, H, W, C). */
export function unpatchify(
  ctx: GpuContext,
  tokens: Tensor,
  dims: readonly [number, number, number, number],
  patch: number,
  c: number,
): Tensor {
  const [B, T, H, W] = dims;
  expectShape('unpatchify tokens', tokens.shape, [B * T * (H / patch) * (W / patch), patch * patch * c]);
  const dtype = floatDtypeOf('unpatchify', tokens);
  const out = ctx.empty([B, T, H, W, c], dtype, 'latent');
  ctx.dispatch(
    patchifyFamily,
    { dtype, inverse: true },
    {
      bindings: { src: tokens, dst: out },
      params: { frames: B * T, height: H, width: W, c_z: c, c_tok: c, patch_size: patch },
      workgroups: fold(ceilDiv(out.numel, 64)),
    },
  );
  return out;
}
