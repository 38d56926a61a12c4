import { describe, expect, it } from 'vitest';
import { gradcheck } from '../../src/ref/gradcheck.js';
import {
  alignCornersNearest,
  CERTAINTY_THRESHOLD,
  depthLossBackward,
  depthLossForward,
  depthValidMask,
  HUBER_DELTA,
  huberLossBackward,
  huberLossForward,
  l2LossBackward,
  l2LossForward,
  maskedMeanBackward,
  maskedMeanForward,
  pointsLossBackward,
  pointsLossForward,
  sampleDepthAtGrid,
  sigmoidBceBackward,
  sigmoidBceForward,
  softmaxCrossEntropyBackward,
  softmaxCrossEntropyForward,
} from '../../src/ref/losses.js';
import { expectGrad, randn, randu } from './helpers.js';

/** Targets = pred − offsets with each point's distance drawn from `dists` (far from kinks). */
function pointsAt(seed: number, P: number, dists: readonly number[]): { pred: Float64Array; target: Float64Array } {
  const pred = randu(seed, P * 2, 0.2, 0.8);
  const ang = randu(seed + 1, P, 0, 2 * Math.PI);
  const target = new Float64Array(P * 2);
  for (let p = 0; p < P; p++) {
    const d = dists[p % dists.length]!;
    target[2 * p] = pred[2 * p]! - d * Math.cos(ang[p]!);
    target[2 * p + 1] = pred[2 * p + 1]! - d * Math.sin(ang[p]!);
  }
  return { pred, target };
}

describe('masked mean (OC10)', () => {
  it('known values, broadcasting, empty mask, NaN under a zero mask', () => {
    expect(maskedMeanForward([1, 2, 3, 6], null).loss).toBe(3);
    expect(maskedMeanForward([1, 2, 3, 6], [1, 0, 1, 1]).loss).toBeCloseTo(10 / 3, 15);
    // mask [2] broadcast over 2 trailing elements: denominator counts both.
    const r = maskedMeanForward([1, 2, 3, 6], [0, 1], 2);
    expect(r.loss).toBe(4.5);
    expect(r.denom).toBe(2);
    expect(maskedMeanForward([1, 2], [0, 0]).loss).toBe(0);
    expect(maskedMeanForward([1, 2], [0, 0]).denom).toBe(1e-8);
    expect(maskedMeanForward([Number.NaN, 2], [0, 1]).loss).toBe(2);
    expect([...maskedMeanBackward(3, 4, [0, 1], 2).dvalue]).toEqual([0, 0, 1.5, 1.5]);
    expect(() => maskedMeanForward([1, 2, 3], [1], 2)).toThrow(/inner: 2 does not divide/);
  });
});

describe('softmax cross-entropy (OC11)', () => {
  it('uniform logits give log K; known single example', () => {
    expect(softmaxCrossEntropyForward([0, 0, 0, 0, 0, 0, 0], [3], 1, 7).loss).toBeCloseTo(Math.log(7), 15);
    const l = softmaxCrossEntropyForward([1, 2, 3, 0, 0, 5], [2, 0], 2, 3).loss;
    const e1 = Math.log(Math.exp(1) + Math.exp(2) + Math.exp(3)) - 3;
    const e2 = Math.log(2 + Math.exp(5)) - 0;
    expect(l).toBeCloseTo((e1 + e2) / 2, 14);
    expect(() => softmaxCrossEntropyForward([0, 0], [2], 1, 2)).toThrow(/labels\[0\]: 2 is not an integer class/);
  });

  for (const [B, K, masked] of [
    [1, 1, false],
    [3, 7, false],
    [5, 3, true],
  ] as const) {
    it(`gradient B${B} K${K}${masked ? ' masked' : ''}`, () => {
      const labels = Float64Array.from({ length: B }, (_, b) => (b * 5) % K);
      const mask = masked ? Float64Array.from({ length: B }, (_, b) => (b % 2 === 0 ? 1 : 0)) : null;
      expectGrad(
        gradcheck({
          inputs: { logits: randn(B * K, B * K, 2) },
          forward: (t) => [softmaxCrossEntropyForward(t.logits!, labels, B, K, mask).loss],
          backward: (t, [d]) => {
            const { lse } = softmaxCrossEntropyForward(t.logits!, labels, B, K, mask);
            return { logits: softmaxCrossEntropyBackward(d![0]!, t.logits!, labels, lse, B, K, mask).dlogits };
          },
        }),
      );
    });
  }
});

describe('L2 (no ½; OC10/12/13/15)', () => {
  it('known value: mean of squared errors', () => {
    expect(l2LossForward([1, 2, 3], [0, 0, 1]).loss).toBe(3);
    expect(l2LossForward([1, 2, 3, 4], [0, 0, 0, 0], [0, 1], 2).loss).toBe(12.5);
  });

  for (const [n, inner, masked] of [
    [1, 1, false],
    [7, 1, true],
    [12, 4, true],
    [13, 1, false],
  ] as const) {
    it(`gradient n${n} inner${inner}${masked ? ' masked' : ''}`, () => {
      const target = randn(n + 1, n);
      const mask = masked ? Float64Array.from({ length: n / inner }, (_, i) => (i % 3 === 1 ? 0 : 1)) : null;
      expectGrad(
        gradcheck({
          inputs: { pred: randn(n, n) },
          forward: (t) => [l2LossForward(t.pred!, target, mask, inner).loss],
          backward: (t, [d]) => ({ pred: l2LossBackward(d![0]!, t.pred!, target, mask, inner).dpred }),
        }),
      );
    });
  }
});

describe('TAPIR Huber (OC14)', () => {
  it('known values on both sides of δ = 4/256', () => {
    const d1 = 0.5 * HUBER_DELTA;
    const d2 = 3 * HUBER_DELTA;
    const r = huberLossForward([d1, 0, 0, d2, 0, 0], [0, 0, 0, 0, 0, 0], 3, 2, [1, 1, 0]);
    expect(r.loss).toBeCloseTo((0.5 * d1 * d1 + HUBER_DELTA * (d2 - HUBER_DELTA / 2)) / 2, 17);
    expect([...r.dist]).toEqual([d1, d2, 0]);
    // Value and slope are continuous at the kink.
    const at = (d: number): number => huberLossForward([d, 0], [0, 0], 1).loss;
    expect(at(HUBER_DELTA)).toBeCloseTo(at(HUBER_DELTA * (1 - 1e-12)), 15);
    expect([...huberLossBackward(1, [0.3, 0.4], [0.3, 0.4], 1).dpred]).toEqual([0, 0]);
  });

  for (const [P, masked] of [
    [1, false],
    [7, true],
    [13, false],
  ] as const) {
    it(`gradient P${P}${masked ? ' masked' : ''} (4-point stencil, away from the kink)`, () => {
      const { pred, target } = pointsAt(P, P, [
        0.3 * HUBER_DELTA,
        0.7 * HUBER_DELTA,
        1.6 * HUBER_DELTA,
        4 * HUBER_DELTA,
      ]);
      const mask = masked ? Float64Array.from({ length: P }, (_, p) => (p % 3 === 2 ? 0 : 1)) : null;
      expectGrad(
        gradcheck({
          inputs: { pred },
          forward: (t) => [huberLossForward(t.pred!, target, P, 2, mask).loss],
          backward: (t, [d]) => ({ pred: huberLossBackward(d![0]!, t.pred!, target, P, 2, mask).dpred }),
          stencil: 4,
        }),
      );
    });
  }

  it('gradient in 3 dims with a custom δ', () => {
    const P = 5;
    const pred = randn(40, P * 3);
    const target = randn(41, P * 3);
    expectGrad(
      gradcheck({
        inputs: { pred },
        forward: (t) => [huberLossForward(t.pred!, target, P, 3, null, 0.9).loss],
        backward: (t, [d]) => ({ pred: huberLossBackward(d![0]!, t.pred!, target, P, 3, null, 0.9).dpred }),
        stencil: 4,
      }),
    );
  });
});

describe('sigmoid BCE (OC16)', () => {
  it('known values and stability', () => {
    expect(sigmoidBceForward([0], [1]).loss).toBeCloseTo(Math.LN2, 16);
    for (const [x, z] of [
      [1.3, 1],
      [-0.7, 0],
      [2.1, 0.25],
    ] as const) {
      const s = 1 / (1 + Math.exp(-x));
      expect(sigmoidBceForward([x], [z]).loss).toBeCloseTo(-z * Math.log(s) - (1 - z) * Math.log(1 - s), 14);
    }
    expect(sigmoidBceForward([1000, -1000], [1, 0]).loss).toBe(0);
    expect(sigmoidBceForward([1000], [0]).loss).toBe(1000);
    expect(sigmoidBceForward([-1000], [1]).loss).toBe(1000);
  });

  for (const [n, inner, masked] of [
    [1, 1, false],
    [9, 3, true],
    [7, 1, true],
  ] as const) {
    it(`gradient n${n} inner${inner}${masked ? ' masked' : ''}`, () => {
      const z = randu(n + 2, n);
      const mask = masked ? Float64Array.from({ length: n / inner }, (_, i) => (i % 2 === 0 ? 1 : 0)) : null;
      expectGrad(
        gradcheck({
          inputs: { logits: randn(n, n, 3) },
          forward: (t) => [sigmoidBceForward(t.logits!, z, mask, inner).loss],
          backward: (t, [d]) => ({ logits: sigmoidBceBackward(d![0]!, t.logits!, z, mask, inner).dlogits }),
        }),
      );
    });
  }
});

describe('points loss (OC14)', () => {
  it('known composition', () => {
    // Point 0: visible, exact (d = 0 → certainty target 1); point 1: not visible, far away.
    const r = pointsLossForward([0.5, 0.5, 0.1, 0.9], [0, 0, 2, -1], [0.5, 0.5, 0.9, 0.1], [1, 0], 2);
    expect(r.huber).toBe(0);
    expect([...r.certaintyTarget]).toEqual([1, 0]);
    const bv = (Math.LN2 + (2 + Math.log1p(Math.exp(-2)))) / 2; // BCE(0, 1), BCE(2, 0)
    expect(r.bceVisibility).toBeCloseTo(bv, 15);
    expect(r.bceCertainty).toBeCloseTo(Math.LN2, 15); // only point 0 (visible)
    expect(r.loss).toBeCloseTo(0.1 * bv + 0.1 * Math.LN2, 15);
    // Certainty target threshold is inclusive.
    const t = pointsLossForward([CERTAINTY_THRESHOLD, 0], [0, 0], [0, 0], [1], 1);
    expect(t.certaintyTarget[0]).toBe(1);
  });

  for (const P of [1, 7, 12]) {
    it(`gradient P${P}: values and logits (stop-gradient certainty target)`, () => {
      const { pred, target } = pointsAt(P * 3, P, [0.005, 0.012, 0.019, 0.035, 0.07]);
      const visible = Float64Array.from({ length: P }, (_, p) => (p % 4 === 3 ? 0 : 1));
      const logits = randn(P, 2 * P, 2);
      expectGrad(
        gradcheck({
          inputs: { values: pred, logits },
          forward: (t) => [pointsLossForward(t.values!, t.logits!, target, visible, P).loss],
          backward: (t, [d]) => {
            const g = pointsLossBackward(d![0]!, t.values!, t.logits!, target, visible, P);
            return { values: g.dvalues, logits: g.dlogits };
          },
          stencil: 4,
        }),
      );
    });
  }
});

describe('depth loss (OC13)', () => {
  it('align-corners nearest rounds half up', () => {
    expect([0, 1, 2, 3, 4].map((i) => alignCornersNearest(i, 3, 5))).toEqual([0, 1, 1, 2, 2]);
    expect([0, 1, 2].map((i) => alignCornersNearest(i, 4, 3))).toEqual([0, 2, 3]);
    expect(alignCornersNearest(0, 9, 1)).toBe(0);
    expect([0, 1, 2, 3].map((i) => alignCornersNearest(i, 4, 4))).toEqual([0, 1, 2, 3]);
    for (let i = 0; i < 128; i++) {
      const want = Math.floor((i * 255) / 127 + 0.5);
      expect(alignCornersNearest(i, 256, 128)).toBe(want);
    }
    expect(alignCornersNearest(127, 256, 128)).toBe(255);
  });

  it('samples rows then columns and masks the open interval (0.001, 10)', () => {
    // F=1, H=3, W=4 → grid 2×3: rows {0, 2}, cols {0, 2, 3} (1.5 rounds up).
    const depth = Float64Array.from({ length: 12 }, (_, i) => i + 1);
    expect([...sampleDepthAtGrid(depth, 1, 3, 4, 2, 3)]).toEqual([1, 3, 4, 9, 11, 12]);
    expect([...depthValidMask([0.001, 0.0011, 9.99, 10, Number.NaN, -1])]).toEqual([0, 1, 1, 0, 0, 0]);
    const r = depthLossForward([1, 2, 3, 4], [Number.NaN, 2.5, 0, 12, 3, 3.5, 10, 0.5], 2, 2, 2, 1, 2);
    // frame 0 samples row 0: [NaN, 2.5]; frame 1 row 0: [3, 3.5]. Valid: 2.5, 3, 3.5.
    expect(r.loss).toBeCloseTo((0.25 + 0 + 0.25) / 3, 15);
  });

  it('gradient with invalid pixels', () => {
    const F = 3;
    const [H, W, hq, wq] = [5, 7, 3, 4];
    const depth = randu(8, F * H * W, -1, 11);
    const pred = randu(9, F * hq * wq, 0, 10);
    expectGrad(
      gradcheck({
        inputs: { pred },
        forward: (t) => [depthLossForward(t.pred!, depth, F, H, W, hq, wq).loss],
        backward: (t, [d]) => ({ pred: depthLossBackward(d![0]!, t.pred!, depth, F, H, W, hq, wq).dpred }),
      }),
    );
  });
});
