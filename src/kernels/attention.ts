// Fused windowed multi-head attention (spec §4.5): spatial 1×h×w windows, spatiotemporal
// t×h×w windows, full attention; relative-position bias from the layer's table; identity path.

import type { GpuContext } from '../gpu/context.js';
import { defineKernelFamily } from '../gpu/family.js';
import type { FloatDType } from '../tensor/dtype.js';
import { ShapeError } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';
import { ceilDiv, floatDtypeOf } from './common.js';

export type Dims3 = readonly [number, number, number];

export interface AttentionVariant {
  readonly dtype: FloatDType;
  /** Head dimension (multiple of 4): sizes the register arrays. */
  readonly headDim: number;
  readonly tile?: { WG: number; KB: number };
}

export const SUPPORTED_HEAD_DIMS = [16, 32, 64, 72, 80, 96, 104, 112, 128] as const;

export const attentionFamily = defineKernelFamily<AttentionVariant>({
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
  ],
  defines: (v) => ({ F16: v.dtype === 'f16', DH: `${v.headDim}u` }),
  overrides: (v, caps) => {
    const t = v.tile ?? caps.tuned('attention', v.dtype);
    return { WG: t?.WG ?? (caps.isSoftware ? 32 : 64), KB: t?.KB ?? 8 };
  },
  variantName: (v) => `${v.dtype}_d${v.headDim}`,
  variants: () =>
    (['f32', 'f16'] as const).flatMap((dtype) => SUPPORTED_HEAD_DIMS.map((headDim) => ({ dtype, headDim }))),
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
  tile?: { WG: number; KB: number };
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
  const o = opts.out ?? ctx.empty([tokens, width], dtype, opts.label ?? 'attention');
  const variant: AttentionVariant = { dtype, headDim, ...(opts.tile ? { tile: opts.tile } : {}) };
  const wg = opts.tile?.WG ?? ctx.caps.tuned('attention', dtype)?.WG ?? (ctx.caps.isSoftware ? 32 : 64);
  const qBlocks = ceilDiv(nw, wg);
  const groups = B * windows * qBlocks;
  if (groups > ctx.caps.limits.maxComputeWorkgroupsPerDimension) {
    throw new ShapeError(`attention: ${groups} workgroups; use a smaller batch`);
  }
  const scale = opts.scale ?? 1 / Math.sqrt(headDim);
  ctx.dispatch(attentionFamily, variant, {
    bindings: [q.tensor, k.tensor, v.tensor, opts.biasTable ?? ctx.dummy(dtype), o],
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
