// AbsRel (OC13, OC18): align-corners nearest sampling with half-up rounding, the valid range
// (open interval), pooling over all frames of a clip, then the mean over clips; NaN policy.
import { describe, expect, it } from 'vitest';
import { absRel, absRelPerClip, alignCornersNearest } from '../../src/metrics/index.js';

describe('alignCornersNearest', () => {
  it('is i·(n_in−1)/(n_out−1) rounded half up', () => {
    expect(alignCornersNearest(0, 1, 5)).toBe(0);
    expect([0, 1, 2].map((i) => alignCornersNearest(i, 3, 5))).toEqual([0, 2, 4]);
    expect(alignCornersNearest(1, 3, 4)).toBe(2); // 1.5 → 2
    expect(alignCornersNearest(1, 3, 2)).toBe(1); // 0.5 → 1 (half up, not to even)
    expect([0, 1, 2].map((i) => alignCornersNearest(i, 3, 1))).toEqual([0, 0, 0]);
    for (const [nOut, nIn] of [
      [7, 97],
      [97, 7],
      [128, 480],
      [3, 3],
    ] as const) {
      for (let i = 0; i < nOut; i++) {
        const exact = (i * (nIn - 1)) / (nOut - 1);
        const j = alignCornersNearest(i, nOut, nIn);
        expect(j).toBeGreaterThanOrEqual(0);
        expect(j).toBeLessThan(nIn);
        expect(Math.abs(j - exact)).toBeLessThanOrEqual(0.5);
        if (Math.abs(j - exact) === 0.5) {
          expect(j).toBeGreaterThan(exact);
        }
      }
      expect(alignCornersNearest(nOut - 1, nOut, nIn)).toBe(nIn - 1);
    }
  });
});

describe('absRel', () => {
  // GT 3×3 per frame sampled at a 2×2 grid: rows/cols {0, 2} (the corners).
  const gt3 = (corners: [number, number, number, number]): number[] => {
    const [a, b, c, d] = corners;
    return [a, 99, b, 99, 99, 99, c, 99, d];
  };

  it('hand-computed: valid range, per clip, then over clips', () => {
    const gt = { data: new Float32Array([...gt3([1, 2, 4, 0]), ...gt3([10, 20, 0.0005, 5])]), shape: [2, 1, 3, 3] };
    const pred = { data: new Float32Array([1.5, 2, 3, 7, 1, 1, 1, 4]), shape: [2, 1, 2, 2] };
    const r = absRelPerClip(pred, gt);
    expect([...r.valid]).toEqual([3, 1]);
    expect(r.absrel[0]).toBeCloseTo((0.5 + 0 + 0.25) / 3, 15);
    expect(r.absrel[1]).toBeCloseTo(0.2, 15);
    expect(absRel(pred, gt)).toBeCloseTo((0.25 + 0.2) / 2, 15);
  });

  it('pools all frames of a clip (not a mean of frame means)', () => {
    // frame 0: one valid pixel, error 1; frame 1: three valid pixels, error 0.
    const gt = { data: [...gt3([2, 0, 0, 0]), ...gt3([1, 1, 1, 0])], shape: [1, 2, 3, 3] };
    const pred = { data: [4, 0, 0, 0, 1, 1, 1, 0], shape: [1, 2, 2, 2] };
    expect(absRel(pred, gt)).toBeCloseTo(0.25, 15);
  });

  it('grid equal to the GT and odd sizes (Hq 3, Wq 7 from 5 × 97)', () => {
    const H = 5;
    const W = 97;
    const gt = Float64Array.from({ length: H * W }, (_, k) => 1 + k / 100);
    const pred = new Float64Array(3 * 7);
    for (let i = 0; i < 3; i++) {
      for (let j = 0; j < 7; j++) {
        pred[i * 7 + j] = 1.1 * gt[alignCornersNearest(i, 3, H) * W + alignCornersNearest(j, 7, W)]!;
      }
    }
    expect(absRel({ data: pred, shape: [1, 1, 3, 7] }, { data: gt, shape: [1, 1, H, W] })).toBeCloseTo(0.1, 12);
  });

  it('a clip without valid pixels is NaN; propagate or omit', () => {
    const gt = { data: [...gt3([1, 1, 1, 1]), ...gt3([0, 10, 11, 0.001])], shape: [2, 1, 3, 3] };
    const pred = { data: [2, 2, 2, 2, 1, 1, 1, 1], shape: [2, 1, 2, 2] };
    expect(Number.isNaN(absRelPerClip(pred, gt).absrel[1])).toBe(true);
    expect(Number.isNaN(absRel(pred, gt))).toBe(true);
    expect(absRel(pred, gt, { nan: 'omit' })).toBe(1);
  });

  it('shape errors name the tensor', () => {
    expect(() => absRel({ data: [1], shape: [1, 1, 1, 1] }, { data: [1, 1], shape: [1, 2, 1, 1] })).toThrow(
      'gt depth has shape [1,2,1,1], expected [B,T,H,W] with T = 1 (from pred depth)',
    );
    expect(() => absRel({ data: [1], shape: [1, 1, 1] }, { data: [1], shape: [1, 1, 1, 1] })).toThrow('(rank 4)');
  });
});
