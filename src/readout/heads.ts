// The study's readout heads on the GPU (spec §7.1–§7.4, OC1–OC9), built from the tape's ops
// (src/train/ops.ts), so their backward is the composition of the ops' hand-written ones.
// Parameters come from a ParamSet laid out in the canonical weight order (src/readout/spec.ts);
// features are constants (the frozen backbone: no gradient reaches them).

import { fourierFeatures } from '../kernels/fourier.js';
import { layerNormForward } from '../kernels/norm-train.js';
import { fourierGridFeatures } from '../ref/fourier.js';
import type { Tensor } from '../tensor/tensor.js';
import * as op from '../train/ops.js';
import type { ParamSet } from '../train/params.js';
import type { Tape, Var } from '../train/tape.js';
import {
  attentionHeadNames,
  type AttentionHeadConfig,
  type CameraHeadConfig,
  type CrossAttentionBlockNames,
  depthHeadNames,
  type DepthHeadConfig,
  NORM_EPS,
  STATE_NORM_EPS,
  trackHeadNames,
  type TrackHeadConfig,
} from './spec.js';

/** Which form of the single-query AttentionReadout to run (both exact; see attentionReadout). */
export type AttentionForm = 'fast' | 'direct';

const p = (tape: Tape, P: ParamSet, name: string): Var => P.variable(tape, name);

/**
 * AttentionReadout (§7.1; camera §7.2 with its concatenated input): features F [B, T, N, C]
 * (a constant) → logits [B, K].
 *
 * 'fast' (the default): one query per head, so the logits are (((W_kʰ)ᵀq_h)·f̂_j + q_h·b_kʰ)/√d and
 * the pooled values W_vʰ(Σ_j a_hj f̂_j) + b_vʰ, with f̂ = γ⊙n + β + pe_t and n = LN(F) constant:
 *   u = W_kᵀq per head, ũ = u⊙γ, e = u·peᵀ;  s = ũ·nᵀ + e (broadcast over N);  a = softmax(s/√d);
 *   r = a·n, A_t = Σ_{n∈t} a;  p = γ⊙r + β + A·pe;  o = W_v p + b_v (per head).
 * The four products over n cost O(T·N·C·heads); K and V ([T·N, P]) are never formed. The q·b_k
 * term shifts every logit of a head equally, so softmax ignores it: it is left out and b_k's
 * gradient is exactly 0 (as in exact arithmetic).
 * 'direct': f̂ = LN(F)·γ + β + pe; K, V = Linear(f̂); cross-attention of the query — the generic
 * path, the internal baseline.
 */
export function attentionReadout(
  tape: Tape,
  P: ParamSet,
  cfg: AttentionHeadConfig | CameraHeadConfig,
  F: Tensor,
  form: AttentionForm = 'fast',
): Var {
  const ctx = tape.ctx;
  const names = attentionHeadNames(cfg);
  const [B, T, N, C] = F.shape as [number, number, number, number];
  const H = cfg.heads;
  const d = cfg.P / H;
  const TN = T * N;
  const gamma = p(tape, P, names.featNorm.weight);
  const beta = p(tape, P, names.featNorm.bias);
  const pe = p(tape, P, names.temporalPosenc);
  const q = p(tape, P, names.query);
  const qflat = op.reshape(tape, q, [1, cfg.P]);
  let o: Var;
  if (form === 'fast') {
    // n = LN(F) without affine: constant over training (no gradient to F).
    const n = tape.keep(layerNormForward(ctx, F.reshape([B * TN, C]), { eps: NORM_EPS }).y);
    const nB = tape.constant(tape.keep(n.reshape([B, TN, C])), 'n');
    const u = op.reshape(tape, op.headwiseT(tape, qflat, p(tape, P, names.key.weight), H), [H, C]);
    const ut = op.mulBroadcast(tape, u, gamma); // ũ [H, C]
    const e = op.matmulOp(tape, u, pe, { transB: true }); // [H, T]
    const s0 = op.matmulOp(tape, ut, nB, { transB: true }); // [B, H, TN]
    const onesB = tape.constant(tape.keep(ctx.upload(new Float32Array(B).fill(1), [B, 1])));
    const eB = op.matmulOp(tape, onesB, op.reshape(tape, e, [1, H * T])); // [B, H·T]
    const s = op.addBroadcast(tape, op.reshape(tape, s0, [B * H * T, N]), op.reshape(tape, eB, [B * H * T]), true);
    const a = op.softmax(tape, op.reshape(tape, s, [B * H, TN]), 1 / Math.sqrt(d));
    const a3 = op.reshape(tape, a, [B, H, TN]);
    const r = op.matmulOp(tape, a3, nB); // [B, H, C]
    const At = op.sumLast(tape, op.reshape(tape, a, [B * H * T, N])); // [B·H·T]
    const p1 = op.addBroadcast(tape, op.mulBroadcast(tape, op.reshape(tape, r, [B * H, C]), gamma), beta);
    const p3 = op.matmulOp(tape, op.reshape(tape, At, [B * H, T]), pe); // [B·H, C]
    const pooled = op.add2(tape, p1, p3);
    o = op.headwise(
      tape,
      op.reshape(tape, pooled, [B, H, C]),
      p(tape, P, names.value.weight),
      p(tape, P, names.value.bias),
      H,
    );
  } else {
    const f = op.layerNorm(tape, tape.constant(F.reshape([B * TN, C])), gamma, beta, NORM_EPS);
    const fp = op.reshape(tape, op.addPosenc(tape, op.reshape(tape, f, [B, T, N, C]), pe), [B * TN, C]);
    const k = op.linear(tape, fp, p(tape, P, names.key.weight), p(tape, P, names.key.bias));
    const v = op.linear(tape, fp, p(tape, P, names.value.weight), p(tape, P, names.value.bias));
    o = op.crossAttention(tape, qflat, k, v, {
      batch: B,
      queries: 1,
      keys: TN,
      heads: H,
      headDim: d,
      qBatchShared: true,
    });
  }
  // tok = flatten(q) + out(o); tok = tok + MLP(LN(tok)); logits = head(tok)  (OC5)
  const o2 = op.reshape(tape, o, [B, cfg.P]);
  const projected = op.linear(tape, o2, p(tape, P, names.out.weight), p(tape, P, names.out.bias));
  const tok = op.addBroadcast(tape, projected, op.reshape(tape, qflat, [cfg.P]));
  const h = op.layerNorm(tape, tok, p(tape, P, names.mlpNorm.weight), p(tape, P, names.mlpNorm.bias), NORM_EPS);
  const m = op.linear(
    tape,
    op.gelu(tape, op.linear(tape, h, p(tape, P, names.mlpFc1.weight), p(tape, P, names.mlpFc1.bias))),
    p(tape, P, names.mlpFc2.weight),
    p(tape, P, names.mlpFc2.bias),
  );
  const tok2 = op.add2(tape, tok, m);
  return op.linear(tape, tok2, p(tape, P, names.head.weight), p(tape, P, names.head.bias));
}

/** fc2(gelu(fc1(x))) with [out, in] weights. */
function mlp2(
  tape: Tape,
  P: ParamSet,
  x: Var,
  fc1: { weight: string; bias: string },
  fc2: { weight: string; bias: string },
): Var {
  const h = op.gelu(tape, op.linear(tape, x, p(tape, P, fc1.weight), p(tape, P, fc1.bias)));
  return op.linear(tape, h, p(tape, P, fc2.weight), p(tape, P, fc2.bias));
}

export interface BlockDims {
  /** Problems (batch elements) and queries per problem; keys per problem. */
  problems: number;
  queries: number;
  keys: number;
  heads: number;
  qkv: number;
  /** The block's query stream is the same for every problem (the depth head's first layer). */
  shared?: boolean;
}

/**
 * MooG ImprovedTransformerBlock, cross-attention only (§7.3/§7.4, OC2): x [rows, w] (rows =
 * problems·queries, or queries when shared), kv [problems·keys, C] raw features.
 *   n = LN_scale(x); Q = n·W_qᵀ; K = kv·W_kᵀ; V = kv·W_vᵀ; RMSNorm per head on Q, K;
 *   x = x + dense_out(attn(Q, K, V)); x = x + mlp_out(gelu(mlp_in(LN_scale(x))))
 * Returns [problems·queries, w].
 */
export function crossAttentionBlock(
  tape: Tape,
  P: ParamSet,
  names: CrossAttentionBlockNames,
  x: Var,
  kv: Var,
  dims: BlockDims,
): Var {
  const d = dims.qkv / dims.heads;
  const n = op.layerNorm(tape, x, p(tape, P, names.normQ), null, NORM_EPS);
  const q = op.rmsNormHeads(
    tape,
    op.linear(tape, n, p(tape, P, names.denseQuery)),
    p(tape, P, names.normQuery),
    dims.heads,
    d,
  );
  const k = op.rmsNormHeads(
    tape,
    op.linear(tape, kv, p(tape, P, names.denseKey)),
    p(tape, P, names.normKey),
    dims.heads,
    d,
  );
  const v = op.linear(tape, kv, p(tape, P, names.denseValue));
  const att = op.crossAttention(tape, q, k, v, {
    batch: dims.problems,
    queries: dims.queries,
    keys: dims.keys,
    heads: dims.heads,
    headDim: d,
    ...(dims.shared ? { qBatchShared: true } : {}),
  });
  const out = op.linear(tape, att, p(tape, P, names.denseOut.weight), p(tape, P, names.denseOut.bias));
  const w = x.shape[x.shape.length - 1]!;
  const x1 = dims.shared
    ? op.addBroadcast(
        tape,
        op.reshape(tape, out, [dims.problems, dims.queries * w]),
        op.reshape(tape, x, [dims.queries * w]),
      )
    : op.add2(tape, x, out);
  const x1r = op.reshape(tape, x1, [dims.problems * dims.queries, w]);
  const h = op.layerNorm(tape, x1r, p(tape, P, names.normAttn), null, NORM_EPS);
  return op.add2(tape, x1r, mlp2(tape, P, h, names.mlpIn, names.mlpOut));
}

/** The depth head's query grid [Hq·Wq, C + 4·nfb]: zeros(C) ‖ four(y, x), row-major (y, x). */
export function depthQueries(cfg: DepthHeadConfig, grid: readonly [number, number]): Float32Array {
  const Q = grid[0] * grid[1];
  const f = 4 * cfg.nfb;
  const w = cfg.C + f;
  const four = fourierGridFeatures(grid[0], grid[1], cfg.nfb);
  const out = new Float32Array(Q * w);
  for (let i = 0; i < Q; i++) {
    for (let j = 0; j < f; j++) {
      out[i * w + cfg.C + j] = four[i * f + j]!;
    }
  }
  return out;
}

/**
 * Depth (§7.3, OC7): frames F [Z, N, C] (each frame its own problem; kv = raw F[f]) and a query
 * grid Hq × Wq → depth [Z, Hq·Wq] in metres (no activation).
 */
export function depthReadout(
  tape: Tape,
  P: ParamSet,
  cfg: DepthHeadConfig,
  F: Tensor,
  grid: readonly [number, number],
): Var {
  const ctx = tape.ctx;
  const names = depthHeadNames(cfg);
  const [Z, N, C] = F.shape as [number, number, number];
  const Q = grid[0] * grid[1];
  const w = cfg.C + 4 * cfg.nfb;
  // q0 = zeros(C) ‖ four(y, x) (OC6/OC7): a constant shared by all frames, from the exact
  // integer-arithmetic grid phases in float64 (then rounded once to f32).
  let x: Var = tape.constant(tape.keep(ctx.upload(depthQueries(cfg, grid), [Q, w])), 'depth-queries');
  const kv = tape.constant(F.reshape([Z * N, C]));
  names.layers.forEach((ln, i) => {
    x = crossAttentionBlock(tape, P, ln, x, kv, {
      problems: Z,
      queries: Q,
      keys: N,
      heads: cfg.heads,
      qkv: cfg.qkv,
      shared: i === 0,
    });
  });
  const xn = op.layerNorm(tape, x, p(tape, P, names.normEncoder), null, NORM_EPS);
  const depth = op.linear(tape, xn, p(tape, P, names.recon.weight), p(tape, P, names.recon.bias));
  return op.reshape(tape, depth, [Z, Q]);
}

/** One frame's outputs of a tracking head. */
export interface TrackFrame {
  values: Var; // [B·M, n_values]
  logits: Var; // [B·M, n_logits]
}

/**
 * Point / box tracking (§7.4, OC9): frames[s] = features of frame s of every clip [B·N, C]
 * (separate tensors: each slice must start at an aligned binding offset), queries [B·M, n_coords]
 * in [−1, 1], and resetMasks[s] [B·M] (1 where the track's query frame is s) → per-frame values
 * (points: sigmoid; boxes: identity) and logits, from each frame's corrected state.
 */
export function trackReadout(
  tape: Tape,
  P: ParamSet,
  cfg: TrackHeadConfig,
  F: readonly Tensor[],
  B: number,
  queries: Tensor,
  resetMasks: readonly (Tensor | null)[],
): TrackFrame[] {
  const ctx = tape.ctx;
  const names = trackHeadNames(cfg);
  const T = F.length;
  const N = F[0]!.shape[0]! / B;
  const BM = queries.shape[0]!;
  const M = BM / B;
  const four = tape.constant(tape.keep(fourierFeatures(ctx, queries, { bands: cfg.nfb })));
  const sInit = mlp2(tape, P, four, names.initFc1, names.initFc2);
  let state = sInit;
  const frames: TrackFrame[] = [];
  for (let s = 0; s < T; s++) {
    const mask = resetMasks[s];
    if (mask) {
      state = op.blendRows(tape, mask, sInit, state);
    }
    const kv = tape.constant(F[s]!);
    let y = op.linear(tape, state, p(tape, P, names.inProj.weight), p(tape, P, names.inProj.bias));
    for (const ln of names.layers) {
      y = crossAttentionBlock(tape, P, ln, y, kv, { problems: B, queries: M, keys: N, heads: cfg.heads, qkv: cfg.qkv });
    }
    const yn = op.layerNorm(tape, y, p(tape, P, names.normEncoder), null, NORM_EPS);
    const corrected = op.add2(
      tape,
      state,
      op.linear(tape, yn, p(tape, P, names.outProj.weight), p(tape, P, names.outProj.bias)),
    );
    const pred = mlp2(tape, P, corrected, names.predictorFc1, names.predictorFc2);
    state = op.layerNorm(tape, op.add2(tape, corrected, pred), p(tape, P, names.stateNorm), null, STATE_NORM_EPS);
    const raw = mlp2(tape, P, corrected, names.valuesFc1, names.valuesFc2);
    frames.push({
      values: cfg.kind === 'points' ? op.sigmoid(tape, raw) : raw,
      logits: mlp2(tape, P, corrected, names.logitsFc1, names.logitsFc2),
    });
  }
  return frames;
}
