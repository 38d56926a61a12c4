// The cross-attention forward wrapper (OC4): checks its arguments, picks the tile, and dispatches
// the forward pass per batch chunk, saving the row log-sum-exp for the backward
// (cross-attention-backward.ts). cross-attention.ts re-exports it.

import type { GpuContext } from '../gpu/context.js';
import { bytesPerElement } from '../tensor/dtype.js';
import type { Tensor } from '../tensor/tensor.js';
import type { HeadsView } from './attention.js';
import { ceilDiv } from './common.js';
import { crossAttentionFamily, ownersPerWorkgroup } from './cross-attention-family.js';
import {
  aligned4,
  batchChunk,
  bindRows,
  checkDims,
  checkGridX,
  checkRows,
  params,
  resolveTile,
  rowsOf,
  spares,
  type CrossAttentionDims,
  type CrossAttentionTiles,
} from './cross-attention-run.js';

export interface CrossAttentionForwardOptions extends CrossAttentionDims {
  /** o target: [B·Nq, H·d] of the inputs' dtype. */
  out?: Tensor;
  tiles?: CrossAttentionTiles;
  /** At most this many problems per dispatch (tests; the binding-size limit sets it otherwise). */
  maxProblemsPerDispatch?: number;
  label?: string;
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

/** FLOPs of the forward as the benches count them: 4·B·Nq·Nk·H·d (QKᵀ and PV). */
export function crossAttentionForwardFlops(d: CrossAttentionDims): number {
  return 4 * d.batch * d.queries * d.keys * d.heads * d.headDim;
}
