// LayerNorm over the last dimension: plain, affine (weight/bias), or AdaLN-modulated
// `LN(x)·(1+γ)+β`; strided rows for qk-norm straight out of a qkv tensor.

import type { GpuContext } from '../gpu/context.js';
import { defineKernelFamily } from '../wgsl/family.js';
import type { FloatDType } from '../tensor/dtype.js';
import { formatShape, ShapeError } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';
import { ceilDiv, floatDtypeOf, fold } from './common.js';

export interface LayernormVariant {
  readonly dtype: FloatDType;
  readonly affineW: boolean;
  readonly affineB: boolean;
  readonly modulate: boolean;
  readonly rowPerThread: boolean;
}

/** Rows of at most this many columns are normalised one row per invocation. */
const ROW_PER_THREAD_MAX_COLS = 128;

export const layernormFamily = defineKernelFamily<LayernormVariant>()({
  name: 'layernorm',
  file: 'layernorm.wgsl',
  bindings: [
    { name: 'x', access: 'read' },
    { name: 'w', access: 'read' },
    { name: 'bias', access: 'read' },
    { name: 'y', access: 'read_write' },
  ],
  params: [
    ['rows', 'u32'],
    ['cols', 'u32'],
    ['rows_inner', 'u32'],
    ['inner_stride', 'u32'],
    ['outer_stride', 'u32'],
    ['x_offset', 'u32'],
    ['rows_per_sample', 'u32'],
    ['mod_stride', 'u32'],
    ['gamma_offset', 'u32'],
    ['beta_offset', 'u32'],
    ['eps', 'f32'],
    ['out_scale', 'f32'],
  ],
  defines: (v) => ({
    F16: v.dtype === 'f16',
    AFFINE_W: v.affineW,
    AFFINE_B: v.affineB,
    MODULATE: v.modulate,
    ROW_PER_THREAD: v.rowPerThread,
  }),
  overrides: (v, caps) => ({
    WG: v.rowPerThread ? 64 : Math.min(caps.isSoftware ? 32 : 128, caps.limits.maxComputeInvocationsPerWorkgroup),
  }),
  variantName: (v) =>
    [v.dtype, v.modulate ? 'mod' : '', v.affineW ? 'w' : '', v.affineB ? 'b' : '', v.rowPerThread ? 'rpt' : 'rpw']
      .filter(Boolean)
      .join('_'),
  variants: () =>
    (['f32', 'f16'] as const).flatMap((dtype) =>
      [false, true].flatMap((rowPerThread) => [
        { dtype, affineW: false, affineB: false, modulate: false, rowPerThread },
        { dtype, affineW: true, affineB: false, modulate: false, rowPerThread },
        { dtype, affineW: true, affineB: true, modulate: false, rowPerThread },
        { dtype, affineW: false, affineB: false, modulate: true, rowPerThread },
      ]),
    ),
});

export const tolerance = { f32: { atol: 1e-5, rtol: 1e-4 }, f16: { ratioToRef: 2 } } as const;

/** Where the rows come from when they are not a contiguous (rows, C) tensor. */
export interface RowLayout {
  rows: number;
  rowsInner: number;
  innerStride: number;
  outerStride: number;
  offset: number;
}

export interface LayernormOptions {
  eps?: number;
  weight?: Tensor;
  bias?: Tensor;
  /** AdaLN modulation table (S, stride): γ at gammaOffset, β at betaOffset of each sample's row. */
  modulation?: { table: Tensor; stride: number; gammaOffset: number; betaOffset: number; rowsPerSample: number };
  /** Multiplies the result (e.g. 1/√d for q). */
  outScale?: number;
  rows?: RowLayout;
  out?: Tensor;
  label?: string;
}

/**
 * LayerNorm of each row of `x` over `cols` values. By default x is (…, C) contiguous and
 * cols = C; `rows` describes strided rows (qk-norm). Output is contiguous (rows, cols).
 */
export function layernorm(ctx: GpuContext, x: Tensor, cols: number, opts: LayernormOptions = {}): Tensor {
  const dtype = floatDtypeOf('layernorm', x);
  const layout: RowLayout = opts.rows ?? {
    rows: x.numel / cols,
    rowsInner: 1,
    innerStride: 0,
    outerStride: cols,
    offset: 0,
  };
  if (!Number.isInteger(layout.rows) || cols < 1) {
    throw new ShapeError(`layernorm: ${formatShape(x.shape)} is not a whole number of rows of ${cols}`);
  }
  const lastRow =
    layout.offset +
    Math.floor((layout.rows - 1) / layout.rowsInner) * layout.outerStride +
    ((layout.rows - 1) % layout.rowsInner) * layout.innerStride;
  if (lastRow + cols > x.numel) {
    throw new ShapeError(`layernorm: row layout reaches element ${lastRow + cols} of ${formatShape(x.shape)}`);
  }
  for (const [n, t] of [
    ['weight', opts.weight],
    ['bias', opts.bias],
  ] as const) {
    if (t && t.numel !== cols) {
      throw new ShapeError(`layernorm: ${n} ${formatShape(t.shape)} must have ${cols} elements`);
    }
  }
  const mod = opts.modulation;
  if (
    mod &&
    (layout.rows % mod.rowsPerSample !== 0 || mod.table.numel < (layout.rows / mod.rowsPerSample) * mod.stride)
  ) {
    throw new ShapeError(
      `layernorm: modulation table ${formatShape(mod.table.shape)} does not cover ${layout.rows} rows`,
    );
  }
  const y = opts.out ?? ctx.empty(opts.rows ? [layout.rows, cols] : x.shape, dtype, opts.label ?? 'layernorm');
  if (y.numel !== layout.rows * cols) {
    throw new ShapeError(`layernorm: out ${formatShape(y.shape)} must hold ${layout.rows}×${cols}`);
  }
  const rowPerThread = cols <= ROW_PER_THREAD_MAX_COLS;
  const d = ctx.dummy(dtype);
  ctx.dispatch(
    layernormFamily,
    { dtype, affineW: !mod && !!opts.weight, affineB: !mod && !!opts.bias, modulate: !!mod, rowPerThread },
    {
      bindings: { x, w: mod ? mod.table : (opts.weight ?? d), bias: opts.bias ?? d, y },
      params: {
        rows: layout.rows,
        cols,
        rows_inner: layout.rowsInner,
        inner_stride: layout.innerStride,
        outer_stride: layout.outerStride,
        x_offset: layout.offset,
        rows_per_sample: mod?.rowsPerSample ?? layout.rows,
        mod_stride: mod?.stride ?? 0,
        gamma_offset: mod?.gammaOffset ?? 0,
        beta_offset: mod?.betaOffset ?? 0,
        eps: opts.eps ?? 1e-6,
        out_scale: opts.outScale ?? 1,
      },
      workgroups: rowPerThread ? fold(ceilDiv(layout.rows, 64)) : fold(layout.rows),
      ...(opts.label ? { label: opts.label } : {}),
    },
  );
  return y;
}
