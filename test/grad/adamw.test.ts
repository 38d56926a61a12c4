import { describe, expect, it } from 'vitest';
import { adamwStep, warmupCosineDecaySchedule } from '../../src/ref/adamw.js';
import { maxDiff, randn } from './helpers.js';

/** |a − b| ≤ 1e-12·|b| (the schedule's optax evaluation order rounds differently from the spec's). */
function expectRel(a: number, b: number): void {
  expect(Math.abs(a - b), `${a} vs ${b}`).toBeLessThanOrEqual(1e-12 * Math.abs(b));
}

describe('adamw (OC22)', () => {
  it('first update: p − lr·(g/(|g| + 1e-8) + wd·p)', () => {
    const p = randn(1, 7);
    const g = randn(2, 7);
    const z = new Float64Array(7);
    const r = adamwStep(p, g, z, z, 0, 0.01, { weightDecay: 0.5 });
    const want = p.map((pi, i) => pi - 0.01 * (g[i]! / (Math.abs(g[i]!) + 1e-8) + 0.5 * pi));
    expect(maxDiff(r.param, want)).toBeLessThan(1e-16);
    expect(
      maxDiff(
        r.m,
        g.map((x) => 0.1 * x),
      ),
    ).toBeLessThan(1e-15);
    expect(
      maxDiff(
        r.v,
        g.map((x) => 0.001 * x * x),
      ),
    ).toBeLessThan(1e-15);
    expect(adamwStep([1], [0], [0], [0], 0, 1).param[0]).toBeCloseTo(1 - 1e-4, 16);
  });

  it('five updates equal the PyTorch-form AdamW (decay first, √v/√bc2 + ε)', () => {
    const n = 9;
    let p: Float64Array = randn(3, n);
    let m: Float64Array = new Float64Array(n);
    let v: Float64Array = new Float64Array(n);
    const q = Float64Array.from(p);
    const mt = new Float64Array(n);
    const vt = new Float64Array(n);
    const wd = 0.5;
    for (let s = 0; s < 5; s++) {
      const lr = warmupCosineDecaySchedule(s, { peakValue: 1e-2, warmupSteps: 0, decaySteps: 10, endValue: 1e-7 });
      const g = randn(10 + s, n);
      ({ param: p, m, v } = adamwStep(p, g, m, v, s, lr, { weightDecay: wd }));
      const t = s + 1;
      for (let i = 0; i < n; i++) {
        q[i] = q[i]! * (1 - lr * wd);
        mt[i] = 0.9 * mt[i]! + 0.1 * g[i]!;
        vt[i] = 0.999 * vt[i]! + 0.001 * g[i]! * g[i]!;
        const denom = Math.sqrt(vt[i]!) / Math.sqrt(1 - 0.999 ** t) + 1e-8;
        q[i] = q[i]! - (lr / (1 - 0.9 ** t)) * (mt[i]! / denom);
      }
    }
    expect(maxDiff(p, q)).toBeLessThan(1e-14);
  });

  it('rejects mismatched state', () => {
    expect(() => adamwStep([1, 2], [1], [0, 0], [0, 0], 0, 1)).toThrow(/^grad: expected 2 elements/);
    expect(() => adamwStep([1], [1], [0], [0], -1, 1)).toThrow(/^step:/);
  });
});

describe('warmup cosine schedule (OC23)', () => {
  const o = { peakValue: 3e-4, warmupSteps: 1000, decaySteps: 40000, endValue: 1e-7 };
  it('known values of the study schedule', () => {
    const lr = (s: number): number => warmupCosineDecaySchedule(s, o);
    expect(lr(0)).toBe(0);
    expectRel(lr(1), 3e-7);
    expectRel(lr(500), 1.5e-4);
    expectRel(lr(999), 2.997e-4);
    expectRel(lr(1000), 3e-4);
    expectRel(lr(20500), 1e-7 + (3e-4 - 1e-7) / 2);
    expectRel(lr(40000), 1e-7);
    expectRel(lr(1e6), 1e-7);
    const s = 12345;
    expectRel(lr(s), 1e-7 + (3e-4 - 1e-7) * 0.5 * (1 + Math.cos((Math.PI * (s - 1000)) / 39000)));
  });

  it('W = 0, D = W, bad arguments', () => {
    const z = { peakValue: 1e-2, warmupSteps: 0, decaySteps: 10, endValue: 1e-7 };
    expect(warmupCosineDecaySchedule(0, z)).toBe(1e-2);
    expectRel(warmupCosineDecaySchedule(1, z), 1e-7 + (1e-2 - 1e-7) * 0.5 * (1 + Math.cos(Math.PI / 10)));
    expectRel(warmupCosineDecaySchedule(10, z), 1e-7);
    const dw = { peakValue: 1e-2, warmupSteps: 4, decaySteps: 4, endValue: 1e-7 };
    expectRel(warmupCosineDecaySchedule(2, dw), 5e-3);
    expect(warmupCosineDecaySchedule(4, dw)).toBe(1e-7);
    expect(warmupCosineDecaySchedule(3, { peakValue: 0, warmupSteps: 0, decaySteps: 5 })).toBe(0);
    expect(() => warmupCosineDecaySchedule(0, { ...o, decaySteps: 10 })).toThrow(/^decaySteps:/);
    expect(() => warmupCosineDecaySchedule(0.5, o)).toThrow(/^step:/);
  });
});
