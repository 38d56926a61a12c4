import { describe, expect, it } from 'vitest';
import { checkDims, checkLength, gradcheck, numericalGradient } from '../../src/ref/gradcheck.js';
import { randn } from './helpers.js';

describe('gradcheck helper', () => {
  it('central differences of x³ (2- and 4-point) match 3x²', () => {
    const x = randn(1, 7, 2);
    const f = (v: Float64Array): number => v.reduce((s, a) => s + a * a * a, 0);
    for (const st of [2, 4] as const) {
      const g = numericalGradient(f, x, 1e-6, st);
      x.forEach((a, i) => expect(Math.abs(g[i]! - 3 * a * a)).toBeLessThan(1e-7 * Math.max(1, 3 * a * a)));
    }
  });

  it('the 4-point stencil is more accurate at a larger step', () => {
    const f = (v: Float64Array): number => Math.exp(v[0]!);
    const e2 = Math.abs(numericalGradient(f, [1], 1e-3, 2)[0]! - Math.E);
    const e4 = Math.abs(numericalGradient(f, [1], 1e-3, 4)[0]! - Math.E);
    expect(e4).toBeLessThan(e2 * 1e-3);
  });

  it('accepts a right backward and rejects a wrong one', () => {
    // y = a ⊙ b with two outputs: y and a².
    const forward = (t: Record<string, Float64Array>): Float64Array[] => [
      t.a!.map((v, i) => v * t.b![i]!),
      t.a!.map((v) => v * v),
    ];
    const inputs = { a: randn(2, 5), b: randn(3, 5) };
    const good = gradcheck({
      inputs,
      forward,
      backward: (t, [d0, d1]) => ({
        a: t.a!.map((_, i) => d0![i]! * t.b![i]! + 2 * t.a![i]! * d1![i]!),
        b: t.b!.map((_, i) => d0![i]! * t.a![i]!),
      }),
    });
    expect(good.worstRel).toBeLessThan(1e-8);
    const bad = gradcheck({
      inputs,
      forward,
      backward: (t, [d0]) => ({
        a: t.a!.map((_, i) => d0![i]! * t.b![i]!),
        b: t.b!.map((_, i) => d0![i]! * t.a![i]!),
      }),
    });
    expect(bad.entries.a!.rel).toBeGreaterThan(0.1);
    expect(bad.entries.b!.rel).toBeLessThan(1e-8);
  });

  it('names the input and the fix on bad shapes', () => {
    expect(() => checkLength('x', [1, 2], 3, '[3]')).toThrow(/x: expected 3 elements/);
    expect(() => checkDims({ rows: 1.5 })).toThrow(/rows: expected a positive integer/);
    expect(() => checkDims({ rows: 0 }, false)).not.toThrow();
  });
});
