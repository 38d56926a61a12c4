// The cross-attention backward wrapper (FlashAttention-2's split): D = rowsum(dO∘O) in a
// preprocess pass, then dQ (one owner per query) and dK/dV (one owner per key) in separate passes
// that recompute P from the saved lse, per batch chunk. Gradient targets may be views (column
// blocks of wider tensors) and may accumulate. No atomics: every gradient element has one writer.
// cross-attention.ts re-exports it.

import type { GpuContext } from '../gpu/context.js';
import { bytesPerElement, type FloatDType } from '../tensor/dtype.js';
import { ShapeError } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';
import type { HeadsView } from './attention.js';
import { ceilDiv, fold, type GradTarget } from './common.js';
import { crossAttentionFamily, ownersPerWorkgroup, PRE_TILE } from './cross-attention-family.js';
import {
  aligned4,
  batchChunk,
  bindRows,
  checkDims,
  checkGridX,
  checkRows,
  checkView,
  params,
  resolveTile,
  rowsOf,
  spares,
  type CrossAttentionDims,
  type CrossAttentionTiles,
  type Rows,
} from './cross-attention-run.js';

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

/**
 * FLOPs of the backward by FlashAttention-2's convention, 2.5× the forward: 10·B·Nq·Nk·H·d (S
 * recomputed, dP, dV, dQ, dK). The split into a dq and a dkv kernel executes 14·B·Nq·Nk·H·d (S and
 * dP are recomputed in both).
 */
export function crossAttentionBackwardFlops(d: CrossAttentionDims): number {
  return 10 * d.batch * d.queries * d.keys * d.heads * d.headDim;
}
