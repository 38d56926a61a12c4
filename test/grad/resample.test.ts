import { describe, expect, it } from 'vitest';
import { gradcheck } from '../../src/ref/gradcheck.js';
import { resampleTimeBackward, resampleTimeForward, resampleTimeTap } from '../../src/ref/resample.js';
import { expectGrad, maxDiff, randn } from './helpers.js';

describe('resample_time (OC25)', () => {
  it('5 → 17: F[0] = latent 0, F[16] = latent 4, clamped half-pixel positions', () => {
    const N = 3;
    const C = 2;
    const x = randn(1, 5 * N * C);
    const { y } = resampleTimeForward(x, 5, N, C, 17);
    const frame = (a: Float64Array, t: number): Float64Array => a.subarray(t * N * C, (t + 1) * N * C);
    expect([...frame(y, 0)]).toEqual([...frame(x, 0)]);
    expect([...frame(y, 16)]).toEqual([...frame(x, 4)]);
    // Ramp input: the output is the clamped source position itself.
    const ramp = Float64Array.from([0, 1, 2, 3, 4]);
    const r = resampleTimeForward(ramp, 5, 1, 1, 17).y;
    for (let f = 0; f < 17; f++) {
      expect(r[f]).toBeCloseTo(Math.min(Math.max(((f + 0.5) * 5) / 17 - 0.5, 0), 4), 15);
    }
    expect(resampleTimeTap(2, 5, 17)).toEqual({ i0: 0, i1: 1, w: 12.5 / 17 - 0.5 });
    expect(resampleTimeTap(16, 5, 17)).toEqual({ i0: 4, i1: 4, w: 0 });
  });

  it('identity when T_in = T_out; broadcast when T_in = 1; preserves constants', () => {
    const x = randn(2, 7 * 3);
    expect([...resampleTimeForward(x, 7, 1, 3, 7).y]).toEqual([...x]);
    const one = resampleTimeForward([1, 2], 1, 1, 2, 3).y;
    expect([...one]).toEqual([1, 2, 1, 2, 1, 2]);
    const c = resampleTimeForward(new Float64Array(5).fill(0.7), 5, 1, 1, 17).y;
    expect(maxDiff(c, new Float64Array(17).fill(0.7))).toBeLessThan(1e-15);
  });

  for (const [tIn, tOut, B, N, C] of [
    [5, 17, 1, 3, 2],
    [17, 5, 2, 1, 3],
    [1, 3, 1, 2, 1],
    [7, 7, 1, 1, 1],
    [4, 13, 3, 1, 2],
  ] as const) {
    it(`${tIn} → ${tOut} (B${B} N${N} C${C}): adjoint and gradient`, () => {
      const x = randn(tIn * tOut, B * tIn * N * C);
      const dy = randn(tIn + tOut, B * tOut * N * C);
      const y = resampleTimeForward(x, tIn, N, C, tOut, B).y;
      const dx = resampleTimeBackward(dy, tIn, N, C, tOut, B).dx;
      const lhs = y.reduce((s, v, i) => s + v * dy[i]!, 0);
      const rhs = x.reduce((s, v, i) => s + v * dx[i]!, 0);
      expect(Math.abs(lhs - rhs)).toBeLessThan(1e-12 * Math.max(1, Math.abs(lhs)));
      expectGrad(
        gradcheck({
          inputs: { x },
          forward: (t) => resampleTimeForward(t.x!, tIn, N, C, tOut, B).y,
          backward: (_, [d]) => ({ x: resampleTimeBackward(d!, tIn, N, C, tOut, B).dx }),
        }),
      );
    });
  }
});
