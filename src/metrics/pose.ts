// Camera pose end-point error (spec §7.2, §8, OC8, OC19): the predicted rotation is projected to
// SO(3) by Procrustes, R̂ = U·diag(1, 1, det(U·Vᵀ))·Vᵀ for R = U·Σ·Vᵀ; the error is the mean
// distance between the 8 corners of a 1 m cube centred at (0, 0, 2) m moved by the ground-truth
// pose [R|t] and by the prediction [R̂|t̂] (t̂ raw); then the mean over clips.
import { bindShapes, checkClips, checkLength, datasetMean, type NanPolicy, type NumericTensor } from './common.js';
import { det3, svd3 } from './svd3.js';

/** The 8 corners of the cube of side 1 m centred at (0, 0, 2) m in first-camera coordinates. */
export const CUBE_CORNERS: readonly (readonly [number, number, number])[] = [-0.5, 0.5].flatMap((x) =>
  [-0.5, 0.5].flatMap((y) => [1.5, 2.5].map((z) => [x, y, z] as const)),
);

/**
 * The rotation nearest to a 3×3 matrix in Frobenius norm (special orthogonal Procrustes):
 * `R̂ = U·diag(1, 1, det(U·Vᵀ))·Vᵀ` with `M = U·Σ·Vᵀ`, Σ descending.
 * @param m row-major 3×3 at `m[offset…offset+8]`
 * @returns R̂ row-major
 */
export function procrustes(m: ArrayLike<number>, offset = 0): Float64Array {
  const { U, V } = svd3(m, offset);
  const d = det3(U) * det3(V);
  const D = [1, 1, d < 0 ? -1 : 1];
  const R = new Float64Array(9);
  for (let r = 0; r < 3; r++) {
    for (let c = 0; c < 3; c++) {
      let s = 0;
      for (let k = 0; k < 3; k++) {
        s += U[3 * r + k]! * D[k]! * V[3 * c + k]!;
      }
      R[3 * r + c] = s;
    }
  }
  return R;
}

/**
 * End-point error of one pose: `(1/8) Σ_j ‖(R·X_j + t) − (R̂·X_j + t̂)‖` over `CUBE_CORNERS`,
 * R̂ = procrustes(predicted R). Poses are 12-vectors `R (3×3 row-major) ‖ t (3)`; the ground
 * truth is used as given.
 */
export function poseEndPointError(
  pred: ArrayLike<number>,
  gt: ArrayLike<number>,
  predOffset = 0,
  gtOffset = 0,
): number {
  const Rh = procrustes(pred, predOffset);
  let s = 0;
  for (const X of CUBE_CORNERS) {
    let d2 = 0;
    for (let r = 0; r < 3; r++) {
      let p = gt[gtOffset + 9 + r]!;
      let q = pred[predOffset + 9 + r]!;
      for (let c = 0; c < 3; c++) {
        p += gt[gtOffset + 3 * r + c]! * X[c]!;
        q += Rh[3 * r + c]! * X[c]!;
      }
      d2 += (p - q) * (p - q);
    }
    s += Math.sqrt(d2);
  }
  return s / CUBE_CORNERS.length;
}

/**
 * EPE of each clip.
 * @param pred predicted poses `[B, 12]` (raw head outputs)
 * @param gt ground-truth poses `[B, 12]`
 */
export function poseEpePerClip(pred: NumericTensor, gt: NumericTensor): Float64Array {
  const { B } = bindShapes([
    { label: 'pred pose', shape: pred.shape, pattern: ['B', 12] },
    { label: 'gt pose', shape: gt.shape, pattern: ['B', 12] },
  ]) as { B: number };
  checkLength('pred pose', pred);
  checkLength('gt pose', gt);
  checkClips('pred pose', B);
  return Float64Array.from({ length: B }, (_, b) => poseEndPointError(pred.data, gt.data, 12 * b, 12 * b));
}

/** Mean EPE over clips (metres, lower is better). */
export function poseEpe(pred: NumericTensor, gt: NumericTensor, opts: { nan?: NanPolicy } = {}): number {
  return datasetMean(poseEpePerClip(pred, gt), opts.nan);
}
