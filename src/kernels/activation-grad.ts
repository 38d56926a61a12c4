// Pointwise activation backward passes (tanh-GELU, SiLU, sigmoid) and the stable sigmoid forward,
// for the training tape (see kernels/activation-grad.wgsl).

import type { GpuContext } from '../gpu/context.js';
import { type DeviceCaps, defineKernelFamily } from '../wgsl/family.js';
import { bytesPerElement, type FloatDType } from '../tensor/dtype.js';
import { formatShape, ShapeError } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';
import { ceilDiv, checkOut, floatDtypeOf, fold, type GradTarget } from './common.js';
import { chunkElements, forEachChunk } from './flat-chunks.js';

export type ActivationGradOp = 'gelu_bwd' | 'silu_bwd' | 'sigmoid_fwd' | 'sigmoid_bwd';

export interface ActivationGradVariant {
  readonly op: ActivationGradOp;
  /** Storage of the activation (x, or the sigmoid's output y). */
  readonly x: FloatDType;
  /** Storage of the gradients dy and dx (equal to `x` for sigmoid_fwd). */
  readonly grad: FloatDType;
}

const BACKWARD_OPS: readonly ActivationGradOp[] = ['gelu_bwd', 'silu_bwd', 'sigmoid_bwd'];
/** (activation, gradient) storage pairs: f32 everywhere, f16 activations with f32 or f16 gradients. */
const PAIRS: readonly (readonly [FloatDType, FloatDType])[] = [
  ['f32', 'f32'],
  ['f16', 'f32'],
  ['f16', 'f16'],
];

function wgSize(limits: GPUSupportedLimits): number {
  return Math.min(256, limits.maxComputeInvocationsPerWorkgroup);
}

/** Elements per lane: 8 on software adapters (fewer invocations: 2× on llvmpipe), 4 on GPUs. */
function perLane(caps: DeviceCaps): number {
  return caps.isSoftware ? 8 : 4;
}

export const activationGradFamily = defineKernelFamily<ActivationGradVariant>()({
  name: 'activation-grad',
  file: 'activation-grad.wgsl',
  bindings: [
    { name: 'a', access: 'read' },
    { name: 'b', access: 'read' },
    { name: 'out', access: 'read_write' },
  ],
  params: [
    ['n', 'u32'],
    ['accumulate', 'u32'],
  ],
  entryPoint: (v) => v.op,
  defines: (v) => {
    const fwd = v.op === 'sigmoid_fwd';
    const a = fwd ? v.x : v.grad;
    const b = v.x;
    const o = fwd ? v.x : v.grad;
    return {
      F16: a === 'f16' || b === 'f16' || o === 'f16',
      F16_A: a === 'f16',
      F16_B: b === 'f16',
      F16_O: o === 'f16',
    };
  },
  overrides: (_v, caps) => ({ WG: wgSize(caps.limits), PER: perLane(caps) }),
  variantName: (v) => (v.op === 'sigmoid_fwd' || v.x === v.grad ? `${v.op}_${v.x}` : `${v.op}_${v.x}_grad_${v.grad}`),
  variants: () => [
    ...BACKWARD_OPS.flatMap((op) => PAIRS.map(([x, grad]) => ({ op, x, grad }))),
    { op: 'sigmoid_fwd', x: 'f32', grad: 'f32' },
    { op: 'sigmoid_fwd', x: 'f16', grad: 'f16' },
  ],
});

/**
 * Tolerances against src/ref/activations.ts: f32 `|a − r| ≤ atol + rtol·|r|`; f16 storage of the
 * output by the ratio rule (≤ 2 × the error of the f64 result rounded to f16).
 */
export const tolerance = { f32: { atol: 1e-6, rtol: 1e-5 }, f16: { ratioToRef: 2 } } as const;

export interface ActivationBackwardOptions {
  /** Where dx goes (accumulate: +=, else =); default a fresh tensor shaped like x, dtype of dy. */
  dx?: GradTarget;
  label?: string;
  /** Elements per dispatch at most (tests; default: what one binding holds). */
  chunk?: number;
}

function run(
  ctx: GpuContext,
  a: Tensor,
  b: Tensor | null,
  out: Tensor,
  accumulate: boolean,
  variant: ActivationGradVariant,
  opts: { label?: string; chunk?: number },
): void {
  const n = a.numel;
  const widest = Math.max(...[a, b ?? a, out].map((t) => bytesPerElement(t.dtype)));
  const per = chunkElements(ctx, widest, opts.chunk);
  const wg = wgSize(ctx.caps.limits);
  const dummy = ctx.dummy(a.dtype);
  forEachChunk(n, per, b ? [a, out, b] : [a, out], (c, [va, vo, vb]) => {
    ctx.dispatch(activationGradFamily, variant, {
      bindings: { a: va!, b: vb ?? dummy, out: vo! },
      params: { n: c.length, accumulate: accumulate ? 1 : 0 },
      workgroups: fold(ceilDiv(c.length, wg * perLane(ctx.caps))),
      ...(opts.label ? { label: opts.label } : {}),
    });
  });
}

function backward(
  ctx: GpuContext,
  op: ActivationGradOp,
  what: string,
  dy: Tensor,
  saved: Tensor,
  savedName: string,
  opts: ActivationBackwardOptions,
): Tensor {
  const grad = floatDtypeOf(`${what}: dy`, dy);
  const x = floatDtypeOf(`${what}: ${savedName}`, saved);
  if (dy.numel !== saved.numel) {
    throw new ShapeError(
      `${what}: dy ${formatShape(dy.shape)} must have the forward's shape ${formatShape(saved.shape)} (${saved.numel} elements)`,
    );
  }
  if (x === 'f32' && grad === 'f16') {
    throw new ShapeError(`${what}: f16 dy with an f32 ${savedName} is not supported; pass dy in f32`);
  }
  if (opts.dx) {
    checkOut(`${what}: dx`, opts.dx.tensor, saved.shape, grad);
  }
  const dx = opts.dx?.tensor ?? ctx.empty(saved.shape, grad, opts.label ?? `d${savedName}`);
  run(ctx, dy, saved, dx, opts.dx?.accumulate ?? false, { op, x, grad }, opts);
  return dx;
}

/**
 * tanh-GELU backward (OC3): dx = dy ⊙ gelu'(x) with
 * gelu'(x) = ½(1 + t) + ½·x·(1 − t²)·√(2/π)·(1 + 3·0.044715·x²),  t = tanh(√(2/π)(x + 0.044715·x³)).
 *
 * @param dy gradient of the output, x's shape (f32, or f16 when x is f16)
 * @param x the forward's input, any shape (f32 or f16)
 * @returns dx (`opts.dx.tensor` when given), x's shape, dy's dtype
 */
export function geluBackward(ctx: GpuContext, dy: Tensor, x: Tensor, opts: ActivationBackwardOptions = {}): Tensor {
  return backward(ctx, 'gelu_bwd', 'geluBackward', dy, x, 'x', opts);
}

/**
 * SiLU backward: dx = dy ⊙ σ(x)·(1 + x·(1 − σ(x))).
 *
 * @param dy gradient of the output, x's shape
 * @param x the forward's input, any shape
 * @returns dx, x's shape, dy's dtype
 */
export function siluBackward(ctx: GpuContext, dy: Tensor, x: Tensor, opts: ActivationBackwardOptions = {}): Tensor {
  return backward(ctx, 'silu_bwd', 'siluBackward', dy, x, 'x', opts);
}

/**
 * Sigmoid backward from the saved output: dx = dy ⊙ y ⊙ (1 − y).
 *
 * @param dy gradient of the output, y's shape
 * @param y the forward's output σ(x), any shape
 * @returns dx, y's shape, dy's dtype
 */
export function sigmoidBackward(ctx: GpuContext, dy: Tensor, y: Tensor, opts: ActivationBackwardOptions = {}): Tensor {
  return backward(ctx, 'sigmoid_bwd', 'sigmoidBackward', dy, y, 'y', opts);
}

/**
 * Stable sigmoid, elementwise, any shape: y = σ(x) = 1/(1 + e^−x) for x ≥ 0, e^x/(1 + e^x) for x < 0.
 *
 * @param x any shape, f32 or f16
 * @returns y, x's shape and dtype (`opts.out` when given)
 */
export function sigmoidForward(
  ctx: GpuContext,
  x: Tensor,
  opts: { out?: Tensor; label?: string; chunk?: number } = {},
): Tensor {
  const dtype = floatDtypeOf('sigmoidForward: x', x);
  if (opts.out) {
    checkOut('sigmoidForward', opts.out, x.shape, dtype);
  }
  const y = opts.out ?? ctx.empty(x.shape, dtype, opts.label ?? 'sigmoid');
  run(ctx, x, null, y, false, { op: 'sigmoid_fwd', x: dtype, grad: dtype }, opts);
  return y;
}
