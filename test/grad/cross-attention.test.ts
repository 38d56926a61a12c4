import { describe, expect, it } from 'vitest';
import {
  crossAttentionBackward,
  crossAttentionForward,
  type CrossAttentionDims,
} from '../../src/ref/cross-attention.js';
import { gradcheck } from '../../src/ref/gradcheck.js';
import { softmaxBackward, softmaxForward } from '../../src/ref/softmax.js';
import { expectGrad, maxDiff, randn } from './helpers.js';

/** Gathers head h of problem b of a [B, N, H, d] tensor as an [N, d] matrix. */
function head(x: ArrayLike<number>, b: number, h: number, n: number, H: number, d: number): Float64Array {
  const out = new Float64Array(n * d);
  for (let i = 0; i < n; i++) {
    for (let c = 0; c < d; c++) {
      out[i * d + c] = x[((b * n + i) * H + h) * d + c]!;
    }
  }
  return out;
}

function scatter(dst: Float64Array, m: Float64Array, b: number, h: number, n: number, H: number, d: number): void {
  for (let i = 0; i < n; i++) {
    for (let c = 0; c < d; c++) {
      dst[((b * n + i) * H + h) * d + c] = m[i * d + c]!;
    }
  }
}

/** C = A·B (transA/transB) for small dense matrices; A is [m, k] (or [k, m]), B is [k, n] (or [n, k]). */
function mm(a: Float64Array, b: Float64Array, m: number, n: number, k: number, tA = false, tB = false): Float64Array {
  const c = new Float64Array(m * n);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let p = 0; p < k; p++) {
        s += (tA ? a[p * m + i]! : a[i * k + p]!) * (tB ? b[j * k + p]! : b[p * n + j]!);
      }
      c[i * n + j] = s;
    }
  }
  return c;
}

/**
 * Direct (materialised) attention and its backward by the chain rule through
 * S = scale·Q·Kᵀ, P = softmax(S), O = P·V — no log-sum-exp, no D trick.
 */
function direct(
  q: Float64Array,
  k: Float64Array,
  v: Float64Array,
  dO: Float64Array,
  dims: CrossAttentionDims,
  scale: number,
): { o: Float64Array; lse: Float64Array; dq: Float64Array; dk: Float64Array; dv: Float64Array } {
  const { batch: B, queries: Nq, keys: Nk, heads: H, dim: d } = dims;
  const o = new Float64Array(q.length);
  const lse = new Float64Array(B * H * Nq);
  const dq = new Float64Array(q.length);
  const dk = new Float64Array(k.length);
  const dv = new Float64Array(v.length);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      const Q = head(q, b, h, Nq, H, d);
      const K = head(k, b, h, Nk, H, d);
      const V = head(v, b, h, Nk, H, d);
      const G = head(dO, b, h, Nq, H, d);
      const S = mm(Q, K, Nq, Nk, d, false, true).map((x) => scale * x);
      for (let i = 0; i < Nq; i++) {
        let s = 0;
        for (let j = 0; j < Nk; j++) {
          s += Math.exp(S[i * Nk + j]!);
        }
        lse[(b * H + h) * Nq + i] = Math.log(s);
      }
      const { y: P } = softmaxForward(S, Nq, Nk);
      scatter(o, mm(P, V, Nq, d, Nk), b, h, Nq, H, d);
      const dP = mm(G, V, Nq, Nk, d, false, true);
      scatter(dv, mm(P, G, Nk, d, Nq, true), b, h, Nk, H, d);
      const dS = softmaxBackward(dP, P, Nq, Nk).dx;
      scatter(
        dq,
        mm(dS, K, Nq, d, Nk).map((x) => scale * x),
        b,
        h,
        Nq,
        H,
        d,
      );
      scatter(
        dk,
        mm(dS, Q, Nk, d, Nq, true).map((x) => scale * x),
        b,
        h,
        Nk,
        H,
        d,
      );
    }
  }
  return { o, lse, dq, dk, dv };
}

describe('cross-attention reference', () => {
  const cases: [CrossAttentionDims, number | undefined][] = [
    [{ batch: 1, queries: 1, keys: 1, heads: 1, dim: 1 }, undefined],
    [{ batch: 2, queries: 3, keys: 7, heads: 2, dim: 5 }, undefined],
    [{ batch: 1, queries: 5, keys: 3, heads: 3, dim: 4 }, 0.3],
    [{ batch: 3, queries: 1, keys: 9, heads: 1, dim: 3 }, undefined],
    [{ batch: 1, queries: 7, keys: 13, heads: 2, dim: 6 }, 1.7],
  ];
  for (const [dims, sc] of cases) {
    const { batch: B, queries: Nq, keys: Nk, heads: H, dim: d } = dims;
    const name = `B${B} Nq${Nq} Nk${Nk} H${H} d${d}${sc === undefined ? '' : ` scale ${sc}`}`;
    const scale = sc ?? 1 / Math.sqrt(d);
    const seed = B * 1000 + Nq * 100 + Nk * 10 + H + d;
    const q = randn(seed, B * Nq * H * d);
    const k = randn(seed + 1, B * Nk * H * d);
    const v = randn(seed + 2, B * Nk * H * d);

    it(`${name}: FA2 backward against central differences`, () => {
      expectGrad(
        gradcheck({
          inputs: { q, k, v },
          forward: (t) => crossAttentionForward(t.q!, t.k!, t.v!, dims, sc).o,
          backward: (t, [dO]) => {
            const f = crossAttentionForward(t.q!, t.k!, t.v!, dims, sc);
            const g = crossAttentionBackward(dO!, t.q!, t.k!, t.v!, f.o, f.lse, dims, sc);
            return { q: g.dq, k: g.dk, v: g.dv };
          },
        }),
      );
    });

    it(`${name}: forward, lse and FA2 backward equal direct differentiation`, () => {
      const dO = randn(seed + 3, q.length);
      const f = crossAttentionForward(q, k, v, dims, sc);
      const g = crossAttentionBackward(dO, q, k, v, f.o, f.lse, dims, sc);
      const w = direct(q, k, v, dO, dims, scale);
      expect(maxDiff(f.o, w.o)).toBeLessThan(1e-13);
      expect(maxDiff(f.lse, w.lse)).toBeLessThan(1e-13);
      expect(maxDiff(g.dq, w.dq)).toBeLessThan(1e-13);
      expect(maxDiff(g.dk, w.dk)).toBeLessThan(1e-13);
      expect(maxDiff(g.dv, w.dv)).toBeLessThan(1e-13);
    });
  }

  it('one key: o = v, zero dq and dk', () => {
    const dims = { batch: 1, queries: 3, keys: 1, heads: 2, dim: 2 };
    const q = randn(1, 12);
    const k = randn(2, 4);
    const v = randn(3, 4);
    const f = crossAttentionForward(q, k, v, dims);
    for (let i = 0; i < 3; i++) {
      expect(maxDiff(f.o.subarray(i * 4, i * 4 + 4), v)).toBeLessThan(1e-15);
    }
    const g = crossAttentionBackward(randn(4, 12), q, k, v, f.o, f.lse, dims);
    expect(Math.max(...g.dq.map(Math.abs), ...g.dk.map(Math.abs))).toBeLessThan(1e-15);
  });

  it('rejects mis-shaped k by name', () => {
    const dims = { batch: 1, queries: 2, keys: 3, heads: 1, dim: 2 };
    expect(() => crossAttentionForward(new Float64Array(4), new Float64Array(4), new Float64Array(6), dims)).toThrow(
      /^k: expected 6 elements \(shape \[B, Nk, H, d\]/,
    );
  });
});
