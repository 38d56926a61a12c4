// Element-wise kernels: add, mul, axpby, gated residual, gelu (tanh), silu, copy/cast.

import type { GpuContext } from '../gpu/context.js';
import { defineKernelFamily } from '../wgsl/family.js';
import type { DType, FloatDType } from '../tensor/dtype.js';
import { formatShape, ShapeError } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';
import { ceilDiv, floatDtypeOf, fold } from './common.js';

export type ElementwiseOp = 'add' | 'mul' | 'axpby' | 'gated' | 'gelu' | 'silu' | 'copy';
const OPS: readonly ElementwiseOp[] = ['add', 'mul', 'axpby', 'gated', 'gelu', 'silu', 'copy'];

export interface ElementwiseVariant {
  readonly op: ElementwiseOp;
  readonly dtypeIn: FloatDType;
  readonly dtypeOut: FloatDType;
}

export const elementwiseFamily = defineKernelFamily<ElementwiseVariant>()({
  name: 'elementwise',
  file: 'elementwise.wgsl',
  bindings: [
    { name: 'a', access: 'read' },
    { name: 'b', access: 'read' },
    { name: 'g', access: 'read' },
    { name: 'y', access: 'read_write' },
  ],
  params: [
    ['n', 'u32'],
    ['bcast_inner', 'u32'],
    ['bcast_outer', 'u32'],
    ['alpha', 'f32'],
    ['beta', 'f32'],
  ],
  defines: (v) => ({ [`OP_${v.op.toUpperCase()}`]: true, F16_IN: v.dtypeIn === 'f16', F16_OUT: v.dtypeOut === 'f16' }),
  overrides: (_v, caps) => ({ WG: Math.min(256, caps.limits.maxComputeInvocationsPerWorkgroup) }),
  variantName: (v) => `${v.op}_${v.dtypeIn}${v.dtypeOut === v.dtypeIn ? '' : `_to_${v.dtypeOut}`}`,
  variants: () =>
    OPS.flatMap((op) =>
      (['f32', 'f16'] as const).flatMap((dtypeIn) =>
        (['f32', 'f16'] as const)
          .filter((dtypeOut) => op === 'copy' || dtypeOut === dtypeIn)
          .map((dtypeOut) => ({ op, dtypeIn, dtypeOut })),
      ),
    ),
});

/** Tolerances against the f64 CPU reference (src/ref/elementwise.ts). */
export const tolerance = { f32: { atol: 1e-6, rtol: 1e-5 }, f16: { atol: 2e-3, rtol: 2e-3 } } as const;

/** How the second operand broadcasts against `a` (see the kernel header). */
export interface Broadcast {
  inner: number;
  outer: number;
}

/** Broadcast of a per-sample channel vector `(B, C)` over `(B, rows, C)` (or of `(C)` when B is 1). */
export function channelBroadcast(a: Tensor, channels: number, samples = 1): Broadcast {
  if (a.numel % (channels * samples) !== 0) {
    throw new ShapeError(`broadcast of (${samples},${channels}) over ${formatShape(a.shape)} does not divide`);
  }
  return { inner: channels, outer: a.numel / samples };
}

function run(
  ctx: GpuContext,
  op: ElementwiseOp,
  a: Tensor,
  b: Tensor | null,
  g: Tensor | null,
  bc: Broadcast,
  alpha: number,
  beta: number,
  out?: Tensor,
  dtypeOut?: DType,
): Tensor {
  const dtypeIn = floatDtypeOf(op, ...[a, b, g].filter((t): t is Tensor => t !== null));
  const outDtype = (out?.dtype ?? dtypeOut ?? dtypeIn) as FloatDType;
  const y = out ?? ctx.empty(a.shape, outDtype, op);
  if (y.numel !== a.numel) {
    throw new ShapeError(`${op}: output ${formatShape(y.shape)} does not match input ${formatShape(a.shape)}`);
  }
  const wg = Math.min(256, ctx.caps.limits.maxComputeInvocationsPerWorkgroup);
  ctx.dispatch(
    elementwiseFamily,
    { op, dtypeIn, dtypeOut: outDtype },
    {
      bindings: { a, b: b ?? ctx.dummy(dtypeIn), g: g ?? ctx.dummy(dtypeIn), y },
      params: { n: a.numel, bcast_inner: bc.inner, bcast_outer: bc.outer, alpha, beta },
      workgroups: fold(ceilDiv(a.numel, wg)),
    },
  );
  return y;
}

function checkB(op: string, a: Tensor, b: Tensor, bc: Broadcast): void {
  const need = Math.ceil(a.numel / bc.outer) * bc.inner;
  if (b.numel !== need || bc.outer % bc.inner !== 0) {
    throw new ShapeError(
      `${op}: operand ${formatShape(b.shape)} does not broadcast over ${formatShape(a.shape)} (inner ${bc.inner}, outer ${bc.outer})`,
    );
  }
}

const same = (a: Tensor): Broadcast => ({ inner: a.numel, outer: a.numel });

/** y = a + b (b broadcast per `bc`, same shape by default). */
export function add(ctx: GpuContext, a: Tensor, b: Tensor, bc: Broadcast = same(a), out?: Tensor): Tensor {
  checkB('add', a, b, bc);
  return run(ctx, 'add', a, b, null, bc, 1, 1, out);
}

/** y = a ⊙ b (b broadcast per `bc`). */
export function mul(ctx: GpuContext, a: Tensor, b: Tensor, bc: Broadcast = same(a), out?: Tensor): Tensor {
  checkB('mul', a, b, bc);
  return run(ctx, 'mul', a, b, null, bc, 1, 1, out);
}

/** y = alpha·a + beta·b. */
export function axpby(ctx: GpuContext, alpha: number, a: Tensor, beta: number, b: Tensor, out?: Tensor): Tensor {
  checkB('axpby', a, b, same(a));
  return run(ctx, 'axpby', a, b, null, same(a), alpha, beta, out);
}

/** Gated residual y = x + g ⊙ h, with the gate g broadcast per `bc` (e.g. channelBroadcast). */
export function gatedResidual(ctx: GpuContext, x: Tensor, h: Tensor, g: Tensor, bc: Broadcast, out?: Tensor): Tensor {
  if (h.numel !== x.numel) {
    throw new ShapeError(`gatedResidual: h ${formatShape(h.shape)} vs x ${formatShape(x.shape)}`);
  }
  checkB('gatedResidual', x, g, bc);
  return run(ctx, 'gated', x, h, g, bc, 1, 1, out);
}

export function gelu(ctx: GpuContext, a: Tensor, out?: Tensor): Tensor {
  return run(ctx, 'gelu', a, null, null, same(a), 1, 1, out);
}

export function silu(ctx: GpuContext, a: Tensor, out?: Tensor): Tensor {
  return run(ctx, 'silu', a, null, null, same(a), 1, 1, out);
}

/** Copies (and casts, when dtype differs) a tensor. */
export function cast(ctx: GpuContext, a: Tensor, dtype: FloatDType, out?: Tensor): Tensor {
  return run(ctx, 'copy', a, null, null, same(a), 1, 1, out, dtype);
}
