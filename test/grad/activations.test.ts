import { describe, expect, it } from 'vitest';
import {
  geluTanhBackward,
  geluTanhForward,
  sigmoid,
  sigmoidBackward,
  sigmoidForward,
  siluBackward,
  siluForward,
} from '../../src/ref/activations.js';
import { gradcheck } from '../../src/ref/gradcheck.js';
import { expectGrad, randn } from './helpers.js';

const xs = (): Float64Array => Float64Array.from([...randn(4, 17, 3), 0, -6, 6, 0.5, -0.5]);

describe('activation references', () => {
  it('tanh-GELU known values and gradient', () => {
    const { y } = geluTanhForward([0, 1, -1, 10, -10]);
    expect(y[0]).toBe(0);
    const g1 = 0.5 * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * 1.044715));
    expect(y[1]).toBeCloseTo(g1, 15);
    expect(y[1]).toBeCloseTo(0.8411919906082768, 12);
    expect(y[2]).toBeCloseTo(g1 - 1, 15);
    expect(y[3]).toBeCloseTo(10, 12);
    expect(Math.abs(y[4]!)).toBeLessThan(1e-12);
    expectGrad(
      gradcheck({
        inputs: { x: xs() },
        forward: (t) => geluTanhForward(t.x!).y,
        backward: (t, [dy]) => ({ x: geluTanhBackward(dy!, t.x!).dx }),
      }),
    );
  });

  it('sigmoid is stable at extremes and its backward matches', () => {
    expect(sigmoid(0)).toBe(0.5);
    expect(sigmoid(-800)).toBe(0);
    expect(sigmoid(800)).toBe(1);
    expect(sigmoid(-40)).toBeCloseTo(Math.exp(-40), 30);
    for (const x of [0.3, -2, 7]) {
      expect(sigmoid(x) + sigmoid(-x)).toBeCloseTo(1, 15);
    }
    expectGrad(
      gradcheck({
        inputs: { x: xs() },
        forward: (t) => sigmoidForward(t.x!).y,
        backward: (t, [dy]) => ({ x: sigmoidBackward(dy!, sigmoidForward(t.x!).y).dx }),
      }),
    );
  });

  it('silu forward and gradient', () => {
    const { y } = siluForward([0, 2, -800]);
    expect(y[0]).toBe(0);
    expect(y[1]).toBeCloseTo(2 / (1 + Math.exp(-2)), 15);
    expect(y[2]).toBe(-0);
    expectGrad(
      gradcheck({
        inputs: { x: xs() },
        forward: (t) => siluForward(t.x!).y,
        backward: (t, [dy]) => ({ x: siluBackward(dy!, t.x!).dx }),
      }),
    );
  });
});
