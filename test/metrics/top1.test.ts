// Top-1 (OC17): argmax with the first index on ties, integer labels in any dtype, errors.
import { describe, expect, it } from 'vitest';
import { argmaxFirst, top1Accuracy, top1Correct } from '../../src/metrics/index.js';

describe('top1', () => {
  it('first index on ties', () => {
    const logits = { data: new Float32Array([1, 3, 3, 5, 1, 0, 0, 0, 0]), shape: [3, 3] };
    const labels = { data: new Int32Array([2, 0, 0]), shape: [3] };
    expect([...top1Correct(logits, labels)]).toEqual([0, 1, 1]);
    expect(top1Accuracy(logits, labels)).toBeCloseTo(2 / 3, 15);
    expect(top1Accuracy(logits, { data: new Float64Array([1, 0, 0]), shape: [3] })).toBe(1);
  });

  it('K = 1, B = 7 odd sizes; NaN counts as the maximum (numpy argmax)', () => {
    const one = { data: new Float32Array(7).fill(-2), shape: [7, 1] };
    expect(top1Accuracy(one, { data: new Float32Array(7), shape: [7] })).toBe(1);
    expect(argmaxFirst([1, Number.NaN, 5, Number.NaN], 0, 4)).toBe(1);
    expect(argmaxFirst([Number.NaN, 9], 0, 2)).toBe(0);
    expect(argmaxFirst([0, 1, 2, 9, 3], 2, 3)).toBe(1);
    expect(argmaxFirst([-Infinity, -Infinity], 0, 2)).toBe(0);
  });

  it('names the tensor and the fix', () => {
    const logits = { data: new Float32Array(6), shape: [2, 3] };
    expect(() => top1Accuracy(logits, { data: [0, 3], shape: [2] })).toThrow(
      'labels[1] = 3: labels of 3 classes must be integers in [0, 2]',
    );
    expect(() => top1Accuracy(logits, { data: [0, 1.5], shape: [2] })).toThrow('labels[1] = 1.5');
    expect(() => top1Accuracy(logits, { data: [0, 1, 2], shape: [3] })).toThrow(
      'labels has shape [3], expected [B] with B = 2 (from logits)',
    );
    expect(() => top1Accuracy({ data: [], shape: [0, 3] }, { data: [], shape: [0] })).toThrow('no clips');
  });
});
