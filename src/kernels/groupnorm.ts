// GroupNorm with per-frame statistics (spec §3.3, §3.6), fused with swish; channels-last video
// (T, H, W, C). Tensors larger than the binding limit are processed in frame chunks.

import type { GpuContext } from '../gpu/context.js';
import { defineKernelFamily } from '../wgsl/family.js';
import type { FloatDType } from '../tensor/dtype.js';
import { bytesPerElement } from '../tensor/dtype.js';
import { expectShape, ShapeError } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';
import { ceilDiv, checkOut, floatDtypeOf, fold } from './common.js';

export interface GroupnormVariant {
  readonly dtype: FloatDType;
  readonly stage: 'stats' | 'apply';
  readonly swish: boolean;
}

export const groupnormFamily = defineKernelFamily<GroupnormVariant>()({
  name: 'groupnorm',
  file: 'groupnorm.wgsl',
  bindings: [
    { name: 'x', access: 'read' },
    { name: 'gamma', access: 'read' },
    { name: 'beta', access: 'read' },
    { name: 'stats', access: 'read_write' },
    { name: 'y', access: 'read_write' },
  ],
  params: [
    ['frames', 'u32'],
    ['pixels', 'u32'],
    ['channels', 'u32'],
    ['groups', 'u32'],
    ['t0', 'u32'],
    ['eps', 'f32'],
  ],
  entryPoint: (v) => (v.stage === 'stats' ? 'stats_main' : 'apply_main'),
  defines: (v) => ({ F16: v.dtype === 'f16', SWISH: v.stage === 'apply' && v.swish }),
  overrides: (v, caps) => ({ WG: v.stage === 'stats' ? (caps.isSoftware ? 32 : 256) : 256 }),
  variantName: (v) => `${v.dtype}_${v.stage}${v.stage === 'apply' && v.swish ? '_swish' : ''}`,
  variants: () =>
    (['f32', 'f16'] as const).flatMap((dtype) => [
      { dtype, stage: 'stats' as const, swish: false },
      { dtype, stage: 'apply' as const, swish: false },
      { dtype, stage: 'apply' as const, swish: true },
    ]),
});

export const tolerance = { f32: { atol: 1e-5, rtol: 1e-4 }, f16: { ratioToRef: 2 } } as const;

/** Frames per chunk so that a chunk of x stays within the storage binding limit. */
export function framesPerChunk(ctx: GpuContext, frameBytes: number): number {
  const n = Math.floor(ctx.caps.limits.maxStorageBufferBindingSize / frameBytes);
  if (n < 1) {
    throw new ShapeError(
      `one frame is ${frameBytes} bytes, above maxStorageBufferBindingSize (${ctx.caps.limits.maxStorageBufferBindingSize}); use a smaller resolution`,
    );
  }
  return n;
}

/**
 * y = swish?(GroupNorm_G(x)·γ + β) with statistics per frame and group. x (T, H, W, C).
 * Returns y (same shape and dtype); `stats` (T, G, 2) f32 is returned too when asked.
 */
export function groupnorm(
  ctx: GpuContext,
  x: Tensor,
  gamma: Tensor,
  beta: Tensor,
  groups: number,
  opts: { swish?: boolean; eps?: number; out?: Tensor; label?: string } = {},
): Tensor {
  const { T, H, W, C } = expectShape('groupnorm x', x.shape, ['T', 'H', 'W', 'C']);
  expectShape('groupnorm gamma', gamma.shape, [C!]);
  expectShape('groupnorm beta', beta.shape, [C!]);
  if (C! % groups !== 0) {
    throw new ShapeError(`groupnorm: ${C} channels do not split into ${groups} groups`);
  }
  const dtype = floatDtypeOf('groupnorm', x, gamma, beta);
  if (opts.out) {
    checkOut('groupnorm', opts.out, x.shape, dtype);
  }
  const y = opts.out ?? ctx.empty(x.shape, dtype, opts.label ?? 'groupnorm');
  const stats = ctx.empty([T!, groups, 2], 'f32', 'gn-stats');
  const pixels = H! * W!;
  const frameElems = pixels * C!;
  const chunk = framesPerChunk(ctx, frameElems * bytesPerElement(dtype));
  const eps = opts.eps ?? 1e-6;
  const wgApply = 256;
  for (let t0 = 0; t0 < T!; t0 += chunk) {
    const frames = Math.min(chunk, T! - t0);
    const xs = T! <= chunk ? x : x.view(t0 * frameElems, [frames, H!, W!, C!]);
    const ys = T! <= chunk ? y : y.view(t0 * frameElems, [frames, H!, W!, C!]);
    const params = { frames, pixels, channels: C!, groups, t0, eps };
    const lbl = opts.label ? { label: opts.label } : {};
    ctx.dispatch(
      groupnormFamily,
      { dtype, stage: 'stats', swish: false },
      {
        bindings: { x: xs, gamma, beta, stats, y: ctx.dummy('f32') },
        params,
        workgroups: [frames, groups],
        ...lbl,
      },
    );
    ctx.dispatch(
      groupnormFamily,
      { dtype, stage: 'apply', swish: opts.swish ?? false },
      {
        bindings: { x: xs, gamma, beta, stats, y: ys },
        params,
        workgroups: fold(ceilDiv(frames * frameElems, wgApply)),
        ...lbl,
      },
    );
    if (xs !== x) {
      xs.dispose();
      ys.dispose();
    }
  }
  stats.dispose();
  return y;
}
