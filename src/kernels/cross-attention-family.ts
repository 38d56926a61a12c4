// The cross-attention kernel family (kernels/cross-attention.wgsl) and its thread mappings: the
// variants (dtype, head dim, pass, tile, vec4), the tiles and their names, workgroup memory and
// owner rows, the test tolerances, and the tile chosen per pass, head dim and adapter. Used by the
// forward and backward wrappers (cross-attention-forward.ts, cross-attention-backward.ts) and by
// the registry; cross-attention.ts re-exports it.

import { defineKernelFamily, type DeviceCaps } from '../wgsl/family.js';
import type { FloatDType } from '../tensor/dtype.js';
import { ShapeError } from '../tensor/shape.js';
import { ceilDiv } from './common.js';
import { subgroupWorkgroup } from './matmul.js';

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

/** The tile of the preprocess pass (one row per invocation; only `opaque` varies). */
export const PRE_TILE: CrossAttentionTile = { kind: 'shared', R: 1, S: 1, QL: 1, KB: 1, opaque: false };

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
