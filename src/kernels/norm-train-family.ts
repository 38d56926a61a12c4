// The training norms' kernel family (kernels/norm-train.wgsl): its variants (dtype, entry point,
// vec4 loads, workgroup size), the Params flag bits, the workgroup size per adapter, the test
// tolerances, and the invocations per row of the row kernels. Shared by the LayerNorm and RMSNorm
// wrappers (norm-train-layer.ts, norm-train-rms.ts) through norm-train-run.ts.

import { type DeviceCaps, defineKernelFamily } from '../wgsl/family.js';
import type { FloatDType } from '../tensor/dtype.js';

export type NormTrainEntry = 'forward' | 'backward' | 'col_sums';

export interface NormTrainVariant {
  readonly dtype: FloatDType;
  readonly entry: NormTrainEntry;
  /** Four values per invocation step through vec4 loads (every row length, stride and offset a multiple of 4). */
  readonly vec4: boolean;
  /** Invocations per workgroup (a power of two): {@link normTrainWorkgroup} unless forced. */
  readonly wg: number;
}

/** Bits of Params.flags (kernels/norm-train.wgsl). */
export const NORM_TRAIN_FLAGS = { weight: 1, bias: 2, rms: 4, accumulate: 8, wantB: 16 } as const;

/** The workgroup sizes the wrapper may pick on any adapter (software, GPU). */
export const NORM_TRAIN_WORKGROUPS = [64, 256] as const;

/** Workgroup size on this adapter: 64 on software adapters, 256 on GPUs (within the device limit). */
export function normTrainWorkgroup(caps: DeviceCaps): number {
  const want = caps.isSoftware ? 64 : 256;
  return Math.min(want, 2 ** Math.floor(Math.log2(caps.limits.maxComputeInvocationsPerWorkgroup)));
}

export const normTrainFamily = defineKernelFamily<NormTrainVariant>()({
  name: 'norm-train',
  file: 'norm-train.wgsl',
  bindings: [
    { name: 'x', access: 'read' },
    { name: 'p', access: 'read' },
    { name: 'q', access: 'read' },
    { name: 'mean_in', access: 'read' },
    { name: 'rstd_in', access: 'read' },
    { name: 'y', access: 'read_write' },
    { name: 'out_a', access: 'read_write' },
    { name: 'out_b', access: 'read_write' },
  ],
  params: [
    ['rows', 'u32'],
    ['cols', 'u32'],
    ['lanes', 'u32'],
    ['rows_inner', 'u32'],
    ['inner_stride', 'u32'],
    ['outer_stride', 'u32'],
    ['x_offset', 'u32'],
    ['out_outer_stride', 'u32'],
    ['out_offset', 'u32'],
    ['rows_per_block', 'u32'],
    ['block_offset', 'u32'],
    ['flags', 'u32'],
    ['eps', 'f32'],
  ],
  entryPoint: (v) => v.entry,
  defines: (v) => ({ F16: v.dtype === 'f16', VEC4: v.vec4 }),
  overrides: (v) => ({ WG: v.wg }),
  variantName: (v) => `${v.dtype}_${v.entry}${v.vec4 ? '_v4' : ''}_wg${v.wg}`,
  variants: () =>
    (['f32', 'f16'] as const).flatMap((dtype) =>
      (['forward', 'backward', 'col_sums'] as const).flatMap((entry) =>
        [false, true].flatMap((vec4) => NORM_TRAIN_WORKGROUPS.map((wg) => ({ dtype, entry, vec4, wg }))),
      ),
    ),
});

/**
 * Tolerances vs the f64 references (src/ref/layernorm.ts): y, dx and the column sums in f32;
 * f16 storage of x/y by the ratio rule (test/helpers/compare.ts).
 */
export const tolerance = { f32: { atol: 2e-5, rtol: 1e-4, nmse: 1e-9 }, f16: { ratioToRef: 2 } } as const;

/** The smallest power of two ≥ n (1 for n ≤ 1). */
export function nextPow2(n: number): number {
  return 2 ** Math.ceil(Math.log2(Math.max(1, n)));
}

/**
 * Invocations per row for the row kernels, a power of two ≤ wg, for `cols` kernel columns
 * (values, or vec4s). GPU workgroups (256): about 4 columns each, so a row's loads coalesce.
 * Software workgroups (64): one invocation per row, because a barrier of a tree step costs
 * llvmpipe more than the loads it spreads (measured at 4352 × 1088: 16 ms with one lane per
 * row, 30 ms with 8, 95 ms with 64).
 */
export function rowLanes(cols: number, wg: number): number {
  return wg <= 64 ? 1 : Math.min(wg, nextPow2(Math.ceil(cols / 4)));
}
