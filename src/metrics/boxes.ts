// Box IoU (spec §8, OC21): per (box, frame) IoU of [ymin, xmin, ymax, xmax] boxes, degenerate
// boxes with area max(0, ·)·max(0, ·), union 0 → IoU 0; the mean over the valid (box, frame ≥ 1)
// pairs of a clip (frame 0 holds the given boxes), then the mean over clips.
import {
  bindShapes,
  checkClips,
  checkLength,
  checkMask,
  datasetMean,
  type NanPolicy,
  type NumericTensor,
} from './common.js';

/**
 * IoU of two boxes `[ymin, xmin, ymax, xmax]` at `a[ia…ia+3]`, `b[ib…ib+3]`:
 * `I = max(0, min(y1) − max(y0))·max(0, min(x1) − max(x0))`,
 * `U = area(a) + area(b) − I` with `area = max(0, y1 − y0)·max(0, x1 − x0)`; `I/U`, or 0 when
 * `U = 0`.
 */
export function boxIou(a: ArrayLike<number>, b: ArrayLike<number>, ia = 0, ib = 0): number {
  const ay0 = a[ia]!;
  const ax0 = a[ia + 1]!;
  const ay1 = a[ia + 2]!;
  const ax1 = a[ia + 3]!;
  const by0 = b[ib]!;
  const bx0 = b[ib + 1]!;
  const by1 = b[ib + 2]!;
  const bx1 = b[ib + 3]!;
  const areaA = Math.max(0, ay1 - ay0) * Math.max(0, ax1 - ax0);
  const areaB = Math.max(0, by1 - by0) * Math.max(0, bx1 - bx0);
  const inter =
    Math.max(0, Math.min(ay1, by1) - Math.max(ay0, by0)) * Math.max(0, Math.min(ax1, bx1) - Math.max(ax0, bx0));
  const union = areaA + areaB - inter;
  return union > 0 ? inter / union : 0;
}

export interface BoxIouInput {
  /** Predicted boxes `[B, T, M, 4]` in [0, 1] units, [ymin, xmin, ymax, xmax]. */
  readonly values: NumericTensor;
  /** Ground-truth boxes `[B, T, M, 4]`, same units and order. */
  readonly boxes: NumericTensor;
  /** `[B, T, M]`, 0/1: which (frame, box) pairs have a ground-truth box. */
  readonly valid: NumericTensor;
}

/**
 * Mean IoU of each clip over its valid (box, frame ≥ 1) pairs; NaN for a clip without any.
 */
export function boxIouPerClip(x: BoxIouInput): Float64Array {
  const { B, T, M } = bindShapes([
    { label: 'values', shape: x.values.shape, pattern: ['B', 'T', 'M', 4] },
    { label: 'boxes', shape: x.boxes.shape, pattern: ['B', 'T', 'M', 4] },
    { label: 'valid', shape: x.valid.shape, pattern: ['B', 'T', 'M'] },
  ]) as { B: number; T: number; M: number };
  checkLength('values', x.values);
  checkLength('boxes', x.boxes);
  checkLength('valid', x.valid);
  checkClips('values', B);
  checkMask('valid', x.valid);
  const out = new Float64Array(B);
  for (let b = 0; b < B; b++) {
    let s = 0;
    let n = 0;
    for (let t = 1; t < T; t++) {
      for (let m = 0; m < M; m++) {
        const i = (b * T + t) * M + m;
        if (x.valid.data[i] === 1) {
          s += boxIou(x.values.data, x.boxes.data, 4 * i, 4 * i);
          n++;
        }
      }
    }
    out[b] = n > 0 ? s / n : Number.NaN;
  }
  return out;
}

/** Mean box IoU over clips (`nan` for clips without valid boxes after frame 0; default propagate). */
export function boxIouMean(x: BoxIouInput, opts: { nan?: NanPolicy } = {}): number {
  return datasetMean(boxIouPerClip(x), opts.nan);
}
