import { describe, expect, it } from 'vitest';
import { gradcheck } from '../../src/ref/gradcheck.js';
import { linearBackward, linearForward } from '../../src/ref/linear.js';
import { matmulRef } from '../../src/ref/matmul.js';
import { expectGrad, maxDiff, randn } from './helpers.js';

describe('linear reference', () => {
  it('known values: y = x·Wᵀ + b', () => {
    const { y } = linearForward([1, 2, 3, 4], [1, 0, 0, 1, 1, 1, 2, -1], [10, 20, 30, 40], 2, 2, 4);
    expect([...y]).toEqual([11, 22, 33, 40, 13, 24, 37, 42]);
  });

  for (const [R, IN, OUT] of [
    [1, 1, 1],
    [3, 7, 5],
    [7, 3, 1],
    [5, 13, 6],
  ] as const) {
    for (const bias of [true, false]) {
      it(`gradients ${R}x${IN}→${OUT}${bias ? ' +b' : ''}; forward = matmulRef(transB)`, () => {
        const s = R * 100 + IN * 10 + OUT;
        const inputs: Record<string, Float64Array> = { x: randn(s, R * IN), w: randn(s + 1, OUT * IN, 0.5) };
        if (bias) {
          inputs.b = randn(s + 2, OUT);
        }
        const { y } = linearForward(inputs.x!, inputs.w!, inputs.b ?? null, R, IN, OUT);
        const mm = matmulRef({ a: inputs.x!, b: inputs.w!, m: R, n: OUT, k: IN, transB: true, bias: inputs.b });
        expect(maxDiff(y, mm)).toBeLessThan(1e-13);
        const rep = gradcheck({
          inputs,
          forward: (t) => linearForward(t.x!, t.w!, t.b ?? null, R, IN, OUT).y,
          backward: (t, [dy]) => {
            const g = linearBackward(dy!, t.x!, t.w!, R, IN, OUT, bias);
            return { x: g.dx, w: g.dw, b: g.db };
          },
        });
        expectGrad(rep);
        if (!bias) {
          expect(linearBackward(y, inputs.x!, inputs.w!, R, IN, OUT, false).db).toBeNull();
        }
      });
    }
  }

  it('rejects mis-shaped inputs by name', () => {
    expect(() => linearForward([1, 2, 3], [1, 2], null, 2, 2, 1)).toThrow(/^x: expected 4 elements/);
    expect(() => linearForward([1, 2], [1, 2], [1, 2], 1, 2, 1)).toThrow(/^b: expected 1 elements/);
  });
});
