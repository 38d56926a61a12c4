// Box IoU (OC21): hand-computed overlaps, degenerate boxes, frame 0 and invalid boxes excluded.
import { describe, expect, it } from 'vitest';
import { boxIou, boxIouMean, boxIouPerClip } from '../../src/metrics/index.js';

describe('boxIou', () => {
  it('hand-computed cases', () => {
    expect(boxIou([0, 0, 1, 1], [0, 0, 1, 1])).toBe(1);
    expect(boxIou([0, 0, 1, 1], [2, 2, 3, 3])).toBe(0);
    expect(boxIou([0, 0, 1, 1], [0, 0.5, 1, 1.5])).toBeCloseTo(1 / 3, 15);
    expect(boxIou([0, 0, 1, 1], [0.25, 0.25, 0.75, 0.75])).toBeCloseTo(0.25, 15);
    expect(boxIou([0, 0, 1, 2], [0.5, 1, 1.5, 3])).toBeCloseTo(0.5 / (2 + 2 - 0.5), 15);
    // touching edges: zero intersection
    expect(boxIou([0, 0, 1, 1], [1, 0, 2, 1])).toBe(0);
  });

  it('degenerate boxes: zero or negative extent has area 0; union 0 gives 0', () => {
    expect(boxIou([0.5, 0.5, 0.5, 0.5], [0.5, 0.5, 0.5, 0.5])).toBe(0);
    expect(boxIou([0.5, 0.5, 0.5, 0.5], [0, 0, 1, 1])).toBe(0);
    expect(boxIou([0.8, 0.8, 0.2, 0.2], [0, 0, 1, 1])).toBe(0); // inverted
    expect(boxIou([0.8, 0.8, 0.2, 0.2], [0.8, 0.8, 0.2, 0.2])).toBe(0);
    expect(boxIou([0, 0, 0, 1], [0, 0, 1, 1])).toBe(0); // a line
  });

  it('offsets', () => {
    expect(boxIou([9, 0, 0, 1, 1], [7, 7, 0, 0, 1, 1], 1, 2)).toBe(1);
  });
});

describe('boxIouMean', () => {
  it('excludes frame 0 and invalid boxes; per clip, then over clips', () => {
    // B 2, T 3, M 2.
    const same = [0, 0, 1, 1];
    const third = [0, 0.5, 1, 1.5]; // IoU 1/3 against `same`
    const gtClip = [same, same, same, same, same, same];
    const predClip0 = [third, third, same, third, third, same]; // frame 0 ignored
    const valid0 = [1, 1, 1, 1, 1, 0]; // (t2, m1) invalid
    const predClip1 = [same, same, third, third, same, same];
    const valid1 = [1, 1, 0, 0, 0, 0]; // nothing valid after frame 0
    const x = {
      values: { data: [...predClip0, ...predClip1].flat(), shape: [2, 3, 2, 4] },
      boxes: { data: [...gtClip, ...gtClip].flat(), shape: [2, 3, 2, 4] },
      valid: { data: [...valid0, ...valid1], shape: [2, 3, 2] },
    };
    const per = boxIouPerClip(x);
    expect(per[0]).toBeCloseTo((1 + 1 / 3 + 1 / 3) / 3, 15);
    expect(Number.isNaN(per[1])).toBe(true);
    expect(Number.isNaN(boxIouMean(x))).toBe(true);
    expect(boxIouMean(x, { nan: 'omit' })).toBeCloseTo(5 / 9, 15);
  });

  it('checks shapes and masks', () => {
    const v = { data: new Float32Array(8), shape: [1, 2, 1, 4] };
    expect(() => boxIouMean({ values: v, boxes: v, valid: { data: [1, 2], shape: [1, 2, 1] } })).toThrow(
      'valid[0,1,0] = 2: a mask holds only 0 and 1',
    );
    expect(() =>
      boxIouMean({ values: v, boxes: { data: new Float32Array(6), shape: [1, 2, 1, 3] }, valid: v }),
    ).toThrow('boxes has shape [1,2,1,3], expected [B,T,M,4]');
  });
});
