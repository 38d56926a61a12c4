// Top-1 accuracy (spec §8, OC17): argmax of the logits, first index on ties, equals the label.
import { bindShapes, checkClips, checkIntegers, checkLength, type NumericTensor } from './common.js';

/**
 * Index of the largest of `n` values starting at `offset`; the first one on ties. A NaN counts
 * as the largest (the first NaN wins), as numpy's argmax.
 */
export function argmaxFirst(data: ArrayLike<number>, offset: number, n: number): number {
  let best = 0;
  let bestV = data[offset]!;
  if (Number.isNaN(bestV)) {
    return 0;
  }
  for (let k = 1; k < n; k++) {
    const v = data[offset + k]!;
    if (Number.isNaN(v)) {
      return k;
    }
    if (v > bestV) {
      bestV = v;
      best = k;
    }
  }
  return best;
}

/**
 * Per clip: `argmax_k logits[b, k] == labels[b]` (1 or 0).
 * @param logits `[B, K]`, K ≥ 1
 * @param labels `[B]`, integers in [0, K) in any numeric dtype
 */
export function top1Correct(logits: NumericTensor, labels: NumericTensor): Uint8Array {
  const { B, K } = bindShapes([
    { label: 'logits', shape: logits.shape, pattern: ['B', 'K'] },
    { label: 'labels', shape: labels.shape, pattern: ['B'] },
  ]) as { B: number; K: number };
  checkLength('logits', logits);
  checkLength('labels', labels);
  checkClips('logits', B);
  checkIntegers('labels', labels, 0, K, `labels of ${K} classes`);
  const out = new Uint8Array(B);
  for (let b = 0; b < B; b++) {
    out[b] = argmaxFirst(logits.data, b * K, K) === labels.data[b] ? 1 : 0;
  }
  return out;
}

/**
 * Top-1 accuracy `(1/B) Σ_b 1[argmax_k logits[b,k] = labels[b]]` (first index on ties).
 * @param logits `[B, K]`
 * @param labels `[B]`, integer-valued
 */
export function top1Accuracy(logits: NumericTensor, labels: NumericTensor): number {
  const c = top1Correct(logits, labels);
  let s = 0;
  for (const x of c) {
    s += x;
  }
  return s / c.length;
}
