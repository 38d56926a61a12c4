// CPU reference (f64) for multi-head cross-attention with a separate key count (OC4): forward
// with the row log-sum-exp, backward in the FlashAttention-2 form.
import { checkDims, checkLength } from './gradcheck.js';

export interface CrossAttentionDims {
  /** Independent problems (batch). */
  batch: number;
  /** Query rows per problem. */
  queries: number;
  /** Key/value rows per problem. */
  keys: number;
  heads: number;
  /** Head dim d of q, k and v. */
  dim: number;
}

function checkAll(dims: CrossAttentionDims, named: Record<string, ArrayLike<number>>): void {
  const { batch: B, queries: Nq, keys: Nk, heads: H, dim: d } = dims;
  checkDims({ heads: H, dim: d, keys: Nk });
  checkDims({ batch: B, queries: Nq }, false);
  for (const [name, a] of Object.entries(named)) {
    if (name === 'k' || name === 'v') {
      checkLength(name, a, B * Nk * H * d, `[B, Nk, H, d] = [${B}, ${Nk}, ${H}, ${d}]`);
    } else if (name === 'lse') {
      checkLength(name, a, B * H * Nq, `[B, H, Nq] = [${B}, ${H}, ${Nq}]`);
    } else {
      checkLength(name, a, B * Nq * H * d, `[B, Nq, H, d] = [${B}, ${Nq}, ${H}, ${d}]`);
    }
  }
}

/**
 * Multi-head cross-attention forward, softmax over keys only, no mask, no dropout (OC4).
 *
 * For each problem b, head h, query i:
 * S[j]  = scale·Σ_c q[b, i, h, c]·k[b, j, h, c]            (j over the Nk keys)
 * lse   = log Σ_j exp(S[j])                                  (natural log, max-shifted)
 * P[j]  = exp(S[j] − lse)
 * o[b, i, h, c] = Σ_j P[j]·v[b, j, h, c]
 *
 * @param q `[B, Nq, H, d]`
 * @param k `[B, Nk, H, d]`
 * @param v `[B, Nk, H, d]`
 * @param scale default 1/√d
 * @returns `o` `[B, Nq, H, d]`; saved `lse` `[B, H, Nq]`
 */
export function crossAttentionForward(
  q: ArrayLike<number>,
  k: ArrayLike<number>,
  v: ArrayLike<number>,
  dims: CrossAttentionDims,
  scale = 1 / Math.sqrt(dims.dim),
): { o: Float64Array; lse: Float64Array } {
  checkAll(dims, { q, k, v });
  const { batch: B, queries: Nq, keys: Nk, heads: H, dim: d } = dims;
  const o = new Float64Array(B * Nq * H * d);
  const lse = new Float64Array(B * H * Nq);
  const s = new Float64Array(Nk);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      for (let i = 0; i < Nq; i++) {
        const qo = ((b * Nq + i) * H + h) * d;
        let m = -Infinity;
        for (let j = 0; j < Nk; j++) {
          const ko = ((b * Nk + j) * H + h) * d;
          let dot = 0;
          for (let c = 0; c < d; c++) {
            dot += q[qo + c]! * k[ko + c]!;
          }
          s[j] = scale * dot;
          m = Math.max(m, s[j]!);
        }
        let l = 0;
        for (let j = 0; j < Nk; j++) {
          s[j] = Math.exp(s[j]! - m);
          l += s[j]!;
        }
        for (let c = 0; c < d; c++) {
          let acc = 0;
          for (let j = 0; j < Nk; j++) {
            acc += s[j]! * v[((b * Nk + j) * H + h) * d + c]!;
          }
          o[qo + c] = acc / l;
        }
        lse[(b * H + h) * Nq + i] = m + Math.log(l);
      }
    }
  }
  return { o, lse };
}

/**
 * Multi-head cross-attention backward, FlashAttention-2 form (P recomputed from `lse`).
 *
 * Per problem b, head h, with S, P as in {@link crossAttentionForward}:
 * D[i]  = Σ_c dO[i, c]·O[i, c]                      (= rowsum(dO ∘ O))
 * P[i, j] = exp(scale·q_i·k_j − lse[i])
 * dP[i, j] = dO_i·v_j
 * dS[i, j] = P[i, j]·(dP[i, j] − D[i])
 * dQ_i = scale·Σ_j dS[i, j]·k_j,  dK_j = scale·Σ_i dS[i, j]·q_i,  dV_j = Σ_i P[i, j]·dO_i
 *
 * @param dO `[B, Nq, H, d]`; `o` `[B, Nq, H, d]` and `lse` `[B, H, Nq]` from the forward
 * @returns `dq` `[B, Nq, H, d]`, `dk` and `dv` `[B, Nk, H, d]`
 */
export function crossAttentionBackward(
  dO: ArrayLike<number>,
  q: ArrayLike<number>,
  k: ArrayLike<number>,
  v: ArrayLike<number>,
  o: ArrayLike<number>,
  lse: ArrayLike<number>,
  dims: CrossAttentionDims,
  scale = 1 / Math.sqrt(dims.dim),
): { dq: Float64Array; dk: Float64Array; dv: Float64Array } {
  checkAll(dims, { dO, q, k, v, o, lse });
  const { batch: B, queries: Nq, keys: Nk, heads: H, dim: d } = dims;
  const dq = new Float64Array(B * Nq * H * d);
  const dk = new Float64Array(B * Nk * H * d);
  const dv = new Float64Array(B * Nk * H * d);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      for (let i = 0; i < Nq; i++) {
        const qo = ((b * Nq + i) * H + h) * d;
        let D = 0;
        for (let c = 0; c < d; c++) {
          D += dO[qo + c]! * o[qo + c]!;
        }
        const li = lse[(b * H + h) * Nq + i]!;
        for (let j = 0; j < Nk; j++) {
          const ko = ((b * Nk + j) * H + h) * d;
          let sij = 0;
          let dpij = 0;
          for (let c = 0; c < d; c++) {
            sij += q[qo + c]! * k[ko + c]!;
            dpij += dO[qo + c]! * v[ko + c]!;
          }
          const pij = Math.exp(scale * sij - li);
          const dsij = pij * (dpij - D);
          for (let c = 0; c < d; c++) {
            dq[qo + c] = dq[qo + c]! + scale * dsij * k[ko + c]!;
            dk[ko + c] = dk[ko + c]! + scale * dsij * q[qo + c]!;
            dv[ko + c] = dv[ko + c]! + pij * dO[qo + c]!;
          }
        }
      }
    }
  }
  return { dq, dk, dv };
}
