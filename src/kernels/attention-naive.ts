// The unfused three-pass attention baseline ('walt-naive' in the benches): windows are gathered into
// dense (window·head, Nw, DH) matrices, S = Q·Kᵀ (+ the expanded relative position bias / scale as the
// matmul's residual), P = softmax(scale · S), O = P·V, scattered back to (tokens, heads·headDim).
// Same inputs and output as attention(); the (window, head) pairs are processed in chunks so that
// no binding (S above all) exceeds the device's storage binding limit.

import type { GpuContext } from '../gpu/context.js';
import { defineKernelFamily } from '../wgsl/family.js';
import type { FloatDType } from '../tensor/dtype.js';
import { bytesPerElement } from '../tensor/dtype.js';
import { ShapeError } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';
import {
  relPosTableRows,
  SUPPORTED_HEAD_DIMS,
  windowCount,
  type AttentionOptions,
  type HeadsView,
} from './attention.js';
import { ceilDiv, checkOut, floatDtypeOf, fold } from './common.js';
import { matmul } from './matmul.js';
import { softmax } from './softmax.js';

export type NaiveOp = 'gather' | 'bias' | 'scatter';

export interface AttentionNaiveVariant {
  readonly dtype: FloatDType;
  readonly op: NaiveOp;
}

const WG = 64;

export const attentionNaiveFamily = defineKernelFamily<AttentionNaiveVariant>()({
  name: 'attention-naive',
  file: 'attention-naive.wgsl',
  bindings: [
    { name: 'src', access: 'read' },
    { name: 'table', access: 'read' },
    { name: 'dst', access: 'read_write' },
  ],
  params: [
    ['lat_t', 'u32'],
    ['lat_h', 'u32'],
    ['lat_w', 'u32'],
    ['win_t', 'u32'],
    ['win_h', 'u32'],
    ['win_w', 'u32'],
    ['heads', 'u32'],
    ['head_dim', 'u32'],
    ['stride', 'u32'],
    ['offset', 'u32'],
    ['windows', 'u32'],
    ['z0', 'u32'],
    ['count', 'u32'],
    ['scale', 'f32'],
  ],
  defines: (v) => ({ F16: v.dtype === 'f16', GATHER: v.op === 'gather', BIAS: v.op === 'bias' }),
  overrides: () => ({ WG }),
  variantName: (v) => `${v.dtype}_${v.op}`,
  variants: () =>
    (['f32', 'f16'] as const).flatMap((dtype) => (['gather', 'bias', 'scatter'] as const).map((op) => ({ dtype, op }))),
});

/**
 * f32: the fused kernel's bar (≤ 1e-5 relative to the largest reference value). f16: S and P are
 * stored in f16 between the passes (that is what an unfused f16 pipeline does), so the ratio rule
 * gets a factor 4 instead of the fused kernel's 2.
 */
export const tolerance = { f32: { relToMax: 1e-5 }, f16: { ratioToRef: 4 } } as const;

/** Largest number of (window, head) pairs per chunk: S and the packed Q/K/V/O fit one binding. */
export function naiveChunk(ctx: GpuContext, total: number, nw: number, headDim: number, dtype: FloatDType): number {
  const limit = Math.min(ctx.caps.limits.maxStorageBufferBindingSize, ctx.caps.limits.maxBufferSize);
  const perZ = Math.max(nw * nw, nw * headDim) * bytesPerElement(dtype);
  const byBytes = Math.floor(limit / perZ);
  if (byBytes < 1) {
    throw new ShapeError(
      `attention-naive: one ${nw}×${nw} score matrix (${perZ} bytes) exceeds the ${limit}-byte binding limit`,
    );
  }
  // The matmul batches over z in the third workgroup dimension.
  return Math.min(total, byBytes, ctx.caps.limits.maxComputeWorkgroupsPerDimension);
}

/**
 * o = windowed attention of (q, k, v), computed unfused (see the file header). Options as for
 * attention(); `tile` is ignored. Returns (tokens, heads·headDim).
 */
export function attentionNaive(
  ctx: GpuContext,
  q: HeadsView,
  k: HeadsView,
  v: HeadsView,
  opts: AttentionOptions,
): Tensor {
  const [T, H, W] = opts.latent;
  const B = opts.batch ?? 1;
  const tokens = B * T * H * W;
  const { heads, headDim } = opts;
  const width = heads * headDim;
  if (!(SUPPORTED_HEAD_DIMS as readonly number[]).includes(headDim)) {
    throw new ShapeError(
      `attention-naive: head dim ${headDim} is not supported (supported: ${SUPPORTED_HEAD_DIMS.join(', ')})`,
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
        `attention-naive: ${name} view (stride ${t.stride}, offset ${t.offset}) of ${t.tensor.toString()} does not hold ${tokens} tokens × ${width}`,
      );
    }
  }
  const dtype = floatDtypeOf('attention-naive', q.tensor, k.tensor, v.tensor);
  const table = opts.biasTable;
  if (table && table.numel !== relPosTableRows(opts.window) * heads) {
    throw new ShapeError(
      `attention-naive: bias table ${table.toString()} must be (${relPosTableRows(opts.window)}, ${heads}) for window ${opts.window.join('x')}`,
    );
  }
  if (opts.out) {
    checkOut('attention-naive', opts.out, [tokens, width], dtype);
  }
  const o = opts.out ?? ctx.empty([tokens, width], dtype, opts.label ?? 'attention-naive');
  const scale = opts.scale ?? 1 / Math.sqrt(headDim);
  const total = B * windows * heads;
  const chunk = naiveChunk(ctx, total, nw, headDim, dtype);
  const dummy = ctx.dummy(dtype);
  const geometry = {
    lat_t: T,
    lat_h: H,
    lat_w: W,
    win_t: opts.window[0],
    win_h: opts.window[1],
    win_w: opts.window[2],
    heads,
    head_dim: headDim,
    windows,
  };
  const run = (op: NaiveOp, src: Tensor, dst: Tensor, z0: number, count: number, view: HeadsView | null, s = 1) => {
    ctx.dispatch(
      attentionNaiveFamily,
      { dtype, op },
      {
        bindings: { src, table: op === 'bias' ? table! : dummy, dst },
        params: {
          ...geometry,
          stride: view?.stride ?? 0,
          offset: view?.offset ?? 0,
          z0,
          count,
          scale: s,
        },
        workgroups: fold(ceilDiv(count, WG)),
        ...(opts.label ? { label: `${opts.label}.${op}` } : {}),
      },
    );
  };
  for (let z0 = 0; z0 < total; z0 += chunk) {
    const zc = Math.min(chunk, total - z0);
    ctx.scope(() => {
      const packed = zc * nw * headDim;
      const pack = (view: HeadsView, s: number): Tensor => {
        const t = ctx.empty([zc, nw, headDim], dtype, 'attention-naive.packed');
        run('gather', view.tensor, t, z0, packed, view, s);
        return t;
      };
      let po: Tensor;
      if (opts.identity) {
        po = pack(v, 1);
      } else {
        const pq = pack(q, 1);
        const pk = pack(k, 1);
        const pv = pack(v, 1);
        let bias: Tensor | undefined;
        if (table) {
          bias = ctx.empty([zc, nw, nw], dtype, 'attention-naive.bias');
          run('bias', dummy, bias, z0, zc * nw * nw, null, 1 / scale);
        }
        const s = matmul(ctx, pq, pk, {
          transB: true,
          ...(bias ? { residual: bias } : {}),
          label: 'attention-naive.qk',
        });
        const p = softmax(ctx, s, { scale, label: 'attention-naive.softmax' });
        po = matmul(ctx, p, pv, { label: 'attention-naive.pv' });
      }
      run('scatter', po, o, z0, packed, { tensor: o, stride: width, offset: 0 });
    });
  }
  return o;
}
