// Multi-head cross-attention with its own key count (OC4): the readouts' attention (depth head,
// point/box tracking, the single-query readout's direct form). Forward saves the row log-sum-exp;
// the backward is FlashAttention-2's split: D = rowsum(dO∘O), then dQ (one owner per query) and
// dK/dV (one owner per key) in separate kernels that recompute P from lse. No atomics: every
// gradient element has exactly one writer, so reruns are bit-identical.

import type { GpuContext } from '../gpu/context.js';
import { defineKernelFamily, type DeviceCaps } from '../wgsl/family.js';
import { bytesPerElement, type DType, type FloatDType } from '../tensor/dtype.js';
import { ShapeError } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';
import type { HeadsView } from './attention.js';
import { ceilDiv, floatDtypeOf, fold, type GradTarget } from './common.js';
import { subgroupWorkgroup } from './matmul.js';

export type { HeadsView } from './attention.js';

/** The four entry points of kernels/cross-attention.wgsl. */
export type CrossAttentionPass = 'forward' | 'preprocess' | 'dq' | 'dkv';

/**
 * Thread mapping of the forward, dq and dkv passes. Owner rows are the rows whose outputs an
 * invocation owns (queries; dkv: keys); the stream is what each owner loops over (keys; dkv:
 * queries).
 * - 'subgroup' (needs the `subgroups` feature): WG invocations (a multiple of the largest subgroup)
 *   own WG·QL owner rows of one (b, h), QL per invocation; lane l loads stream row j0 + l and the
 *   subgroup shares it by subgroupShuffle (no workgroup memory). The fast path on llvmpipe.
 * - 'shared': R·S invocations own R·QL owner rows; S invocations split each owner's stream and are
 *   combined in a fixed order; the stream goes through workgroup memory KB rows at a time. Every
 *   adapter; on GPUs the one for few owners and long streams (the single-query readout).
 * `opaque` keeps the loops over private arrays rolled (software adapters, see the WGSL header).
 */
export type CrossAttentionTile =
  | { readonly kind: 'subgroup'; readonly WG: number; readonly QL: number; readonly opaque: boolean }
  | {
      readonly kind: 'shared';
      readonly R: number;
      readonly S: number;
      readonly QL: number;
      readonly KB: number;
      readonly opaque: boolean;
    };

export interface CrossAttentionVariant {
  readonly dtype: FloatDType;
  /** Head dim: a multiple of 4 from 4 to 256 (sizes the register arrays). */
  readonly headDim: number;
  readonly pass: CrossAttentionPass;
  readonly tile: CrossAttentionTile;
  /** Every view's stride and offset a multiple of 4 elements: vec4 loads and stores. */
  readonly vec4: boolean;
}

/** Head dims the contract test compiles; every multiple of 4 from 4 to 256 is accepted. */
export const SUPPORTED_HEAD_DIMS = [4, 8, 16, 32, 64, 128, 256] as const;
export const MAX_HEAD_DIM = 256;

/** Whether a head dim is served (a multiple of 4 from 4 to 256). */
export function isSupportedHeadDim(d: number): boolean {
  return Number.isInteger(d) && d >= 4 && d <= MAX_HEAD_DIM && d % 4 === 0;
}

const PRE_TILE: CrossAttentionTile = { kind: 'shared', R: 1, S: 1, QL: 1, KB: 1, opaque: false };

/** The shape defines of a tile: R, S, QL, KB (a subgroup tile is R = WG, S = 1, KB = 1). */
function tileShape(t: CrossAttentionTile): { R: number; S: number; QL: number; KB: number } {
  return t.kind === 'subgroup' ? { R: t.WG, S: 1, QL: t.QL, KB: 1 } : t;
}

/** Bytes of workgroup memory a tile uses (tk, tv, ts, cm). */
export function tileWorkgroupBytes(headDim: number, t: CrossAttentionTile): number {
  const { R, S, QL, KB } = tileShape(t);
  const dv = headDim / 4;
  const rs = S > 1 ? dv + 1 : dv;
  return 2 * KB * rs * 16 + KB * 8 + R * QL * 8;
}

export function crossAttentionTileName(t: CrossAttentionTile): string {
  const o = t.opaque ? 'o' : '';
  return t.kind === 'subgroup' ? `sg${t.WG}q${t.QL}${o}` : `r${t.R}s${t.S}q${t.QL}k${t.KB}${o}`;
}

/** Tiles the contract test compiles for every pass, dtype and head dim. */
const TEST_TILES: CrossAttentionTile[] = [
  { kind: 'subgroup', WG: 8, QL: 2, opaque: true },
  { kind: 'subgroup', WG: 64, QL: 1, opaque: false },
  { kind: 'shared', R: 8, S: 1, QL: 2, KB: 4, opaque: false },
  { kind: 'shared', R: 2, S: 4, QL: 1, KB: 4, opaque: true },
];

export const crossAttentionFamily = defineKernelFamily<CrossAttentionVariant>()({
  name: 'cross-attention',
  file: 'cross-attention.wgsl',
  bindings: [
    { name: 'q', access: 'read' },
    { name: 'k', access: 'read' },
    { name: 'v', access: 'read' },
    { name: 'dout', access: 'read' },
    { name: 'o', access: 'read_write' },
    { name: 'lse', access: 'read_write' },
    { name: 'delta', access: 'read_write' },
    { name: 'g1', access: 'read_write' },
    { name: 'g2', access: 'read_write' },
  ],
  params: [
    ['batch', 'u32'],
    ['queries', 'u32'],
    ['keys', 'u32'],
    ['heads', 'u32'],
    ['q_stride', 'u32'],
    ['q_offset', 'u32'],
    ['k_stride', 'u32'],
    ['k_offset', 'u32'],
    ['v_stride', 'u32'],
    ['v_offset', 'u32'],
    ['o_stride', 'u32'],
    ['o_offset', 'u32'],
    ['do_offset', 'u32'],
    ['lse_offset', 'u32'],
    ['d_offset', 'u32'],
    ['g1_stride', 'u32'],
    ['g1_offset', 'u32'],
    ['g2_stride', 'u32'],
    ['g2_offset', 'u32'],
    ['scale', 'f32'],
    ['scale_log2', 'f32'],
    ['flags', 'u32'],
    ['rows', 'u32'],
    ['opaque', 'u32'],
  ],
  entryPoint: (v) => (v.pass === 'preprocess' ? 'bwd_preprocess' : v.pass === 'forward' ? 'forward' : `bwd_${v.pass}`),
  defines: (v) => {
    const tile = v.pass === 'preprocess' ? { ...PRE_TILE, opaque: v.tile.opaque } : v.tile;
    const t = tileShape(tile);
    const dv = v.headDim / 4;
    return {
      F16: v.dtype === 'f16',
      SUBGROUP_TILE: tile.kind === 'subgroup',
      OPAQUE_LOOPS: tile.opaque,
      VEC4: v.vec4,
      DH: `${v.headDim}u`,
      DV: `${dv}u`,
      R: `${t.R}u`,
      S: `${t.S}u`,
      QL: `${t.QL}u`,
      KB: `${t.KB}u`,
      RS: `${t.S > 1 ? dv + 1 : dv}u`,
    };
  },
  overrides: () => ({}),
  variantName: (v) =>
    `${v.dtype}_d${v.headDim}_${v.pass}_${v.pass === 'preprocess' ? (v.tile.opaque ? 'o' : '') : crossAttentionTileName(v.tile)}${v.vec4 ? '_v4' : ''}`,
  variants: () =>
    (['f32', 'f16'] as const).flatMap((dtype) =>
      SUPPORTED_HEAD_DIMS.flatMap((headDim) => [
        ...[false, true].map((vec4) => ({ dtype, headDim, pass: 'preprocess' as const, tile: PRE_TILE, vec4 })),
        ...(['forward', 'dq', 'dkv'] as const).flatMap((pass) =>
          TEST_TILES.map((tile, i) => ({ dtype, headDim, pass, tile, vec4: i % 2 === 0 })),
        ),
      ]),
    ),
});

/**
 * f32 against the f64 reference: |a − r| ≤ atol·max(1, max|r|) + rtol·|r| per element (gradients
 * are sums over hundreds of rows); lse is f32 in both dtypes; f16 storage by the ratio rule.
 */
export const tolerance = { f32: { atol: 2e-6, rtol: 1e-4, relToMax: 1e-5 }, f16: { ratioToRef: 2 } } as const;

function isPow2(n: number): boolean {
  return Number.isInteger(n) && n >= 1 && (n & (n - 1)) === 0;
}

/** Owner rows one workgroup covers. */
export function ownersPerWorkgroup(t: CrossAttentionTile): number {
  const { R, QL } = tileShape(t);
  return R * QL;
}

/** Throws unless the tile is well-formed and fits this device's limits and features. */
export function checkTile(headDim: number, t: CrossAttentionTile, caps: DeviceCaps): void {
  const { R, S, QL, KB } = tileShape(t);
  const bytes = tileWorkgroupBytes(headDim, t);
  const invocations = R * S;
  const ints = [R, S, QL, KB].every((x) => Number.isInteger(x) && x >= 1);
  const common = ints && QL <= 8 && invocations <= caps.limits.maxComputeInvocationsPerWorkgroup;
  if (t.kind === 'subgroup') {
    const sgMax = caps.subgroupMaxSize || caps.subgroupMinSize;
    if (!common || !caps.subgroups || sgMax < 1 || t.WG % sgMax !== 0) {
      throw new ShapeError(
        `cross-attention: tile ${crossAttentionTileName(t)} needs the 'subgroups' feature, a workgroup that is a ` +
          `multiple of ${sgMax || 'the subgroup size'} lanes (at most ${caps.limits.maxComputeInvocationsPerWorkgroup}) and QL ≤ 8`,
      );
    }
    return;
  }
  const ok =
    common &&
    isPow2(S) &&
    KB % S === 0 &&
    (S === 1 || R * QL <= KB) &&
    bytes <= caps.limits.maxComputeWorkgroupStorageSize;
  if (!ok) {
    throw new ShapeError(
      `cross-attention: bad tile ${JSON.stringify(t)} for head dim ${headDim} (needs S a power of two, QL ≤ 8, ` +
        `KB a multiple of S, R·QL ≤ KB when S > 1, R·S ≤ ${caps.limits.maxComputeInvocationsPerWorkgroup} ` +
        `invocations, ${bytes} ≤ ${caps.limits.maxComputeWorkgroupStorageSize} bytes of workgroup memory)`,
    );
  }
}

/**
 * The tile for a pass (forward, dq or dkv): `owners` rows per problem that own outputs (queries; dkv: keys), `stream`
 * rows each owner loops over (keys; dkv: queries), `problems` independent (b, h) pairs.
 *
 * With subgroups, the subgroup tile on software adapters always and on GPUs for at least half a
 * workgroup of owners. Software (llvmpipe, 8 lanes): one subgroup, QL = 256 / d owners per lane
 * (1 … 8; at d 64 the tracking shape measured QL 4 about as fast as 6 and 8 in every pass, and
 * 1.5–2.5× faster than QL 1, compiling in a third of QL 8's time); even one query with 4,352 keys ran 1.5×
 * faster there than split over the lanes through workgroup memory (llvmpipe's cost is the storage
 * loads, the same in both, plus the staging). GPUs: 64 invocations, one owner each (untuned).
 * Otherwise (few owners on a GPU, no subgroups) the shared tile: 8 (software) or 64 invocations, trading owners for splits S of the stream while
 * owner lanes would idle (R·QL > 2·owners) or, on GPUs, the grid has fewer than 256 workgroups, as
 * long as each split keeps 32 stream rows; KB as many stream rows as the workgroup memory holds
 * (at most 32 KiB, at most 64 rows), a multiple of S and at least R·QL.
 */
export function crossAttentionTileFor(
  headDim: number,
  shape: { owners: number; stream: number; problems: number },
  caps: DeviceCaps,
): CrossAttentionTile {
  const sw = caps.isSoftware;
  const opaque = sw;
  const sgWg = subgroupWorkgroup(caps, sw ? 8 : 64);
  const ql = sw ? Math.max(1, Math.min(8, Math.floor(256 / headDim))) : 1;
  if (sgWg > 0 && (sw || 2 * shape.owners >= sgWg)) {
    const QL = Math.min(ql, Math.max(1, Math.ceil(shape.owners / sgWg)));
    const t: CrossAttentionTile = { kind: 'subgroup', WG: sgWg, QL, opaque };
    checkTile(headDim, t, caps);
    return t;
  }
  const wg = sw ? 8 : 64;
  const QL = Math.min(ql, Math.max(1, Math.ceil(shape.owners / wg)));
  let R = wg;
  let S = 1;
  const blocks = (): number => shape.problems * ceilDiv(shape.owners, R * QL);
  while (R > 1 && (R * QL > 2 * shape.owners || (!sw && blocks() < 256)) && shape.stream >= 32 * 2 * S) {
    R /= 2;
    S *= 2;
  }
  const budget = Math.min(caps.limits.maxComputeWorkgroupStorageSize, 32768);
  const rowsFit = (): number => {
    const rs = S > 1 ? headDim / 4 + 1 : headDim / 4;
    const kb = Math.min(64, Math.floor((budget - R * QL * 8) / (2 * rs * 16 + 8)));
    return Math.floor(kb / S) * S;
  };
  let KB = rowsFit();
  while (S > 1 && KB < Math.max(S, R * QL)) {
    S /= 2;
    R *= 2;
    KB = rowsFit();
  }
  const t: CrossAttentionTile = { kind: 'shared', R, S, QL, KB: Math.max(1, KB), opaque };
  checkTile(headDim, t, caps);
  return t;
}

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

export interface CrossAttentionForwardOptions extends CrossAttentionDims {
  /** o target: [B·Nq, H·d] of the inputs' dtype. */
  out?: Tensor;
  tiles?: CrossAttentionTiles;
  /** At most this many problems per dispatch (tests; the binding-size limit sets it otherwise). */
  maxProblemsPerDispatch?: number;
  label?: string;
}

/** A gradient target; stride and offset make it a column block of a wider tensor (like HeadsView). */
export interface GradView extends GradTarget {
  /** Row stride in elements (default H·d). */
  stride?: number;
  /** First column of head 0 (default 0). */
  offset?: number;
}

export interface CrossAttentionBackwardOptions {
  /** dq target: [qRows, H·d] (or a view), qRows = Nq with qBatchShared, else B·Nq. */
  dq?: GradView;
  /** dk target: [B·Nk, H·d] (or a view). */
  dk?: GradView;
  /** dv target: [B·Nk, H·d] (or a view; may be dk's tensor at other columns). */
  dv?: GradView;
  tiles?: CrossAttentionTiles;
  /** At most this many problems per dispatch (tests; the binding-size limit sets it otherwise). */
  maxProblemsPerDispatch?: number;
  label?: string;
}

interface Checked {
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

function checkDims(what: string, dims: CrossAttentionDims, q: HeadsView, k: HeadsView, v: HeadsView): Checked {
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

function checkView(
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
function checkRows(what: string, t: Tensor, shape: readonly number[], dtype: string): void {
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
function spares(ctx: GpuContext): [Tensor, Tensor, Tensor] {
  const kinds: DType[] = ['u32', 'f32', 'i32'];
  return kinds.map((d) => ctx.dummy(d)) as [Tensor, Tensor, Tensor];
}

/** Rows of `stride` elements of a tensor, with column blocks starting at `offsets`. */
interface Rows {
  tensor: Tensor;
  stride: number;
  offsets: number[];
  width: number;
}

/** What a chunk binds: a tensor (a view from an aligned element when the batch is split) and the offsets to use. */
interface Bound {
  tensor: Tensor;
  offsets: number[];
  dispose(): void;
}

/**
 * Rows [row0, row0 + rows) of `r`. With `whole` the tensor itself; otherwise a view that starts at
 * the aligned element at or before the first one used (bindings must start at multiples of
 * minStorageBufferOffsetAlignment), the difference moving into the offsets.
 */
function bindRows(ctx: GpuContext, r: Rows, row0: number, rows: number, whole: boolean): Bound {
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
function batchChunk(
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

function checkGridX(what: string, ctx: GpuContext, x: number): number {
  const lim = ctx.caps.limits.maxComputeWorkgroupsPerDimension;
  if (x > lim) {
    throw new ShapeError(
      `${what}: ${x} owner blocks exceed ${lim} workgroups per dimension; use fewer rows per problem`,
    );
  }
  return x;
}

function resolveTile(
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
function params(
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
 * Multi-head cross-attention forward (OC4: softmax over the keys only, no mask, no bias).
 *
 * For problem b < B, head h < H, query i < Nq (k, v rows j < Nk of problem b):
 * S_ij = scale·q_i·k_j, lse_i = log Σ_j exp(S_ij) (natural log), o_i = Σ_j exp(S_ij − lse_i)·v_j.
 * Batches whose bindings would exceed the device's binding size run in chunks of problems.
 *
 * @param q view of rows b·Nq + i (qBatchShared: rows i, the same queries for every b), head h at
 *   columns offset + h·d … offset + h·d + d − 1
 * @param k view of rows b·Nk + j, likewise
 * @param v view of rows b·Nk + j, likewise
 * @returns `o` [B·Nq, H·d] (the inputs' dtype) and `lse` [B, H, Nq] f32 (saved for the backward)
 */
export function crossAttentionForward(
  ctx: GpuContext,
  q: HeadsView,
  k: HeadsView,
  v: HeadsView,
  opts: CrossAttentionForwardOptions,
): { o: Tensor; lse: Tensor } {
  const what = 'crossAttentionForward';
  const c = checkDims(what, opts, q, k, v);
  const oShape = [c.B * c.Nq, c.width];
  if (opts.out) {
    checkRows(`${what} o`, opts.out, oShape, c.dtype);
  }
  const tile = resolveTile(ctx, 'forward', c, opts.tiles?.forward);
  const bpe = bytesPerElement(c.dtype);
  const chunk = batchChunk(
    what,
    ctx,
    c.B,
    c.H,
    [
      ...(c.shared ? [] : [['q', c.Nq * q.stride * bpe] as [string, number]]),
      ['k', c.Nk * k.stride * bpe],
      ['v', c.Nk * v.stride * bpe],
      ['o', c.Nq * c.width * bpe],
      ['lse', c.H * c.Nq * 4],
    ],
    opts.maxProblemsPerDispatch,
  );
  const vec4 = aligned4(q, k, v);
  const o = opts.out ?? ctx.empty(oShape, c.dtype, opts.label ?? 'cross-attention.o');
  const lse = ctx.empty([c.B, c.H, c.Nq], 'f32', opts.label ? `${opts.label}.lse` : 'cross-attention.lse');
  const [sb, sc, sd] = spares(ctx);
  const whole = chunk >= c.B;
  const gx = checkGridX(what, ctx, ceilDiv(c.Nq, ownersPerWorkgroup(tile)));
  for (let b0 = 0; b0 < c.B; b0 += chunk) {
    const n = Math.min(chunk, c.B - b0);
    const bq = bindRows(
      ctx,
      rowsOf(q, c.width),
      c.shared ? 0 : b0 * c.Nq,
      c.shared ? c.Nq : n * c.Nq,
      whole || c.shared,
    );
    const bk = bindRows(ctx, rowsOf(k, c.width), b0 * c.Nk, n * c.Nk, whole);
    const bv = bindRows(ctx, rowsOf(v, c.width), b0 * c.Nk, n * c.Nk, whole);
    const bo = bindRows(ctx, { tensor: o, stride: c.width, offsets: [0], width: c.width }, b0 * c.Nq, n * c.Nq, whole);
    const bl = bindRows(ctx, { tensor: lse, stride: c.H * c.Nq, offsets: [0], width: c.H * c.Nq }, b0, n, whole);
    ctx.dispatch(
      crossAttentionFamily,
      { dtype: c.dtype, headDim: c.d, pass: 'forward', tile, vec4 },
      {
        bindings: {
          q: bq.tensor,
          k: bk.tensor,
          v: bv.tensor,
          dout: bq.tensor,
          o: bo.tensor,
          lse: bl.tensor,
          delta: sb,
          g1: sc,
          g2: sd,
        },
        params: params(c, n, { q: bq, k: bk, v: bv, o: bo, lse: bl }, q, k, v, {
          g1Stride: 0,
          g2Stride: 0,
          flags: c.shared ? 1 : 0,
        }),
        workgroups: [gx, n * c.H],
        ...(opts.label ? { label: opts.label } : {}),
      },
    );
    for (const x of [bq, bk, bv, bo, bl]) {
      x.dispose();
    }
  }
  return { o, lse };
}

/**
 * Whether every view's stride and offset is a multiple of 4 elements (o, dO, lse and D are
 * contiguous; batch-chunk views start at aligned elements, multiples of 4): then vec4 accesses.
 */
function aligned4(...views: { stride: number; offset: number }[]): boolean {
  return views.every((t) => t.stride % 4 === 0 && t.offset % 4 === 0);
}

function rowsOf(t: { tensor: Tensor; stride: number; offset: number }, width: number): Rows {
  return { tensor: t.tensor, stride: t.stride, offsets: [t.offset], width };
}

interface ResolvedTarget {
  tensor: Tensor;
  stride: number;
  offset: number;
  accumulate: boolean;
}

function gradTarget(
  ctx: GpuContext,
  what: string,
  name: string,
  t: GradView | undefined,
  rows: number,
  width: number,
  dtype: FloatDType,
  label: string,
): ResolvedTarget {
  if (!t) {
    return { tensor: ctx.empty([rows, width], dtype, label), stride: width, offset: 0, accumulate: false };
  }
  if (t.stride === undefined && t.offset === undefined) {
    checkRows(`${what} ${name}`, t.tensor, [rows, width], dtype);
    return { tensor: t.tensor, stride: width, offset: 0, accumulate: t.accumulate };
  }
  const view = { tensor: t.tensor, stride: t.stride ?? width, offset: t.offset ?? 0 };
  checkView(what, name, view, rows, width);
  if (t.tensor.dtype !== dtype) {
    throw new ShapeError(`${what}: ${name} target ${t.tensor.toString()} must be ${dtype} like q, k, v`);
  }
  return { ...view, accumulate: t.accumulate };
}

/**
 * Multi-head cross-attention backward (FlashAttention-2 form; P recomputed from the saved lse).
 *
 * D_i = dO_i·o_i; P_ij = exp(scale·q_i·k_j − lse_i); dS_ij = P_ij·(dO_i·v_j − D_i);
 * dq_i = scale·Σ_j dS_ij·k_j (qBatchShared: also summed over b, in order b = 0 … B−1);
 * dk_j = scale·Σ_i dS_ij·q_i; dv_j = Σ_i P_ij·dO_i. Three kernels after D (preprocess, dq, dkv);
 * every output element has one writer. A target with `accumulate` adds (+=), else overwrites; dk
 * and dv may be column blocks of one tensor (same stride), and dq another block of it.
 *
 * @param dO [B·Nq, H·d], the gradient of `o`
 * @param o [B·Nq, H·d] and `lse` [B, H, Nq] f32 from {@link crossAttentionForward}
 * @returns dq [qRows, H·d], dk and dv [B·Nk, H·d] (the targets' tensors when given)
 */
export function crossAttentionBackward(
  ctx: GpuContext,
  dO: Tensor,
  q: HeadsView,
  k: HeadsView,
  v: HeadsView,
  o: Tensor,
  lse: Tensor,
  dims: CrossAttentionDims,
  opts: CrossAttentionBackwardOptions = {},
): { dq: Tensor; dk: Tensor; dv: Tensor } {
  const what = 'crossAttentionBackward';
  const c = checkDims(what, dims, q, k, v);
  checkRows(`${what} dO`, dO, [c.B * c.Nq, c.width], c.dtype);
  checkRows(`${what} o`, o, [c.B * c.Nq, c.width], c.dtype);
  checkRows(`${what} lse`, lse, [c.B, c.H, c.Nq], 'f32');
  const tq = resolveTile(ctx, 'dq', c, opts.tiles?.dq);
  const tkv = resolveTile(ctx, 'dkv', c, opts.tiles?.dkv);
  const dqT = gradTarget(ctx, what, 'dq', opts.dq, c.qRows, c.width, c.dtype, 'cross-attention.dq');
  const dkT = gradTarget(ctx, what, 'dk', opts.dk, c.B * c.Nk, c.width, c.dtype, 'cross-attention.dk');
  const dvT = gradTarget(ctx, what, 'dv', opts.dv, c.B * c.Nk, c.width, c.dtype, 'cross-attention.dv');
  // dk and dv in one tensor (a dkv or dqkv gradient): dv goes through the g1 binding.
  const oneTensor = dvT.tensor === dkT.tensor;
  if (oneTensor && dvT.stride !== dkT.stride) {
    throw new ShapeError(
      `${what}: dk and dv targets in one tensor need the same stride (${dkT.stride} vs ${dvT.stride})`,
    );
  }
  const bpe = bytesPerElement(c.dtype);
  const chunk = batchChunk(
    what,
    ctx,
    c.B,
    c.H,
    [
      ...(c.shared
        ? []
        : ([
            ['q', c.Nq * q.stride * bpe],
            ['dq', c.Nq * dqT.stride * bpe],
          ] as [string, number][])),
      ['k', c.Nk * k.stride * bpe],
      ['v', c.Nk * v.stride * bpe],
      ['o', c.Nq * c.width * bpe],
      ['lse', c.H * c.Nq * 4],
      ['dk', c.Nk * dkT.stride * bpe],
      ['dv', c.Nk * dvT.stride * bpe],
    ],
    opts.maxProblemsPerDispatch,
  );
  const whole = chunk >= c.B;
  const vec4 = aligned4(q, k, v, dqT, dkT, dvT);
  const label = opts.label ? { label: opts.label } : {};
  const [sb, sc, sd] = spares(ctx);
  const gq = checkGridX(what, ctx, ceilDiv(c.Nq, ownersPerWorkgroup(tq)));
  const gkv = checkGridX(what, ctx, ceilDiv(c.Nk, ownersPerWorkgroup(tkv)));
  const pre = { ...PRE_TILE, opaque: ctx.caps.isSoftware };

  for (let b0 = 0; b0 < c.B; b0 += chunk) {
    const n = Math.min(chunk, c.B - b0);
    const qr = c.shared ? 0 : b0 * c.Nq;
    const qn = c.shared ? c.Nq : n * c.Nq;
    const bq = bindRows(ctx, rowsOf(q, c.width), qr, qn, whole || c.shared);
    const bk = bindRows(ctx, rowsOf(k, c.width), b0 * c.Nk, n * c.Nk, whole);
    const bv = bindRows(ctx, rowsOf(v, c.width), b0 * c.Nk, n * c.Nk, whole);
    const oRows = (t: Tensor): Rows => ({ tensor: t, stride: c.width, offsets: [0], width: c.width });
    const bo = bindRows(ctx, oRows(o), b0 * c.Nq, n * c.Nq, whole);
    const bdo = bindRows(ctx, oRows(dO), b0 * c.Nq, n * c.Nq, whole);
    const bl = bindRows(ctx, { tensor: lse, stride: c.H * c.Nq, offsets: [0], width: c.H * c.Nq }, b0, n, whole);
    const bdq = bindRows(ctx, rowsOf(dqT, c.width), qr, qn, whole || c.shared);
    const bdk = bindRows(
      ctx,
      {
        tensor: dkT.tensor,
        stride: dkT.stride,
        offsets: oneTensor ? [dkT.offset, dvT.offset] : [dkT.offset],
        width: c.width,
      },
      b0 * c.Nk,
      n * c.Nk,
      whole,
    );
    const bdv = oneTensor ? bdk : bindRows(ctx, rowsOf(dvT, c.width), b0 * c.Nk, n * c.Nk, whole);
    const delta = ctx.empty([n, c.H, c.Nq], 'f32', 'cross-attention.D');
    const bound = { q: bq, k: bk, v: bv, o: bo, dO: bdo, lse: bl };
    const rows = n * c.Nq * c.H;
    ctx.dispatch(
      crossAttentionFamily,
      { dtype: c.dtype, headDim: c.d, pass: 'preprocess', tile: pre, vec4 },
      {
        bindings: {
          q: bdo.tensor,
          k: bdo.tensor,
          v: bdo.tensor,
          dout: bdo.tensor,
          o: bo.tensor,
          lse: sb,
          delta,
          g1: sc,
          g2: sd,
        },
        params: params(c, n, bound, q, k, v, { g1Stride: 0, g2Stride: 0, flags: 0, rows }),
        workgroups: fold(ceilDiv(rows, 64)),
        ...label,
      },
    );
    // qBatchShared: later chunks add to what the first wrote (problems in order, one writer).
    const accQ = dqT.accumulate || (c.shared && b0 > 0);
    ctx.dispatch(
      crossAttentionFamily,
      { dtype: c.dtype, headDim: c.d, pass: 'dq', tile: tq, vec4 },
      {
        bindings: {
          q: bq.tensor,
          k: bk.tensor,
          v: bv.tensor,
          dout: bdo.tensor,
          o: sb,
          lse: bl.tensor,
          delta,
          g1: bdq.tensor,
          g2: sc,
        },
        params: params(c, n, { ...bound, g1: bdq }, q, k, v, {
          g1Stride: dqT.stride,
          g2Stride: 0,
          flags: (c.shared ? 1 : 0) | (accQ ? 2 : 0),
        }),
        workgroups: [gq, c.shared ? c.H : n * c.H],
        ...label,
      },
    );
    ctx.dispatch(
      crossAttentionFamily,
      { dtype: c.dtype, headDim: c.d, pass: 'dkv', tile: tkv, vec4 },
      {
        bindings: {
          q: bq.tensor,
          k: bk.tensor,
          v: bv.tensor,
          dout: bdo.tensor,
          o: sb,
          lse: bl.tensor,
          delta,
          g1: bdk.tensor,
          g2: oneTensor ? sc : bdv.tensor,
        },
        params: params(c, n, { ...bound, g1: bdk, g2: bdv }, q, k, v, {
          g1Stride: dkT.stride,
          g2Stride: dvT.stride,
          flags: (c.shared ? 1 : 0) | (dkT.accumulate ? 2 : 0) | (dvT.accumulate ? 4 : 0) | (oneTensor ? 8 : 0),
        }),
        workgroups: [gkv, n * c.H],
        ...label,
      },
    );
    delta.dispose();
    for (const x of oneTensor ? [bq, bk, bv, bo, bdo, bl, bdq, bdk] : [bq, bk, bv, bo, bdo, bl, bdq, bdk, bdv]) {
      x.dispose();
    }
  }
  return { dq: dqT.tensor, dk: dkT.tensor, dv: dvT.tensor };
}

/** FLOPs of the forward as the benches count them: 4·B·Nq·Nk·H·d (QKᵀ and PV). */
export function crossAttentionForwardFlops(d: CrossAttentionDims): number {
  return 4 * d.batch * d.queries * d.keys * d.heads * d.headDim;
}

/**
 * FLOPs of the backward by FlashAttention-2's convention, 2.5× the forward: 10·B·Nq·Nk·H·d (S
 * recomputed, dP, dV, dQ, dK). The split into a dq and a dkv kernel executes 14·B·Nq·Nk·H·d (S and
 * dP are recomputed in both).
 */
export function crossAttentionBackwardFlops(d: CrossAttentionDims): number {
  return 10 * d.batch * d.queries * d.keys * d.heads * d.headDim;
}
