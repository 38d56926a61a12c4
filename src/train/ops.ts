// Differentiable ops on the tape: each runs its forward kernels, records a hand-written backward
// (the float64 references in src/ref/ are the truth for each), and follows the accumulation rule
// of tape.ts. Shapes are PyTorch order; Linear weights are [out, in].
//
// The set is what the readout heads use, each general enough for the W.A.L.T denoiser later
// (any row count, key count, head count; batched and shared operands). Loss ops fuse their
// gradient and feed the tape's objective directly (see Tape.objective).

import { colSum } from '../kernels/colsum.js';
import type { GradTarget } from '../kernels/common.js';
import { crossAttentionBackward, crossAttentionForward } from '../kernels/cross-attention.js';
import { add, axpby, gelu as geluKernel, mul } from '../kernels/elementwise.js';
import { headwiseLinear, headwiseLinearT, headwiseWeightGrad, padHeads, unpadHeads } from '../kernels/headwise.js';
import { addTemporalPosenc } from '../kernels/broadcast-add.js';
import { geluBackward, sigmoidBackward, sigmoidForward } from '../kernels/activation-grad.js';
import { matmul } from '../kernels/matmul.js';
import { huberLoss, l2Loss, sigmoidBce, softmaxCrossEntropy } from '../kernels/loss.js';
import { layerNormBackward, layerNormForward, rmsNormBackward, rmsNormForward } from '../kernels/norm-train.js';
import { reduceAxis } from '../kernels/reduce.js';
import { softmax as softmaxKernel, softmaxBackward } from '../kernels/softmax.js';
import { ShapeError } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';
import type { Tape, Var } from './tape.js';

const last = (t: { shape: readonly number[] }): number => t.shape[t.shape.length - 1]!;

/** A view of `t` that the tape owns (disposed with it): reshapes inside ops never leak. */
function rs(tape: Tape, t: Tensor, shape: readonly number[]): Tensor {
  return tape.keep(t.reshape(shape));
}

/** Writes `g` into v's gradient target (copy for the first contribution, add otherwise). */
function give(tape: Tape, v: Var, g: Tensor): void {
  const t = tape.target(v);
  if (!t) {
    return;
  }
  if (!t.accumulate) {
    tape.ctx.copy(g, t.tensor);
  } else {
    const s = add(tape.ctx, t.tensor, rs(tape, g, t.tensor.shape));
    tape.ctx.copy(s, t.tensor);
    s.dispose();
  }
}

/** Sum of a [Z, …] tensor over its leading dimension (two-pass column sum). */
function sumLeading(tape: Tape, g: Tensor, z: number, target: GradTarget): void {
  colSum(tape.ctx, rs(tape, g, [z, g.numel / z]), { out: target });
}

// ---------------------------------------------------------------- linear algebra

/**
 * C = op(A)·op(B) with op = transpose when transA/transB (see kernels/matmul.wgsl). A and B are
 * 2-D (M, K) or 3-D (Z, M, K); a 2-D operand is shared by every batch element. Backward:
 * C = AB: dA = gC·Bᵀ, dB = Aᵀ·gC (and the transposed forms); a shared operand's gradient sums
 * over the batch (rows flattened when the layout allows, else a batched product and a column sum).
 */
export function matmulOp(tape: Tape, a: Var, b: Var, o: { transA?: boolean; transB?: boolean } = {}): Var {
  const ctx = tape.ctx;
  const transA = o.transA ?? false;
  const transB = o.transB ?? false;
  const out = tape.output(matmul(ctx, a.value, b.value, { transA, transB }), [a, b], 'matmul');
  const za = a.shape.length === 3 ? a.shape[0]! : 1;
  const zb = b.shape.length === 3 ? b.shape[0]! : 1;
  tape.record('matmul', out, (g) => {
    const Z = Math.max(za, zb);
    // dA
    const ta = tape.target(a);
    if (ta) {
      const [x, y, tA, tB] = transA ? [b.value, g, transB, true] : [g, b.value, false, !transB];
      if (za === Z) {
        matmul(ctx, x, y, { transA: tA, transB: tB, out: ta.tensor, accumulate: ta.accumulate });
      } else {
        const full = matmul(ctx, x, y, { transA: tA, transB: tB });
        sumLeading(tape, full, Z, ta);
        full.dispose();
      }
    }
    // dB
    const tb = tape.target(b);
    if (tb) {
      if (zb === Z) {
        const [x, y, tA, tB] = transB ? [g, a.value, true, transA] : [a.value, g, !transA, false];
        matmul(ctx, x, y, { transA: tA, transB: tB, out: tb.tensor, accumulate: tb.accumulate });
      } else if (!transA) {
        // Shared B, batched A (Z, M, K): flatten the batch into the rows (K = Z·M).
        const M = a.shape[1]!;
        const af = rs(tape, a.value, [Z * M, a.shape[2]!]);
        const gf = rs(tape, g, [Z * M, last(g)]);
        const [x, y, tA, tB] = transB ? [gf, af, true, false] : [af, gf, true, false];
        matmul(ctx, x, y, { transA: tA, transB: tB, out: tb.tensor, accumulate: tb.accumulate });
      } else {
        const [x, y, tA, tB] = transB ? [g, a.value, true, true] : [a.value, g, false, false];
        const full = matmul(ctx, x, y, { transA: tA, transB: tB });
        sumLeading(tape, full, Z, tb);
        full.dispose();
      }
    }
  });
  return out;
}

/** y = x·Wᵀ + b for x [..., IN], W [OUT, IN], b [OUT]; rows flattened. */
export function linear(tape: Tape, x: Var, w: Var, b?: Var): Var {
  const ctx = tape.ctx;
  const [OUT, IN] = w.shape as [number, number];
  if (last(x) !== IN) {
    throw new ShapeError(`linear: x ${x.value.toString()} has ${last(x)} features, W is [${OUT}, ${IN}]`);
  }
  const rows = x.value.numel / IN;
  const x2 = rs(tape, x.value, [rows, IN]);
  const y = tape.keep(matmul(ctx, x2, w.value, { transB: true, ...(b ? { bias: b.value } : {}) }));
  const out = tape.output(rs(tape, y, [...x.shape.slice(0, -1), OUT]), b ? [x, w, b] : [x, w], 'linear');
  tape.record('linear', out, (g) => {
    const g2 = rs(tape, g, [rows, OUT]);
    const tx = tape.target(x);
    if (tx) {
      matmul(ctx, g2, w.value, { out: tx.tensor, accumulate: tx.accumulate });
    }
    const tw = tape.target(w);
    if (tw) {
      matmul(ctx, g2, x2, { transA: true, out: tw.tensor, accumulate: tw.accumulate });
    }
    const tb = b ? tape.target(b) : null;
    if (tb) {
      colSum(ctx, g2, { out: tb });
    }
  });
  return out;
}

// ---------------------------------------------------------------- element-wise

/** a + b (same shape). */
export function add2(tape: Tape, a: Var, b: Var): Var {
  const out = tape.output(add(tape.ctx, a.value, b.value), [a, b], 'add');
  tape.record('add', out, (g) => {
    give(tape, a, g);
    give(tape, b, g);
  });
  return out;
}

/**
 * x ⊙ s with s broadcast over rows: x [R, C], s [C] (`inner` = C) or s [R] (per-row scalar,
 * `perRow`). Backward: dx = g ⊙ s; ds = Σ_rows g ⊙ x (or Σ_cols per row).
 */
export function mulBroadcast(tape: Tape, x: Var, s: Var, perRow = false): Var {
  const ctx = tape.ctx;
  const C = perRow ? x.value.numel / s.value.numel : s.value.numel;
  const bc = perRow ? { inner: 1, outer: C } : { inner: C, outer: x.value.numel };
  const out = tape.output(mul(ctx, x.value, s.value, bc), [x, s], 'mul');
  tape.record('mul', out, (g) => {
    if (x.requiresGrad) {
      const dx = mul(ctx, g, s.value, bc);
      give(tape, x, dx);
      dx.dispose();
    }
    const ts = tape.target(s);
    if (ts) {
      const gx = mul(ctx, g, x.value);
      if (perRow) {
        const r = reduceAxis(ctx, gx, gx.numel / C, C, 1, { op: 'sum' });
        if (ts.accumulate) {
          const sum = add(ctx, ts.tensor, rs(tape, r, ts.tensor.shape));
          ctx.copy(sum, ts.tensor);
          sum.dispose();
        } else {
          ctx.copy(r, ts.tensor);
        }
        r.dispose();
      } else {
        colSum(ctx, rs(tape, gx, [gx.numel / C, C]), { out: ts });
      }
      gx.dispose();
    }
  });
  return out;
}

/** x + b with b [C] broadcast over the rows of x [R, C] (or b [R] over inner columns: `perRow`). */
export function addBroadcast(tape: Tape, x: Var, b: Var, perRow = false): Var {
  const ctx = tape.ctx;
  const C = perRow ? x.value.numel / b.value.numel : b.value.numel;
  const bc = perRow ? { inner: 1, outer: C } : { inner: C, outer: x.value.numel };
  const out = tape.output(add(ctx, x.value, b.value, bc), [x, b], 'add');
  tape.record('add', out, (g) => {
    give(tape, x, g);
    if (perRow) {
      const r = reduceAxis(ctx, g, g.numel / C, C, 1, { op: 'sum' });
      give(tape, b, r);
      r.dispose();
    } else {
      const tb = tape.target(b);
      if (tb) {
        colSum(ctx, rs(tape, g, [g.numel / C, C]), { out: tb });
      }
    }
  });
  return out;
}

/** tanh-GELU (OC3). */
export function gelu(tape: Tape, x: Var): Var {
  const out = tape.output(geluKernel(tape.ctx, x.value), [x], 'gelu');
  tape.record('gelu', out, (g) => {
    const t = tape.target(x);
    if (t) {
      geluBackward(tape.ctx, g, x.value, { dx: t });
    }
  });
  return out;
}

/** Stable sigmoid. */
export function sigmoid(tape: Tape, x: Var): Var {
  const out = tape.output(sigmoidForward(tape.ctx, x.value), [x], 'sigmoid');
  tape.record('sigmoid', out, (g) => {
    const t = tape.target(x);
    if (t) {
      sigmoidBackward(tape.ctx, g, out.value, { dx: t });
    }
  });
  return out;
}

/** A view with another shape (same elements); gradients pass through. */
export function reshape(tape: Tape, x: Var, shape: readonly number[]): Var {
  const out = tape.output(x.value.reshape(shape), [x], 'reshape');
  tape.record('reshape', out, (g) => {
    give(tape, x, rs(tape, g, x.shape));
  });
  return out;
}

/** Sum over the last dimension: x [R, N] → [R]. */
export function sumLast(tape: Tape, x: Var): Var {
  const N = last(x);
  const R = x.value.numel / N;
  const out = tape.output(tape.keep(reduceAxis(tape.ctx, x.value, R, N, 1, { op: 'sum' })), [x], 'sum');
  tape.record('sum', out, (g) => {
    // dx[r, n] = g[r]: broadcast over the row.
    const ones = tape.ctx.upload(new Float32Array(x.value.numel).fill(1), x.shape);
    const dx = mul(tape.ctx, ones, g, { inner: 1, outer: N });
    give(tape, x, dx);
    dx.dispose();
    ones.dispose();
  });
  return out;
}

// ---------------------------------------------------------------- norms, softmax, attention

/**
 * LayerNorm over the last dim (OC1/OC2): full (weight, bias), scale-only (weight), or none.
 * Saves mean and rstd; backward gives dx, dweight, dbias (two-pass column sums).
 */
export function layerNorm(tape: Tape, x: Var, weight: Var | null, bias: Var | null, eps = 1e-6): Var {
  const ctx = tape.ctx;
  const C = last(x);
  const R = x.value.numel / C;
  const x2 = rs(tape, x.value, [R, C]);
  const r = layerNormForward(ctx, x2, {
    ...(weight ? { weight: weight.value } : {}),
    ...(bias ? { bias: bias.value } : {}),
    eps,
  });
  tape.keep(r.mean);
  tape.keep(r.rstd);
  tape.keep(r.y);
  const inputs = [x, ...(weight ? [weight] : []), ...(bias ? [bias] : [])];
  const out = tape.output(rs(tape, r.y, x.shape), inputs, 'layernorm');
  tape.record('layernorm', out, (g) => {
    const tx = tape.target(x);
    const tw = weight ? tape.target(weight) : null;
    const tb = bias ? tape.target(bias) : null;
    layerNormBackward(ctx, rs(tape, g, [R, C]), x2, r.mean, r.rstd, {
      ...(weight ? { weight: weight.value } : {}),
      ...(tx ? { dx: { tensor: rs(tape, tx.tensor, [R, C]), accumulate: tx.accumulate } } : {}),
      ...(tw ? { dweight: tw } : {}),
      ...(tb ? { dbias: tb } : {}),
    });
  });
  return out;
}

/** RMSNorm over each head's `dim` values with a scale [dim] shared by the heads (OC2). */
export function rmsNormHeads(tape: Tape, x: Var, scale: Var | null, heads: number, dim: number, eps = 1e-6): Var {
  const ctx = tape.ctx;
  const R = x.value.numel / (heads * dim);
  const x2 = rs(tape, x.value, [R, heads * dim]);
  const r = rmsNormForward(ctx, x2, { heads, dim, ...(scale ? { scale: scale.value } : {}), eps });
  tape.keep(r.rstd);
  tape.keep(r.y);
  const out = tape.output(rs(tape, r.y, x.shape), scale ? [x, scale] : [x], 'rmsnorm');
  tape.record('rmsnorm', out, (g) => {
    const tx = tape.target(x);
    const ts = scale ? tape.target(scale) : null;
    rmsNormBackward(ctx, rs(tape, g, [R, heads * dim]), x2, r.rstd, {
      heads,
      dim,
      ...(scale ? { scale: scale.value } : {}),
      ...(tx ? { dx: { tensor: rs(tape, tx.tensor, [R, heads * dim]), accumulate: tx.accumulate } } : {}),
      ...(ts ? { dscale: ts } : {}),
    });
  });
  return out;
}

/** softmax(scale · x) over the last dimension. */
export function softmax(tape: Tape, x: Var, scale = 1): Var {
  const out = tape.output(softmaxKernel(tape.ctx, x.value, { scale }), [x], 'softmax');
  tape.record('softmax', out, (g) => {
    const t = tape.target(x);
    if (t) {
      softmaxBackward(tape.ctx, g, out.value, { scale, dx: t });
    }
  });
  return out;
}

export interface CrossAttentionDims {
  batch: number;
  queries: number;
  keys: number;
  heads: number;
  headDim: number;
  /** The same queries for every batch element (q has `queries` rows). */
  qBatchShared?: boolean;
}

/**
 * Multi-head cross-attention, softmax over keys (OC4): q [B·Nq, H·d] (or [Nq, H·d] shared),
 * k and v [B·Nk, H·d]. Saves the row log-sum-exp; backward in the FlashAttention-2 split.
 */
export function crossAttention(tape: Tape, q: Var, k: Var, v: Var, dims: CrossAttentionDims): Var {
  const ctx = tape.ctx;
  const d = dims.headDim;
  // The kernel takes head widths that are multiples of 4: other widths (the tiny test heads)
  // run on zero-padded copies (the padding adds nothing to q·k; its outputs are dropped).
  const dp = Math.ceil(d / 4) * 4;
  const H = dims.heads;
  const pad = (t: Tensor): Tensor => (dp === d ? t : tape.keep(padHeads(ctx, t, H, d, dp)));
  const W = H * dp;
  const view = (t: Tensor) => ({ tensor: t, stride: W, offset: 0 });
  const [qp, kp, vp] = [pad(q.value), pad(k.value), pad(v.value)];
  const pdims = { ...dims, headDim: dp, scale: 1 / Math.sqrt(d) };
  const r = crossAttentionForward(ctx, view(qp), view(kp), view(vp), pdims);
  tape.keep(r.lse);
  const o = dp === d ? r.o : tape.keep(r.o);
  const out = tape.output(dp === d ? o : unpadHeads(ctx, o, H, d, dp), [q, k, v], 'cross-attention');
  tape.record('cross-attention', out, (g) => {
    const targets = [q, k, v].map((x) => tape.target(x));
    if (dp === d) {
      const [tq, tk, tv] = targets;
      crossAttentionBackward(ctx, g, view(qp), view(kp), view(vp), o, r.lse, pdims, {
        ...(tq ? { dq: tq } : {}),
        ...(tk ? { dk: tk } : {}),
        ...(tv ? { dv: tv } : {}),
      });
      return;
    }
    const grads = crossAttentionBackward(
      ctx,
      tape.keep(padHeads(ctx, g, H, d, dp)),
      view(qp),
      view(kp),
      view(vp),
      o,
      r.lse,
      pdims,
    );
    [grads.dq, grads.dk, grads.dv].forEach((gp, i) => {
      const t = targets[i];
      if (gp) {
        tape.keep(gp);
        if (t) {
          unpadHeads(ctx, gp, H, d, dp, { out: t });
        }
      }
    });
  });
  return out;
}

// ---------------------------------------------------------------- per-head maps, embeddings

/** y[z, h·d + i] = Σ_c W[h·d + i, c] x[z, h, c] + b: x [Z, H, C], W [H·d, C] (see headwise.wgsl). */
export function headwise(tape: Tape, x: Var, w: Var, b: Var | null, heads: number): Var {
  const ctx = tape.ctx;
  const y = headwiseLinear(ctx, x.value, w.value, heads, b ? { bias: b.value } : {});
  const out = tape.output(y, b ? [x, w, b] : [x, w], 'headwise');
  tape.record('headwise', out, (g) => {
    const tx = tape.target(x);
    if (tx) {
      headwiseLinearT(ctx, g, w.value, heads, {
        out: { tensor: rs(tape, tx.tensor, [g.numel / w.shape[0]!, heads, w.shape[1]!]), accumulate: tx.accumulate },
      });
    }
    const tw = tape.target(w);
    if (tw) {
      headwiseWeightGrad(ctx, g, x.value, heads, { out: tw });
    }
    const tb = b ? tape.target(b) : null;
    if (tb) {
      colSum(ctx, rs(tape, g, [g.numel / w.shape[0]!, w.shape[0]!]), { out: tb });
    }
  });
  return out;
}

/** The transposed per-head map: y[z, h, c] = Σ_i W[h·d + i, c] x[z, h·d + i] (u_h = W_hᵀ q_h). */
export function headwiseT(tape: Tape, x: Var, w: Var, heads: number): Var {
  const ctx = tape.ctx;
  const out = tape.output(headwiseLinearT(ctx, x.value, w.value, heads), [x, w], 'headwise-t');
  tape.record('headwise-t', out, (g) => {
    const tx = tape.target(x);
    if (tx) {
      headwiseLinear(ctx, g, w.value, heads, {
        out: { tensor: rs(tape, tx.tensor, [tx.tensor.numel / w.shape[0]!, w.shape[0]!]), accumulate: tx.accumulate },
      });
    }
    const tw = tape.target(w);
    if (tw) {
      headwiseWeightGrad(ctx, x.value, g, heads, { out: tw });
    }
  });
  return out;
}

/** x [B, T, N, C] + pe [T, C] broadcast over N (OC5); dpe = Σ_b Σ_n dy (two column sums). */
export function addPosenc(tape: Tape, x: Var, pe: Var): Var {
  const ctx = tape.ctx;
  const [B, T, N, C] = x.shape as [number, number, number, number];
  const out = tape.output(addTemporalPosenc(ctx, x.value, pe.value), [x, pe], 'posenc');
  tape.record('posenc', out, (g) => {
    give(tape, x, g);
    const tp = tape.target(pe);
    if (tp) {
      const perFrame = tape.keep(colSum(ctx, rs(tape, g, [B * T, N, C]), { groups: B * T }));
      colSum(ctx, rs(tape, perFrame, [B, T * C]), {
        out: { tensor: rs(tape, tp.tensor, [T * C]), accumulate: tp.accumulate },
      });
    }
  });
  return out;
}

/** Row blend: out[r] = mask[r]·a[r] + (1 − mask[r])·b[r], mask a constant [R] of 0/1 values. */
export function blendRows(tape: Tape, mask: Tensor, a: Var, b: Var): Var {
  const ctx = tape.ctx;
  const C = a.value.numel / mask.numel;
  const bc = { inner: 1, outer: C };
  const ones = tape.keep(ctx.upload(new Float32Array(mask.numel).fill(1), [mask.numel]));
  const notMask = tape.keep(axpby(ctx, 1, ones, -1, mask));
  const ma = tape.keep(mul(ctx, a.value, mask, bc));
  const mb = tape.keep(mul(ctx, b.value, notMask, bc));
  const out = tape.output(add(ctx, ma, mb), [a, b], 'blend');
  tape.record('blend', out, (g) => {
    if (a.requiresGrad) {
      const da = mul(ctx, g, mask, bc);
      give(tape, a, da);
      da.dispose();
    }
    if (b.requiresGrad) {
      const db = mul(ctx, g, notMask, bc);
      give(tape, b, db);
      db.dispose();
    }
  });
  return out;
}

// ---------------------------------------------------------------- losses (fused value + gradient)

/**
 * Loss ops add `scale · Σ (masked) term` into `objective` (a caller-owned [1] f32 scalar that
 * persists over micro-batches) and write the term's gradient into the prediction's gradient at
 * once (assuming ∂objective/∂objective = 1). The host gives `scale` = weight / (number of
 * unmasked elements of the whole batch), so micro-batches pool as OC10.
 */
export interface LossArgs {
  objective: Tensor;
  scale: number;
}

function lossOut(a: LossArgs): { tensor: Tensor; accumulate: boolean } {
  return { tensor: a.objective, accumulate: true };
}

/** Softmax cross-entropy with integer labels (OC11): logits [B, K], labels i32 [B]. */
export function crossEntropyLoss(tape: Tape, logits: Var, labels: Tensor, a: LossArgs): void {
  const t = tape.target(logits);
  softmaxCrossEntropy(tape.ctx, logits.value, labels, { scale: a.scale, lossOut: lossOut(a), grad: t });
}

/** Squared error without ½ (OC10): pred, target [P, inner], optional 0/1 mask [P]. */
export function l2(tape: Tape, pred: Var, target: Tensor, mask: Tensor | null, a: LossArgs): void {
  const t = tape.target(pred);
  l2Loss(tape.ctx, pred.value, target, mask, { scale: a.scale, lossOut: lossOut(a), grad: t });
}

/** TAPIR Huber on the (x, y) distance (OC14): pred, target [P, 2], mask [P]. */
export function huber(tape: Tape, pred: Var, target: Tensor, mask: Tensor, a: LossArgs): void {
  const t = tape.target(pred);
  huberLoss(tape.ctx, pred.value, target, mask, { scale: a.scale, lossOut: lossOut(a), grad: t });
}

/** Stable sigmoid BCE (OC16) of column `col` of logits [P, cols] against targets [P]. */
export function bce(tape: Tape, logits: Var, col: number, targets: Tensor, mask: Tensor | null, a: LossArgs): void {
  const t = tape.accumulator(logits);
  sigmoidBce(tape.ctx, logits.value, targets, mask, { scale: a.scale, column: col, lossOut: lossOut(a), grad: t });
}
