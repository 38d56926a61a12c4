import { describe, expect, it } from 'vitest';
import { gradcheck } from '../../src/ref/gradcheck.js';
import { softmaxRef } from '../../src/ref/norms.js';
import { logSumExpRows, softmaxBackward, softmaxForward } from '../../src/ref/softmax.js';
import { expectGrad, maxDiff, randn } from './helpers.js';

describe('softmax reference', () => {
  for (const [R, C] of [
    [1, 1],
    [3, 7],
    [4, 5],
    [2, 97],
  ] as const) {
    it(`${R}x${C}: rows sum to 1, = softmaxRef, gradient`, () => {
      const x = randn(R * 13 + C, R * C, 3);
      const { y } = softmaxForward(x, R, C);
      for (let r = 0; r < R; r++) {
        expect(y.subarray(r * C, (r + 1) * C).reduce((s, a) => s + a, 0)).toBeCloseTo(1, 14);
      }
      expect(maxDiff(y, softmaxRef(x, C))).toBeLessThan(1e-15);
      expectGrad(
        gradcheck({
          inputs: { x },
          forward: (t) => softmaxForward(t.x!, R, C).y,
          backward: (t, [dy]) => ({ x: softmaxBackward(dy!, softmaxForward(t.x!, R, C).y, R, C).dx }),
        }),
      );
    });
  }

  it('is shift-stable and log-sum-exp is exact', () => {
    const x = [1000, 1001, 999];
    const { y } = softmaxForward(x, 1, 3);
    const e = [Math.exp(0), Math.exp(1), Math.exp(-1)];
    const s = e[0]! + e[1]! + e[2]!;
    expect(
      maxDiff(
        y,
        e.map((v) => v / s),
      ),
    ).toBeLessThan(1e-15);
    expect(logSumExpRows(x, 1, 3)[0]).toBeCloseTo(1000 + Math.log(s), 12);
    expect(logSumExpRows([Math.log(2), Math.log(3)], 1, 2)[0]).toBeCloseTo(Math.log(5), 15);
  });
});
