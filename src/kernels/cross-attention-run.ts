// The argument checks, views and dispatch plumbing shared by the cross-attention forward and
// backward wrappers: dims and head views checked against each other, contiguous tensors of a row
// count, spare bindings, row blocks bound per batch chunk (views from aligned elements), the
// problems per dispatch that keep bindings within the device's limits, the grid checks, the tile
// per pass, and the Params fields every pass sets alike. Internal to the cross-attention modules:
// cross-attention.ts re-exports only the public option types (CrossAttentionDims, CrossAttentionTiles).

import type { GpuContext } from '../gpu/context.js';
import { bytesPerElement, type DType, type FloatDType } from '../tensor/dtype.js';
import { ShapeError } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';
import type { HeadsView } from './attention.js';
import { floatDtypeOf } from './common.js';
import {
  checkTile,
  crossAttentionTileFor,
  isSupportedHeadDim,
  MAX_HEAD_DIM,
  SUPPORTED_HEAD_DIMS,
  type CrossAttentionPass,
  type CrossAttentionTile,
} from './cross-attention-family.js';

/** The sizes of a call: B problems of Nq queries and Nk keys (and values), H heads of headDim. */
export interface CrossAttentionDims {
  /** Independent problems B. */
  batch: number;
  /** Queries per problem Nq. */
  queries: number;
  /** Keys (and values) per problem Nk. */
  keys: number;
  heads: number;
  headDim: number;
  /** Softmax scale on q·k (default 1/√headDim). */
  scale?: number;
  /** The same Nq queries for every problem (q has Nq rows; dq sums over the batch). */
  qBatchShared?: boolean;
}

/** Per-pass thread mappings, to force one (tests, bench); default crossAttentionTileFor. */
export interface CrossAttentionTiles {
  forward?: CrossAttentionTile;
  dq?: CrossAttentionTile;
  dkv?: CrossAttentionTile;
}

/** The dims after checkDims: sizes, row width H·d, q's row count, the scale, qBatchShared, dtype. */
export interface Checked {
  B: number;
  Nq: number;
  Nk: number;
  H: number;
  d: number;
  width: number;
  qRows: number;
  scale: number;
  shared: boolean;
  dtype: FloatDType;
}

/** Checks the dims and the q, k, v views against each other; the resolved sizes, scale and dtype. */
export function checkDims(what: string, dims: CrossAttentionDims, q: HeadsView, k: HeadsView, v: HeadsView): Checked {
  const { batch: B, queries: Nq, keys: Nk, heads: H, headDim: d } = dims;
  for (const [name, n] of [
    ['batch', B],
    ['queries', Nq],
    ['keys', Nk],
    ['heads', H],
  ] as const) {
    if (!Number.isInteger(n) || n < 1) {
      throw new ShapeError(`${what}: ${name} must be a positive integer, got ${n}`);
    }
  }
  if (!isSupportedHeadDim(d)) {
    throw new ShapeError(
      `${what}: head dim ${d} is not supported (supported: multiples of 4 from 4 to ${MAX_HEAD_DIM}, e.g. ${SUPPORTED_HEAD_DIMS.join(', ')})`,
    );
  }
  const width = H * d;
  const shared = dims.qBatchShared ?? false;
  const qRows = shared ? Nq : B * Nq;
  for (const [name, t, rows] of [
    ['q', q, qRows],
    ['k', k, B * Nk],
    ['v', v, B * Nk],
  ] as const) {
    checkView(what, name, t, rows, width);
  }
  const dtype = floatDtypeOf(what, q.tensor, k.tensor, v.tensor);
  const scale = dims.scale ?? 1 / Math.sqrt(d);
  if (!Number.isFinite(scale)) {
    throw new ShapeError(`${what}: scale must be finite, got ${scale}`);
  }
  return { B, Nq, Nk, H, d, width, qRows, scale, shared, dtype };
}

/** Throws unless `t` holds `rows` rows of `width` elements at its stride and offset (a HeadsView). */
export function checkView(
  what: string,
  name: string,
  t: { tensor: Tensor; stride: number; offset: number },
  rows: number,
  width: number,
): void {
  const ok =
    Number.isInteger(t.stride) &&
    Number.isInteger(t.offset) &&
    t.offset >= 0 &&
    t.offset + width <= t.stride &&
    t.tensor.numel >= (rows - 1) * t.stride + t.offset + width;
  if (!ok) {
    throw new ShapeError(
      `${what}: ${name} view (stride ${t.stride}, offset ${t.offset}) of ${t.tensor.toString()} does not hold ${rows} rows × ${width} ` +
        `(needs offset + heads·headDim ≤ stride and (rows − 1)·stride + offset + ${width} elements)`,
    );
  }
}

/**
 * A contiguous tensor of `shape`'s element count and this dtype (any shape: [B·Nq, H·d] and
 * [B, Nq, H·d] are the same rows).
 */
export function checkRows(what: string, t: Tensor, shape: readonly number[], dtype: string): void {
  if (t.numel !== shape.reduce((a, b) => a * b, 1) || t.dtype !== dtype) {
    throw new ShapeError(
      `${what}: ${t.toString()} must be [${shape.join(', ')}] ${dtype} (or another shape of as many elements)`,
    );
  }
}

/**
 * Three distinct 16-byte tensors for writable bindings a pass does not use (writable bindings must
 * not alias; 16 bytes hold one vec4). Unused read bindings take one of the pass's real inputs.
 */
export function spares(ctx: GpuContext): [Tensor, Tensor, Tensor] {
  const kinds: DType[] = ['u32', 'f32', 'i32'];
  return kinds.map((d) => ctx.dummy(d)) as [Tensor, Tensor, Tensor];
}

/** Rows of `stride` elements of a tensor, with column blocks starting at `offsets`. */
export interface Rows {
  tensor: Tensor;
  stride: number;
  offsets: number[];
  width: number;
}

/** What a chunk binds: a tensor (a view from an aligned element when the batch is split) and the offsets to use. */
export interface Bound {
  tensor: Tensor;
  offsets: number[];
  dispose(): void;
}

/**
 * Rows [row0, row0 + rows) of `r`. With `whole` the tensor itself; otherwise a view that starts at
 * the aligned element at or before the first one used (bindings must start at multiples of
 * minStorageBufferOffsetAlignment), the difference moving into the offsets.
 */
export function bindRows(ctx: GpuContext, r: Rows, row0: number, rows: number, whole: boolean): Bound {
  if (whole) {
    return { tensor: r.tensor, offsets: r.offsets, dispose: () => undefined };
  }
  const lo = Math.min(...r.offsets);
  const hi = Math.max(...r.offsets) + r.width;
  const align = ctx.caps.limits.minStorageBufferOffsetAlignment / bytesPerElement(r.tensor.dtype);
  const first = row0 * r.stride + lo;
  const start = Math.floor(first / align) * align;
  const end = (row0 + rows - 1) * r.stride + hi;
  const view = r.tensor.view(start, [end - start]);
  return { tensor: view, offsets: r.offsets.map((o) => row0 * r.stride + o - start), dispose: () => view.dispose() };
}

/**
 * Problems per dispatch: as many as keep every batched binding within maxStorageBufferBindingSize
 * (a K400-sized direct readout batch is above lavapipe's 128 MiB) and the grid's y within the limit.
 */
export function batchChunk(
  what: string,
  ctx: GpuContext,
  B: number,
  gridY: number,
  perProblem: [string, number][],
  cap = B,
): number {
  const lim = ctx.caps.limits;
  if (!Number.isInteger(cap) || cap < 1) {
    throw new ShapeError(`${what}: maxProblemsPerDispatch must be a positive integer, got ${cap}`);
  }
  let n = Math.min(B, cap, Math.floor(lim.maxComputeWorkgroupsPerDimension / gridY));
  for (const [name, bytes] of perProblem) {
    const fit = Math.floor((lim.maxStorageBufferBindingSize - lim.minStorageBufferOffsetAlignment) / bytes);
    if (fit < 1) {
      throw new ShapeError(
        `${what}: one problem's ${name} is ${bytes} bytes, above this device's maxStorageBufferBindingSize ` +
          `(${lim.maxStorageBufferBindingSize}); use fewer keys or queries per problem`,
      );
    }
    n = Math.min(n, fit);
  }
  if (n < 1) {
    throw new ShapeError(
      `${what}: ${gridY} heads exceed ${lim.maxComputeWorkgroupsPerDimension} workgroups per dimension`,
    );
  }
  return n;
}

/** `x` workgroups along the grid's x, or throws when above the device's per-dimension limit. */
export function checkGridX(what: string, ctx: GpuContext, x: number): number {
  const lim = ctx.caps.limits.maxComputeWorkgroupsPerDimension;
  if (x > lim) {
    throw new ShapeError(
      `${what}: ${x} owner blocks exceed ${lim} workgroups per dimension; use fewer rows per problem`,
    );
  }
  return x;
}

/** The forced tile of a pass (checked against the device) or crossAttentionTileFor's for its shape. */
export function resolveTile(
  ctx: GpuContext,
  pass: Exclude<CrossAttentionPass, 'preprocess'>,
  c: Checked,
  forced: CrossAttentionTile | undefined,
): CrossAttentionTile {
  if (forced) {
    checkTile(c.d, forced, ctx.caps);
    return forced;
  }
  const shape =
    pass === 'dkv'
      ? { owners: c.Nk, stream: c.Nq, problems: c.B * c.H }
      : pass === 'dq' && c.shared
        ? { owners: c.Nq, stream: c.B * c.Nk, problems: c.H }
        : { owners: c.Nq, stream: c.Nk, problems: c.B * c.H };
  return crossAttentionTileFor(c.d, shape, ctx.caps);
}

/** The Params fields every pass sets the same way; the chunk-dependent ones come from `bound`. */
export function params(
  c: Checked,
  n: number,
  bound: { q: Bound; k: Bound; v: Bound; o?: Bound; dO?: Bound; lse?: Bound; g1?: Bound; g2?: Bound },
  q: HeadsView,
  k: HeadsView,
  v: HeadsView,
  g: { g1Stride: number; g2Stride: number; flags: number; rows?: number },
) {
  return {
    batch: n,
    queries: c.Nq,
    keys: c.Nk,
    heads: c.H,
    q_stride: q.stride,
    q_offset: bound.q.offsets[0]!,
    k_stride: k.stride,
    k_offset: bound.k.offsets[0]!,
    v_stride: v.stride,
    v_offset: bound.v.offsets[0]!,
    o_stride: c.width,
    o_offset: bound.o?.offsets[0] ?? 0,
    do_offset: bound.dO?.offsets[0] ?? 0,
    lse_offset: bound.lse?.offsets[0] ?? 0,
    d_offset: 0,
    g1_stride: g.g1Stride,
    g1_offset: bound.g1?.offsets[0] ?? 0,
    g2_stride: g.g2Stride,
    g2_offset: bound.g2?.offsets[bound.g2.offsets.length - 1] ?? 0,
    scale: c.scale,
    scale_log2: c.scale * Math.LOG2E,
    flags: g.flags,
    rows: g.rows ?? 0,
    opaque: 0xffffffff,
  };
}

/**
 * Whether every view's stride and offset is a multiple of 4 elements (o, dO, lse and D are
 * contiguous; batch-chunk views start at aligned elements, multiples of 4): then vec4 accesses.
 */
export function aligned4(...views: { stride: number; offset: number }[]): boolean {
  return views.every((t) => t.stride % 4 === 0 && t.offset % 4 === 0);
}

/** The rows of a view (HeadsView or resolved gradient target) with one column block at its offset. */
export function rowsOf(t: { tensor: Tensor; stride: number; offset: number }, width: number): Rows {
  return { tensor: t.tensor, stride: t.stride, offsets: [t.offset], width };
}
