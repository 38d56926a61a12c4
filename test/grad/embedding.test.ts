import { describe, expect, it } from 'vitest';
import {
  addTemporalPosencBackward,
  addTemporalPosencForward,
  concatChannelsBackward,
  concatChannelsForward,
  embeddingLookupBackward,
  embeddingLookupForward,
  firstLastConcatBackward,
  firstLastConcatForward,
  residualAddBackward,
  residualAddForward,
} from '../../src/ref/embedding.js';
import { gradcheck } from '../../src/ref/gradcheck.js';
import { expectGrad, randn } from './helpers.js';

describe('temporal posenc (OC5)', () => {
  it('broadcasts over tokens and batch', () => {
    const { y } = addTemporalPosencForward([0, 0, 0, 0, 0, 0, 0, 0], [1, 2, 3, 4], 1, 2, 2, 2);
    expect([...y]).toEqual([1, 2, 1, 2, 3, 4, 3, 4]);
  });

  for (const [B, T, N, C] of [
    [1, 1, 1, 1],
    [2, 3, 5, 7],
    [1, 17, 3, 2],
  ] as const) {
    it(`gradients B${B} T${T} N${N} C${C}`, () => {
      expectGrad(
        gradcheck({
          inputs: { x: randn(B + T, B * T * N * C), pe: randn(N + C, T * C) },
          forward: (t) => addTemporalPosencForward(t.x!, t.pe!, B, T, N, C).y,
          backward: (_, [dy]) => {
            const g = addTemporalPosencBackward(dy!, B, T, N, C);
            return { x: g.dx, pe: g.dpe };
          },
        }),
      );
    });
  }
});

describe('embedding lookup, residual, concat', () => {
  it('lookup forward and scatter-add gradient (repeated ids)', () => {
    const ids = [2, 0, 2, 4, 2];
    const { y } = embeddingLookupForward([0, 1, 10, 11, 20, 21, 30, 31, 40, 41], ids, 5, 2);
    expect([...y]).toEqual([20, 21, 0, 1, 20, 21, 40, 41, 20, 21]);
    expectGrad(
      gradcheck({
        inputs: { table: randn(1, 5 * 3) },
        forward: (t) => embeddingLookupForward(t.table!, ids, 5, 3).y,
        backward: (_, [dy]) => ({ table: embeddingLookupBackward(dy!, ids, 5, 3).dtable }),
      }),
    );
    expect(() => embeddingLookupForward([0, 1], [1], 1, 2)).toThrow(/ids\[0\]: 1 is not an integer index/);
  });

  it('residual add gradients', () => {
    expectGrad(
      gradcheck({
        inputs: { a: randn(1, 7), b: randn(2, 7) },
        forward: (t) => residualAddForward(t.a!, t.b!).y,
        backward: (_, [dy]) => {
          const g = residualAddBackward(dy!);
          return { a: g.da, b: g.db };
        },
      }),
    );
  });

  it('channel concat forward and gradients', () => {
    const { y } = concatChannelsForward(
      [
        [1, 2, 3, 4],
        [5, 6],
      ],
      2,
      [2, 1],
    );
    expect([...y]).toEqual([1, 2, 5, 3, 4, 6]);
    const widths = [3, 1, 5];
    const R = 7;
    expectGrad(
      gradcheck({
        inputs: { a: randn(3, R * 3), b: randn(4, R), c: randn(5, R * 5) },
        forward: (t) => concatChannelsForward([t.a!, t.b!, t.c!], R, widths).y,
        backward: (_, [dy]) => {
          const [a, b, c] = concatChannelsBackward(dy!, R, widths).dinputs;
          return { a, b, c };
        },
      }),
    );
  });

  for (const [B, T, N, C] of [
    [1, 1, 2, 3],
    [2, 4, 3, 5],
    [1, 17, 1, 2],
  ] as const) {
    it(`camera first/last-frame concat B${B} T${T} N${N} C${C} (OC8)`, () => {
      const f = randn(T, B * T * N * C);
      const { y } = firstLastConcatForward(f, B, T, N, C);
      expect(y[0]).toBe(f[0]);
      expect(y[C]).toBe(f[(T - 1) * N * C]);
      expectGrad(
        gradcheck({
          inputs: { f },
          forward: (t) => firstLastConcatForward(t.f!, B, T, N, C).y,
          backward: (_, [dy]) => ({ f: firstLastConcatBackward(dy!, B, T, N, C).df }),
        }),
      );
    });
  }
});
