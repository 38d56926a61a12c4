// AbsRel (spec §8, OC13, OC18): mean of |d̂ − d| / d over the valid pixels (0.001 < d < 10 m) of
// one clip, all frames pooled, with the ground truth sampled at the prediction grid by
// align-corners nearest neighbour; then the mean over clips.
import { bindShapes, checkClips, checkLength, datasetMean, type NanPolicy, type NumericTensor } from './common.js';

/** Valid ground-truth depth is in the open interval (DEPTH_MIN, DEPTH_MAX) metres. */
export const DEPTH_MIN = 0.001;
export const DEPTH_MAX = 10;

/**
 * Align-corners nearest source index (OC13): `i·(nIn−1)/(nOut−1)` rounded half up, in integers
 * `⌊(2·i·(nIn−1) + (nOut−1)) / (2·(nOut−1))⌋`; 0 when `nOut = 1`.
 */
export function alignCornersNearest(i: number, nOut: number, nIn: number): number {
  if (nOut <= 1) {
    return 0;
  }
  return Math.floor((2 * i * (nIn - 1) + (nOut - 1)) / (2 * (nOut - 1)));
}

export function isValidDepth(d: number): boolean {
  return d > DEPTH_MIN && d < DEPTH_MAX;
}

/** Per-clip AbsRel and valid pixel counts; a clip without valid pixels has AbsRel NaN. */
export interface AbsRelPerClip {
  readonly absrel: Float64Array;
  readonly valid: Float64Array;
}

/**
 * AbsRel of each clip: `Σ_valid |d̂ − d|/d / #valid` over every frame and grid pixel, with
 * `d = gt[b, t, src(y), src(x)]` (`alignCornersNearest`).
 * @param pred predicted depth `[B, T, Hq, Wq]` in metres
 * @param gt ground-truth depth `[B, T, H, W]` in metres
 */
export function absRelPerClip(pred: NumericTensor, gt: NumericTensor): AbsRelPerClip {
  const { B, T, Hq, Wq, H, W } = bindShapes([
    { label: 'pred depth', shape: pred.shape, pattern: ['B', 'T', 'Hq', 'Wq'] },
    { label: 'gt depth', shape: gt.shape, pattern: ['B', 'T', 'H', 'W'] },
  ]) as Record<'B' | 'T' | 'Hq' | 'Wq' | 'H' | 'W', number>;
  checkLength('pred depth', pred);
  checkLength('gt depth', gt);
  checkClips('pred depth', B);
  const ys = Int32Array.from({ length: Hq }, (_, i) => alignCornersNearest(i, Hq, H));
  const xs = Int32Array.from({ length: Wq }, (_, j) => alignCornersNearest(j, Wq, W));
  const absrel = new Float64Array(B);
  const valid = new Float64Array(B);
  const p = pred.data;
  const g = gt.data;
  for (let b = 0; b < B; b++) {
    let s = 0;
    let n = 0;
    for (let t = 0; t < T; t++) {
      const pf = (b * T + t) * Hq * Wq;
      const gf = (b * T + t) * H * W;
      for (let i = 0; i < Hq; i++) {
        const gr = gf + ys[i]! * W;
        for (let j = 0; j < Wq; j++) {
          const d = g[gr + xs[j]!]!;
          if (isValidDepth(d)) {
            s += Math.abs(p[pf + i * Wq + j]! - d) / d;
            n++;
          }
        }
      }
    }
    absrel[b] = n > 0 ? s / n : Number.NaN;
    valid[b] = n;
  }
  return { absrel, valid };
}

/**
 * AbsRel of a dataset: the mean over clips of `absRelPerClip` (a clip without valid pixels is
 * NaN; `nan` says what the mean does with it, default `propagate`).
 */
export function absRel(pred: NumericTensor, gt: NumericTensor, opts: { nan?: NanPolicy } = {}): number {
  return datasetMean(absRelPerClip(pred, gt).absrel, opts.nan);
}
