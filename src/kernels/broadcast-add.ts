// Broadcast adds by index arithmetic: the learned temporal position embedding (OC5), row vectors,
// per-sample rows (see kernels/broadcast-add.wgsl). Tensors longer than one binding go in chunks.

import type { GpuContext } from '../gpu/context.js';
import { type DeviceCaps, defineKernelFamily } from '../wgsl/family.js';
import { bytesPerElement, type FloatDType } from '../tensor/dtype.js';
import { formatShape, ShapeError } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';
import { ceilDiv, checkOut, floatDtypeOf, fold } from './common.js';
import { chunkElements, forEachChunk } from './flat-chunks.js';

export interface BroadcastAddVariant {
  readonly dtype: FloatDType;
}

function wgSize(limits: GPUSupportedLimits): number {
  return Math.min(256, limits.maxComputeInvocationsPerWorkgroup);
}

/** Elements per lane: 8 on software adapters (fewer invocations), 4 on GPUs. */
function perLane(caps: DeviceCaps): number {
  return caps.isSoftware ? 8 : 4;
}

export const broadcastAddFamily = defineKernelFamily<BroadcastAddVariant>()({
  name: 'broadcast-add',
  file: 'broadcast-add.wgsl',
  bindings: [
    { name: 'x', access: 'read' },
    { name: 'v', access: 'read' },
    { name: 'y', access: 'read_write' },
  ],
  params: [
    ['n', 'u32'],
    ['base', 'u32'],
    ['inner', 'u32'],
    ['div', 'u32'],
    ['period', 'u32'],
  ],
  defines: (v) => ({ F16: v.dtype === 'f16' }),
  overrides: (_v, caps) => ({ WG: wgSize(caps.limits), PER: perLane(caps) }),
  variantName: (v) => v.dtype,
  variants: () => [{ dtype: 'f32' }, { dtype: 'f16' }],
});

/** Tolerances against src/ref/embedding.ts (one rounding of the sum to the storage type). */
export const tolerance = { f32: { atol: 0, rtol: 6e-8 }, f16: { ratioToRef: 2 } } as const;

/**
 * Which element of v each element of x meets: v index = ((i / div) % period)·inner + i % inner.
 * v has period·inner elements.
 */
export interface BroadcastIndex {
  inner: number;
  div: number;
  period: number;
}

export interface BroadcastAddOptions {
  /** The output (x's shape and dtype); default a fresh tensor. Must not overlap x or v. */
  out?: Tensor;
  label?: string;
  /** Elements per dispatch at most (tests; default: what one binding holds). */
  chunk?: number;
}

/**
 * y[i] = x[i] + v[((i / div) % period)·inner + i % inner], elementwise over x (any shape),
 * f32 math, f32 or f16 storage (x, v and y alike).
 *
 * @param x any shape
 * @param v `period·inner` elements
 * @returns y, x's shape and dtype
 */
export function addBroadcast(
  ctx: GpuContext,
  x: Tensor,
  v: Tensor,
  index: BroadcastIndex,
  opts: BroadcastAddOptions = {},
): Tensor {
  const dtype = floatDtypeOf('addBroadcast: x and v', x, v);
  const { inner, div, period } = index;
  for (const [name, d] of Object.entries(index)) {
    if (!Number.isInteger(d) || d < 1) {
      throw new ShapeError(`addBroadcast: ${name} must be an integer ≥ 1, got ${d}`);
    }
  }
  if (v.numel !== period * inner) {
    throw new ShapeError(
      `addBroadcast: v ${formatShape(v.shape)} must have period·inner = ${period}·${inner} = ${period * inner} elements`,
    );
  }
  if (opts.out) {
    checkOut('addBroadcast', opts.out, x.shape, dtype);
  }
  const y = opts.out ?? ctx.empty(x.shape, dtype, opts.label ?? 'broadcast-add');
  const per = chunkElements(ctx, bytesPerElement(dtype), opts.chunk);
  const wg = wgSize(ctx.caps.limits);
  forEachChunk(x.numel, per, [x, y], (c, [vx, vy]) => {
    ctx.dispatch(
      broadcastAddFamily,
      { dtype },
      {
        bindings: { x: vx!, v, y: vy! },
        params: { n: c.length, base: c.start, inner, div, period },
        workgroups: fold(ceilDiv(c.length, wg * perLane(ctx.caps))),
        ...(opts.label ? { label: opts.label } : {}),
      },
    );
  });
  return y;
}

/**
 * Learned temporal position embedding (OC5), broadcast over batch and tokens:
 * y[b, t, n, c] = x[b, t, n, c] + pe[t, c].
 *
 * Backward: dx = dy (the same tensor), and dpe[t, c] = Σ_b Σ_n dy[b, t, n, c] =
 * `sumOverAxes(ctx, dy, [0, 2], { out: dpeTarget })` (src/kernels/colsum.ts; for a one-clip
 * `[T, N, C]` input: axes `[1]`).
 *
 * @param x `[B, T, N, C]` or `[T, N, C]` (one clip)
 * @param pe `[T, C]`
 * @returns y, x's shape and dtype
 */
export function addTemporalPosenc(ctx: GpuContext, x: Tensor, pe: Tensor, opts: BroadcastAddOptions = {}): Tensor {
  const s = x.shape;
  if (s.length !== 3 && s.length !== 4) {
    throw new ShapeError(`addTemporalPosenc: x ${formatShape(s)} must be [B, T, N, C] or [T, N, C]`);
  }
  const [T, N, C] = s.slice(-3) as [number, number, number];
  if (pe.shape.length !== 2 || pe.shape[0] !== T || pe.shape[1] !== C) {
    throw new ShapeError(`addTemporalPosenc: pe ${formatShape(pe.shape)} must be [T, C] = [${T}, ${C}]`);
  }
  if (x.numel === 0) {
    return opts.out ?? ctx.empty(s, x.dtype, opts.label ?? 'posenc');
  }
  return addBroadcast(ctx, x, pe, { inner: C, div: N * C, period: T }, { label: 'posenc', ...opts });
}

/**
 * A row vector added to every row: y[r, c] = x[r, c] + v[c] (e.g. a bias).
 *
 * @param x `[…, C]`
 * @param v `[C]`
 * @returns y, x's shape and dtype
 */
export function addRowVector(ctx: GpuContext, x: Tensor, v: Tensor, opts: BroadcastAddOptions = {}): Tensor {
  const C = x.shape[x.shape.length - 1];
  if (C === undefined || C < 1 || v.numel !== C) {
    throw new ShapeError(`addRowVector: v ${formatShape(v.shape)} must be [C] = [${C ?? '?'}] (x's last dim)`);
  }
  return addBroadcast(ctx, x, v, { inner: C, div: 1, period: 1 }, opts);
}
