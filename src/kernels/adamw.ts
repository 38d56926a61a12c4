// Fused AdamW (optax.adamw, OC22) over flat f32 arenas, one dispatch per binding-sized chunk,
// with the step-dependent values (lr, bias corrections) in a persistent `hyper` storage tensor
// that the host rewrites before each step: the dispatches and their Params depend only on the
// arena sizes, so a recorded sequence replays every step. Also the squared gradient norm
// (deterministic two-pass) for reporting. See kernels/adamw.wgsl.

import type { GpuContext } from '../gpu/context.js';
import type { DeviceCaps } from '../wgsl/family.js';
import { defineKernelFamily } from '../wgsl/family.js';
import { formatShape, ShapeError } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';
import { ceilDiv, fold } from './common.js';
import { chunkElements, forEachChunk } from './flat-chunks.js';

export interface AdamwVariant {
  readonly entry: 'adamw_step' | 'sumsq' | 'reduce_sum';
}

function wgSize(caps: DeviceCaps): number {
  return Math.min(caps.isSoftware ? 64 : 256, caps.limits.maxComputeInvocationsPerWorkgroup);
}

/** Elements per lane of sumsq (SPAN in the kernel). */
const SUMSQ_SPAN = 32;

/** Elements per lane (PER in the kernel): 8 on software adapters (fewer invocations), 4 on GPUs. */
function perLane(caps: DeviceCaps): number {
  return caps.isSoftware ? 8 : 4;
}

export const adamwFamily = defineKernelFamily<AdamwVariant>()({
  name: 'adamw',
  file: 'adamw.wgsl',
  bindings: [
    { name: 'grad', access: 'read' },
    { name: 'hyper', access: 'read' },
    { name: 'param', access: 'read_write' },
    { name: 'm', access: 'read_write' },
    { name: 'v', access: 'read_write' },
  ],
  params: [
    ['n', 'u32'],
    ['base', 'u32'],
  ],
  entryPoint: (v) => v.entry,
  defines: () => ({}),
  overrides: (_v, caps) => ({ WG: wgSize(caps), PER: perLane(caps) }),
  variantName: (v) => v.entry,
  variants: () => [{ entry: 'adamw_step' }, { entry: 'sumsq' }, { entry: 'reduce_sum' }],
});

/**
 * Tolerances against src/ref/adamw.ts (f64 from the same f32 inputs): p, m, v elementwise
 * `|a − r| ≤ atol·max|r| + rtol·|r|` (atol scaled by the tensor's largest value: m' = (1 − β1)·g +
 * β1·m may cancel); the squared norm `|a − r| ≤ normRtol·r`.
 */
export const tolerance = { f32: { atol: 1e-7, rtol: 2e-6 }, normRtol: 1e-5 } as const;

/** Elements of the hyper tensor (slots 0–10 are used; the rest stay 0). */
export const ADAMW_HYPER_LENGTH = 16;

export interface AdamwHyper {
  /** The rate of this update, lr(step) of the schedule. */
  lr: number;
  /** Updates already applied (0 for the first): bias corrections use t = step + 1. */
  step: number;
  /** β1, default 0.9. */
  b1?: number;
  /** β2, default 0.999. */
  b2?: number;
  /** ε outside the square root, default 1e-8. */
  eps?: number;
  /** ε inside the square root, default 0. */
  epsRoot?: number;
  /** Decoupled weight decay (times lr), default 1e-4, every parameter (OC22). */
  weightDecay?: number;
  /** Factor applied to the gradients (default 1). */
  gradScale?: number;
}

/**
 * The hyper tensor's values (float64 on the host, stored as f32):
 * [lr, β1, β2, ε, wd, 1/(1 − β1^t), 1/(1 − β2^t), 1 − β1, 1 − β2, ε_root, gradScale, 0, …], t = step + 1.
 */
export function adamwHyperValues(h: AdamwHyper): Float32Array {
  if (!Number.isInteger(h.step) || h.step < 0) {
    throw new ShapeError(
      `adamw hyper: step must be the number of updates already applied (integer ≥ 0), got ${h.step}`,
    );
  }
  const b1 = h.b1 ?? 0.9;
  const b2 = h.b2 ?? 0.999;
  const t = h.step + 1;
  const out = new Float32Array(ADAMW_HYPER_LENGTH);
  out.set([
    h.lr,
    b1,
    b2,
    h.eps ?? 1e-8,
    h.weightDecay ?? 1e-4,
    1 / (1 - b1 ** t),
    1 / (1 - b2 ** t),
    1 - b1,
    1 - b2,
    h.epsRoot ?? 0,
    h.gradScale ?? 1,
  ]);
  if (!out.every(Number.isFinite)) {
    throw new ShapeError(`adamw hyper: non-finite values [${Array.from(out.subarray(0, 11)).join(', ')}]`);
  }
  return out;
}

/** A persistent f32 [16] hyper tensor (zeros until written). */
export function createAdamwHyper(ctx: GpuContext, label = 'adamw-hyper'): Tensor {
  return ctx.persistent([ADAMW_HYPER_LENGTH], 'f32', label);
}

/** Rewrites the hyper tensor for the next update (in queue order, after everything recorded). */
export function writeAdamwHyper(ctx: GpuContext, hyper: Tensor, h: AdamwHyper): void {
  checkHyper(hyper);
  ctx.writeTensor(hyper, adamwHyperValues(h));
}

function checkHyper(hyper: Tensor): void {
  if (hyper.dtype !== 'f32' || hyper.numel !== ADAMW_HYPER_LENGTH) {
    throw new ShapeError(`adamw: hyper ${hyper.toString()} must be f32 [${ADAMW_HYPER_LENGTH}] (createAdamwHyper)`);
  }
}

export interface AdamwState {
  /** p, updated in place. */
  param: Tensor;
  /** g (read). */
  grad: Tensor;
  /** First moment, updated in place (zeros before the first update). */
  m: Tensor;
  /** Second moment, updated in place (zeros before the first update). */
  v: Tensor;
}

/**
 * One AdamW update in place, exactly optax.adamw (scale_by_adam → add_decayed_weights →
 * scale_by_learning_rate), elementwise over flat f32 tensors of one length (views into arenas
 * are fine when they start at aligned offsets), with the values of `hyper`:
 *
 * m' = (1 − β1)·g + β1·m,  v' = (1 − β2)·g² + β2·v,
 * u = m'·c1 / (√(v'·c2 + ε_root) + ε) + wd·p,  p' = p − lr·u,   c_k = 1/(1 − β_k^(step+1)).
 *
 * One dispatch per chunk of at most maxStorageBufferBindingSize bytes (or `opts.chunk`
 * elements); nothing in the dispatches depends on the step.
 */
export function adamwStep(
  ctx: GpuContext,
  state: AdamwState,
  hyper: Tensor,
  opts: { chunk?: number; label?: string } = {},
): void {
  checkHyper(hyper);
  const n = state.param.numel;
  const named: [string, Tensor][] = [
    ['param', state.param],
    ['grad', state.grad],
    ['m', state.m],
    ['v', state.v],
  ];
  for (const [name, t] of named) {
    if (t.dtype !== 'f32' || t.numel !== n) {
      throw new ShapeError(
        `adamwStep: ${name} ${t.toString()} must be f32 with ${n} elements (like param ${formatShape(state.param.shape)})`,
      );
    }
  }
  const per = chunkElements(ctx, 4, opts.chunk);
  const wg = wgSize(ctx.caps);
  forEachChunk(n, per, [state.grad, state.param, state.m, state.v], (c, [g, p, m, v]) => {
    ctx.dispatch(
      adamwFamily,
      { entry: 'adamw_step' },
      {
        bindings: { grad: g!, hyper, param: p!, m: m!, v: v! },
        params: { n: c.length, base: 0 },
        workgroups: fold(ceilDiv(c.length, wg * perLane(ctx.caps))),
        ...(opts.label ? { label: opts.label } : {}),
      },
    );
  });
}

/**
 * Σ_i grad_i² (f32), deterministic: per-workgroup partials over each chunk, then one
 * fixed-order reduction. For reporting (the readouts do not clip gradients).
 *
 * @param grad any shape, f32
 * @returns f32 [1]
 */
export function gradNormSquared(ctx: GpuContext, grad: Tensor, opts: { chunk?: number; label?: string } = {}): Tensor {
  if (grad.dtype !== 'f32') {
    throw new ShapeError(`gradNormSquared: grad ${grad.toString()} must be f32`);
  }
  const n = grad.numel;
  const wg = wgSize(ctx.caps);
  const per = chunkElements(ctx, 4, opts.chunk);
  const blocksOf = (len: number): number => ceilDiv(len, SUMSQ_SPAN * wg);
  let total = 0;
  for (let s = 0; s < n; s += per) {
    total += blocksOf(Math.min(per, n - s));
  }
  const out = ctx.empty([1], 'f32', opts.label ?? 'grad-norm2');
  const partials = ctx.empty([Math.max(total, 1)], 'f32', 'grad-norm2-partials');
  const spare = ctx.empty([1], 'f32');
  const f32 = ctx.dummy('f32');
  const label = opts.label ? { label: opts.label } : {};
  let base = 0;
  forEachChunk(n, per, [grad], (c, [g]) => {
    const groups = blocksOf(c.length);
    ctx.dispatch(
      adamwFamily,
      { entry: 'sumsq' },
      {
        bindings: { grad: g!, hyper: f32, param: partials, m: out, v: spare },
        params: { n: c.length, base },
        workgroups: fold(groups),
        ...label,
      },
    );
    base += groups;
  });
  ctx.dispatch(
    adamwFamily,
    { entry: 'reduce_sum' },
    {
      bindings: { grad: f32, hyper: f32, param: partials, m: out, v: spare },
      params: { n: total, base: 0 },
      workgroups: [1],
      ...label,
    },
  );
  partials.dispose();
  spare.dispose();
  return out;
}
