// A Linear applied per head (kernels/headwise.wgsl): the single-query attention readout's
// key and value maps without materialising keys or values.

import type { GpuContext } from '../gpu/context.js';
import { defineKernelFamily } from '../wgsl/family.js';
import type { FloatDType } from '../tensor/dtype.js';
import { formatShape, ShapeError } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';
import { ceilDiv, floatDtypeOf, fold, type GradTarget } from './common.js';

export type HeadwiseOp = 'contract_c' | 'contract_i' | 'weight_grad' | 'pad_heads' | 'unpad_heads';

export interface HeadwiseVariant {
  readonly op: HeadwiseOp;
  readonly dtype: FloatDType;
}

const WG = 64;

export const headwiseFamily = defineKernelFamily<HeadwiseVariant>()({
  name: 'headwise',
  file: 'headwise.wgsl',
  bindings: [
    { name: 'x', access: 'read' },
    { name: 'w', access: 'read' },
    { name: 'bias', access: 'read' },
    { name: 'y', access: 'read_write' },
  ],
  params: [
    ['z', 'u32'],
    ['heads', 'u32'],
    ['d', 'u32'],
    ['c', 'u32'],
    ['has_bias', 'u32'],
    ['accumulate', 'u32'],
  ],
  entryPoint: (v) => v.op,
  defines: (v) => ({ F16: v.dtype === 'f16' }),
  overrides: () => ({ WG }),
  variantName: (v) => `${v.op}_${v.dtype}`,
  variants: () =>
    (['contract_c', 'contract_i', 'weight_grad', 'pad_heads', 'unpad_heads'] as const).flatMap((op) =>
      (['f32', 'f16'] as const).map((dtype) => ({ op, dtype })),
    ),
});

/** f32 accumulation over at most a few thousand terms. */
export const tolerance = { f32: { atol: 1e-5, rtol: 1e-5 } } as const;

interface Dims {
  z: number;
  heads: number;
  d: number;
  c: number;
}

function dispatch(
  ctx: GpuContext,
  op: HeadwiseOp,
  x: Tensor,
  w: Tensor,
  bias: Tensor | undefined,
  dims: Dims,
  outShape: number[],
  target: GradTarget | Tensor | undefined,
  label: string,
): Tensor {
  const dtype = floatDtypeOf(`headwise ${op}`, x, w);
  const tgt: GradTarget | null = target ? ('tensor' in target ? target : { tensor: target, accumulate: false }) : null;
  const n = outShape.reduce((a, b) => a * b, 1);
  const y = tgt?.tensor ?? ctx.empty(outShape, dtype, label);
  if (y.numel !== n || y.dtype !== dtype) {
    throw new ShapeError(`headwise ${op}: out ${y.toString()} must hold ${formatShape(outShape)} ${dtype}`);
  }
  ctx.dispatch(
    headwiseFamily,
    { op, dtype },
    {
      bindings: { x, w, bias: bias ?? ctx.dummy(dtype), y },
      params: { ...dims, has_bias: bias ? 1 : 0, accumulate: tgt?.accumulate ? 1 : 0 },
      workgroups: fold(ceilDiv(n, WG)),
      label,
    },
  );
  return y;
}

function headDims(what: string, w: Tensor, heads: number): { d: number; c: number } {
  if (w.shape.length !== 2 || w.shape[0]! % heads !== 0) {
    throw new ShapeError(`${what}: weight ${w.toString()} must be [heads·d, C] with ${heads} heads`);
  }
  return { d: w.shape[0]! / heads, c: w.shape[1]! };
}

/** y[z, h, i] = Σ_c W[h·d + i, c] x[z, h, c] + b[h·d + i]: x [Z, H, C] → y [Z, H·d]. */
export function headwiseLinear(
  ctx: GpuContext,
  x: Tensor,
  w: Tensor,
  heads: number,
  opts: { bias?: Tensor; out?: GradTarget | Tensor } = {},
): Tensor {
  const { d, c } = headDims('headwiseLinear', w, heads);
  const z = x.numel / (heads * c);
  if (!Number.isInteger(z) || x.shape[x.shape.length - 1] !== c) {
    throw new ShapeError(`headwiseLinear: x ${x.toString()} must be [Z, ${heads}, ${c}]`);
  }
  if (opts.bias && opts.bias.numel !== heads * d) {
    throw new ShapeError(`headwiseLinear: bias ${opts.bias.toString()} must have ${heads * d} elements`);
  }
  return dispatch(ctx, 'contract_c', x, w, opts.bias, { z, heads, d, c }, [z, heads * d], opts.out, 'headwise');
}

/** y[z, h, c] = Σ_i W[h·d + i, c] x[z, h, i]: x [Z, H·d] → y [Z, H, C] (the transposed map). */
export function headwiseLinearT(
  ctx: GpuContext,
  x: Tensor,
  w: Tensor,
  heads: number,
  opts: { out?: GradTarget | Tensor } = {},
): Tensor {
  const { d, c } = headDims('headwiseLinearT', w, heads);
  const z = x.numel / (heads * d);
  if (!Number.isInteger(z)) {
    throw new ShapeError(`headwiseLinearT: x ${x.toString()} must be [Z, ${heads}·${d}]`);
  }
  return dispatch(ctx, 'contract_i', x, w, undefined, { z, heads, d, c }, [z, heads, c], opts.out, 'headwise-t');
}

/** dW[h·d + i, c] (+)= Σ_z a[z, h, i] b[z, h, c]: a [Z, H·d], b [Z, H, C] → [H·d, C]. */
export function headwiseWeightGrad(
  ctx: GpuContext,
  a: Tensor,
  b: Tensor,
  heads: number,
  opts: { out?: GradTarget | Tensor } = {},
): Tensor {
  const c = b.shape[b.shape.length - 1]!;
  const z = b.numel / (heads * c);
  const d = a.numel / (z * heads);
  if (!Number.isInteger(z) || !Number.isInteger(d)) {
    throw new ShapeError(`headwiseWeightGrad: a ${a.toString()} and b ${b.toString()} do not share [Z, ${heads}, ·]`);
  }
  return dispatch(ctx, 'weight_grad', a, b, undefined, { z, heads, d, c }, [heads * d, c], opts.out, 'headwise-dw');
}

/**
 * Pads every head of x [R, H·d] to `padded` ≥ d columns with zeros → [R, H·padded] (head widths
 * that the cross-attention kernel does not take, e.g. the tiny test heads' d = 3).
 */
export function padHeads(ctx: GpuContext, x: Tensor, heads: number, d: number, padded: number): Tensor {
  const z = x.numel / (heads * d);
  if (!Number.isInteger(z) || padded < d) {
    throw new ShapeError(`padHeads: x ${x.toString()} is not [R, ${heads}·${d}] or ${padded} < ${d}`);
  }
  return dispatch(
    ctx,
    'pad_heads',
    x,
    x,
    undefined,
    { z, heads, d, c: padded },
    [z, heads * padded],
    undefined,
    'pad-heads',
  );
}

/** The inverse of padHeads (drops the padding columns), into a new tensor or a gradient target. */
export function unpadHeads(
  ctx: GpuContext,
  x: Tensor,
  heads: number,
  d: number,
  padded: number,
  opts: { out?: GradTarget | Tensor } = {},
): Tensor {
  const z = x.numel / (heads * padded);
  if (!Number.isInteger(z)) {
    throw new ShapeError(`unpadHeads: x ${x.toString()} is not [R, ${heads}·${padded}]`);
  }
  return dispatch(
    ctx,
    'unpad_heads',
    x,
    x,
    undefined,
    { z, heads, d, c: padded },
    [z, heads * d],
    opts.out,
    'unpad-heads',
  );
}
