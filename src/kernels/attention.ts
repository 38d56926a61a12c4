// Fused windowed multi-head attention (spec §4.5): spatial 1×h×w windows, spatiotemporal
// t×h×w windows, full attention; relative-position bias from the layer's table; identity path.

import type { GpuContext } from '../gpu/context.js';
import { defineKernelFamily, type DeviceCaps } from '../wgsl/family.js';
import type { FloatDType } from '../tensor/dtype.js';
import { ShapeError } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';
import { ceilDiv, checkOut, floatDtypeOf } from './common.js';
import { subgroupWorkgroup } from './matmul.js';

export type Dims3 = readonly [number, number, number];

/**
 * Thread mapping. 'subgroup': a workgroup of WG invocations (a multiple of the adapter's largest
 * subgroup) owns WG·QL queries (QL per invocation); keys in blocks of the real subgroup size shared
 * by subgroupShuffle (needs the `subgroups` feature). 'portable': one invocation per query, WG per
 * workgroup, KB keys per online-softmax step. `opaque` hides loop bounds from the compiler
 * (llvmpipe only).
 */
export type AttentionTile =
  | { kind: 'subgroup'; WG: number; QL: number; opaque: boolean }
  | { kind: 'portable'; WG: number; KB: number; opaque: boolean };

export interface AttentionVariant {
  readonly dtype: FloatDType;
  /** Head dimension (multiple of 4): sizes the register arrays. */
  readonly headDim: number;
  readonly tile: AttentionTile;
}

export const SUPPORTED_HEAD_DIMS = [16, 32, 64, 72, 80, 96, 104, 112, 128] as const;

/**
 * The tile used without tuning. llvmpipe (8 lanes): one subgroup per workgroup, QL queries per
 * lane with q and o (2·QL·DH floats per lane, 32 bytes each across the lanes) within 16 KiB, half of
 * L1: more queries amortise the key/value row loads (the largest cost on llvmpipe) over more FLOPs,
 * fewer keep the accumulators in L1; head dim 64 gets QL = 4, measured as fast as 5 and 8 there,
 * and 32 queries per workgroup divide the 256- and 320-token windows. GPUs: 32 invocations or
 * the largest subgroup, one query each (untuned).
 */
export function defaultAttentionTile(caps: DeviceCaps, headDim: number): AttentionTile {
  const WG = subgroupWorkgroup(caps, caps.isSoftware ? 8 : 32);
  if (WG > 0) {
    const QL = caps.isSoftware ? Math.max(2, Math.min(8, Math.floor(256 / headDim))) : 1;
    return { kind: 'subgroup', WG, QL, opaque: caps.isSoftware };
  }
  return portableTile(caps);
}

/** The portable mapping (no subgroups, or q/k/v views that are not vec4-aligned). */
export function portableTile(caps: DeviceCaps): AttentionTile {
  return { kind: 'portable', WG: caps.isSoftware ? 32 : 64, KB: 8, opaque: caps.isSoftware };
}

/**
 * The tuned tile for this adapter and dtype (a record of the tuning cache), else the default. With
 * `windowTokens`, the software default also considers QL + 1 queries per lane and keeps whichever
 * pads the window less (80-token windows: QL 5 runs no padded queries where QL 4 runs 16).
 */
export function attentionTileFor(
  dtype: FloatDType,
  headDim: number,
  caps: DeviceCaps,
  windowTokens?: number,
): AttentionTile {
  const t = caps.tuned('attention', dtype);
  if (t && t.kind === 1 && caps.subgroups && t.WG && t.QL) {
    return { kind: 'subgroup', WG: t.WG, QL: t.QL, opaque: t.opaque === 1 };
  }
  if (t && t.kind === 0 && t.WG && t.KB) {
    return { kind: 'portable', WG: t.WG, KB: t.KB, opaque: t.opaque === 1 };
  }
  const d = defaultAttentionTile(caps, headDim);
  if (d.kind === 'subgroup' && caps.isSoftware && windowTokens !== undefined) {
    const padded = (ql: number): number => ceilDiv(windowTokens, d.WG * ql) * d.WG * ql;
    if (padded(d.QL + 1) < padded(d.QL)) {
      return { ...d, QL: d.QL + 1 };
    }
  }
  return d;
}

/** Encodes a tile as numbers for the tuning cache. */
export function attentionTileToRecord(t: AttentionTile): Record<string, number> {
  const opaque = t.opaque ? 1 : 0;
  return t.kind === 'subgroup' ? { kind: 1, WG: t.WG, QL: t.QL, opaque } : { kind: 0, WG: t.WG, KB: t.KB, opaque };
}

export function attentionTileName(t: AttentionTile): string {
  return (t.kind === 'subgroup' ? `sg${t.WG}q${t.QL}` : `p${t.WG}k${t.KB}`) + (t.opaque ? 'o' : '');
}

/** Queries one workgroup covers. */
export function queriesPerWorkgroup(t: AttentionTile): number {
  return t.kind === 'subgroup' ? t.WG * t.QL : t.WG;
}

function checkTile(t: AttentionTile): void {
  const ok =
    t.kind === 'subgroup'
      ? [t.WG, t.QL].every((x) => Number.isInteger(x) && x >= 1) && t.QL <= 16
      : [t.WG, t.KB].every((x) => Number.isInteger(x) && x >= 1) && t.KB <= 16;
  if (!ok) {
    throw new ShapeError(`attention: bad tile ${JSON.stringify(t)}`);
  }
}

const TEST_TILES: AttentionTile[] = [
  { kind: 'subgroup', WG: 8, QL: 4, opaque: true },
  { kind: 'subgroup', WG: 32, QL: 1, opaque: false },
  { kind: 'portable', WG: 32, KB: 8, opaque: true },
];

export const attentionFamily = defineKernelFamily<AttentionVariant>()({
  name: 'attention',
  file: 'attention.wgsl',
  bindings: [
    { name: 'q', access: 'read' },
    { name: 'k', access: 'read' },
    { name: 'v', access: 'read' },
    { name: 'table', access: 'read' },
    { name: 'o', access: 'read_write' },
  ],
  params: [
    ['lat_t', 'u32'],
    ['lat_h', 'u32'],
    ['lat_w', 'u32'],
    ['win_t', 'u32'],
    ['win_h', 'u32'],
    ['win_w', 'u32'],
    ['heads', 'u32'],
    ['q_stride', 'u32'],
    ['q_offset', 'u32'],
    ['k_stride', 'u32'],
    ['k_offset', 'u32'],
    ['v_stride', 'u32'],
    ['v_offset', 'u32'],
    ['o_stride', 'u32'],
    ['scale_log2', 'f32'],
    ['flags', 'u32'],
    ['q_blocks', 'u32'],
    ['windows', 'u32'],
    ['opaque', 'u32'],
  ],
  defines: (v) => ({
    F16: v.dtype === 'f16',
    DH: `${v.headDim}u`,
    DV: `${v.headDim / 4}u`,
    OPAQUE_LOOPS: v.tile.opaque,
    ...(v.tile.kind === 'subgroup' ? { SUBGROUP_TILE: true, QL: `${v.tile.QL}u` } : {}),
  }),
  overrides: (v): Record<string, number> =>
    v.tile.kind === 'subgroup' ? { WG: v.tile.WG } : { WG: v.tile.WG, KB: v.tile.KB },
  variantName: (v) => `${v.dtype}_d${v.headDim}_${attentionTileName(v.tile)}`,
  variants: () =>
    (['f32', 'f16'] as const).flatMap((dtype) =>
      SUPPORTED_HEAD_DIMS.flatMap((headDim) => TEST_TILES.map((tile) => ({ dtype, headDim, tile }))),
    ),
});

/** f32: far tighter than the peers' 5e-2 bar; f16 by the ratio rule. */
export const tolerance = { f32: { atol: 1e-6, rtol: 1e-5, relToMax: 1e-5 }, f16: { ratioToRef: 2 } } as const;

/** A view of rows of a (tokens, stride) tensor starting at column `offset` (heads × headDim wide). */
export interface HeadsView {
  tensor: Tensor;
  stride: number;
  offset: number;
}

export interface AttentionOptions {
  /** Latent (T, H, W) per clip; tokens are (b, t, y, x) row-major. */
  latent: Dims3;
  /** Window (Wt, Wh, Ww); must tile the latent. The latent itself means full attention. */
  window: Dims3;
  heads: number;
  headDim: number;
  batch?: number;
  /** Softmax scale applied to q·k (default 1/√headDim; pass 1 when q̂ is pre-scaled). */
  scale?: number;
  /** Relative position bias table ((2Wt−1)(2Wh−1)(2Ww−1), heads). */
  biasTable?: Tensor;
  /** o = v (image inputs in spatiotemporal layers). */
  identity?: boolean;
  out?: Tensor;
  /** Force a thread mapping (tests, bench, autotuner); default: attentionTileFor(dtype, headDim, caps, Nw). */
  tile?: AttentionTile;
  label?: string;
}

export function relPosTableRows(window: Dims3): number {
  return (2 * window[0] - 1) * (2 * window[1] - 1) * (2 * window[2] - 1);
}

/** Number of windows per clip (the window must tile the latent). */
export function windowCount(latent: Dims3, window: Dims3): number {
  for (let i = 0; i < 3; i++) {
    if (window[i]! < 1 || latent[i]! % window[i]! !== 0) {
      throw new ShapeError(
        `attention: window ${window.join('x')} does not tile the latent ${latent.join('x')} (each window size must divide the latent size)`,
      );
    }
  }
  return (latent[0] / window[0]) * (latent[1] / window[1]) * (latent[2] / window[2]);
}

/**
 * o = windowed attention of (q, k, v). q, k, v are views into (tokens, …) tensors; o is
 * (tokens, heads·headDim). tokens = batch·T·H·W.
 */
export function attention(ctx: GpuContext, q: HeadsView, k: HeadsView, v: HeadsView, opts: AttentionOptions): Tensor {
  const [T, H, W] = opts.latent;
  const B = opts.batch ?? 1;
  const tokens = B * T * H * W;
  const { heads, headDim } = opts;
  const width = heads * headDim;
  if (!(SUPPORTED_HEAD_DIMS as readonly number[]).includes(headDim)) {
    throw new ShapeError(
      `attention: head dim ${headDim} is not supported (supported: ${SUPPORTED_HEAD_DIMS.join(', ')})`,
    );
  }
  const windows = windowCount(opts.latent, opts.window);
  const nw = opts.window[0] * opts.window[1] * opts.window[2];
  for (const [name, t] of [
    ['q', q],
    ['k', k],
    ['v', v],
  ] as const) {
    if (t.offset + width > t.stride || t.tensor.numel < tokens * t.stride) {
      throw new ShapeError(
        `attention: ${name} view (stride ${t.stride}, offset ${t.offset}) of ${t.tensor.toString()} does not hold ${tokens} tokens × ${width}`,
      );
    }
  }
  const dtype = floatDtypeOf('attention', q.tensor, k.tensor, v.tensor);
  if (opts.biasTable && opts.biasTable.numel !== relPosTableRows(opts.window) * heads) {
    throw new ShapeError(
      `attention: bias table ${opts.biasTable.toString()} must be (${relPosTableRows(opts.window)}, ${heads}) for window ${opts.window.join('x')}`,
    );
  }
  if (opts.out) {
    checkOut('attention', opts.out, [tokens, width], dtype);
  }
  const o = opts.out ?? ctx.empty([tokens, width], dtype, opts.label ?? 'attention');
  // The subgroup path reads q, k, v as vec4s: strides and offsets must be multiples of 4 elements
  // (they are in the model); other views take the portable path.
  const aligned = [q, k, v].every((t) => t.stride % 4 === 0 && t.offset % 4 === 0);
  let tile = opts.tile ?? attentionTileFor(dtype, headDim, ctx.caps, nw);
  if (tile.kind === 'subgroup' && !aligned) {
    if (opts.tile) {
      throw new ShapeError('attention: the subgroup tile needs q, k, v strides and offsets that are multiples of 4');
    }
    tile = portableTile(ctx.caps);
  }
  checkTile(tile);
  const sgMax = ctx.caps.subgroupMaxSize || ctx.caps.subgroupMinSize;
  if (tile.kind === 'subgroup' && (!ctx.caps.subgroups || tile.WG % sgMax !== 0)) {
    throw new ShapeError(
      `attention: tile ${attentionTileName(tile)} needs the 'subgroups' feature and a workgroup that is a multiple of ${sgMax} lanes`,
    );
  }
  const variant: AttentionVariant = { dtype, headDim, tile };
  const qBlocks = ceilDiv(nw, queriesPerWorkgroup(tile));
  const groups = B * windows * qBlocks;
  if (groups > ctx.caps.limits.maxComputeWorkgroupsPerDimension) {
    throw new ShapeError(`attention: ${groups} workgroups; use a smaller batch`);
  }
  const scale = opts.scale ?? 1 / Math.sqrt(headDim);
  ctx.dispatch(attentionFamily, variant, {
    bindings: { q: q.tensor, k: k.tensor, v: v.tensor, table: opts.biasTable ?? ctx.dummy(dtype), o },
    params: {
      lat_t: T,
      lat_h: H,
      lat_w: W,
      win_t: opts.window[0],
      win_h: opts.window[1],
      win_w: opts.window[2],
      heads,
      q_stride: q.stride,
      q_offset: q.offset,
      k_stride: k.stride,
      k_offset: k.offset,
      v_stride: v.stride,
      v_offset: v.offset,
      o_stride: width,
      scale_log2: scale * Math.LOG2E,
      flags: (opts.biasTable ? 1 : 0) | (opts.identity ? 2 : 0),
      q_blocks: qBlocks,
      windows,
      opaque: 0xffffffff,
    },
    workgroups: [groups, heads],
    ...(opts.label ? { label: opts.label } : {}),
  });
  return o;
}

/** Attention FLOPs as the benches count them: 4 · N · N_w · headDim · heads (QKᵀ and AV). */
export function attentionFlops(tokens: number, windowTokens: number, headDim: number, heads: number): number {
  return 4 * tokens * windowTokens * headDim * heads;
}
