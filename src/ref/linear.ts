// CPU reference (f64) for a dense layer y = x·Wᵀ + b, forward and backward.
import { checkDims, checkLength } from './gradcheck.js';

/**
 * Dense layer forward, PyTorch `nn.Linear` layout.
 *
 * y[r, o] = Σ_i x[r, i]·W[o, i] + b[o]
 *
 * @param x `[R, IN]` (any leading dims flattened into R)
 * @param w `[OUT, IN]`
 * @param b `[OUT]`, or null for no bias
 * @returns `y` `[R, OUT]`. Nothing else is saved: the backward uses `x` and `w`.
 */
export function linearForward(
  x: ArrayLike<number>,
  w: ArrayLike<number>,
  b: ArrayLike<number> | null,
  rows: number,
  inFeatures: number,
  outFeatures: number,
): { y: Float64Array } {
  checkDims({ inFeatures, outFeatures });
  checkDims({ rows }, false);
  checkLength('x', x, rows * inFeatures, `[R, IN] = [${rows}, ${inFeatures}]`);
  checkLength('w', w, outFeatures * inFeatures, `[OUT, IN] = [${outFeatures}, ${inFeatures}]`);
  if (b) {
    checkLength('b', b, outFeatures, `[OUT] = [${outFeatures}]`);
  }
  const y = new Float64Array(rows * outFeatures);
  for (let r = 0; r < rows; r++) {
    for (let o = 0; o < outFeatures; o++) {
      let s = 0;
      for (let i = 0; i < inFeatures; i++) {
        s += x[r * inFeatures + i]! * w[o * inFeatures + i]!;
      }
      y[r * outFeatures + o] = b ? s + b[o]! : s;
    }
  }
  return { y };
}

/**
 * Dense layer backward.
 *
 * dx = dy·W            `[R, IN]`:   dx[r, i] = Σ_o dy[r, o]·W[o, i]
 * dW = dyᵀ·x           `[OUT, IN]`: dW[o, i] = Σ_r dy[r, o]·x[r, i]
 * db = colsum(dy)      `[OUT]`:     db[o]    = Σ_r dy[r, o]
 *
 * @param dy `[R, OUT]`
 * @param x `[R, IN]`, the forward input
 * @param w `[OUT, IN]`
 * @param hasBias whether to return `db` (null otherwise)
 */
export function linearBackward(
  dy: ArrayLike<number>,
  x: ArrayLike<number>,
  w: ArrayLike<number>,
  rows: number,
  inFeatures: number,
  outFeatures: number,
  hasBias = true,
): { dx: Float64Array; dw: Float64Array; db: Float64Array | null } {
  checkDims({ inFeatures, outFeatures });
  checkDims({ rows }, false);
  checkLength('dy', dy, rows * outFeatures, `[R, OUT] = [${rows}, ${outFeatures}]`);
  checkLength('x', x, rows * inFeatures, `[R, IN] = [${rows}, ${inFeatures}]`);
  checkLength('w', w, outFeatures * inFeatures, `[OUT, IN] = [${outFeatures}, ${inFeatures}]`);
  const dx = new Float64Array(rows * inFeatures);
  const dw = new Float64Array(outFeatures * inFeatures);
  const db = hasBias ? new Float64Array(outFeatures) : null;
  for (let r = 0; r < rows; r++) {
    for (let i = 0; i < inFeatures; i++) {
      let s = 0;
      for (let o = 0; o < outFeatures; o++) {
        s += dy[r * outFeatures + o]! * w[o * inFeatures + i]!;
      }
      dx[r * inFeatures + i] = s;
    }
  }
  for (let o = 0; o < outFeatures; o++) {
    for (let i = 0; i < inFeatures; i++) {
      let s = 0;
      for (let r = 0; r < rows; r++) {
        s += dy[r * outFeatures + o]! * x[r * inFeatures + i]!;
      }
      dw[o * inFeatures + i] = s;
    }
    if (db) {
      let s = 0;
      for (let r = 0; r < rows; r++) {
        s += dy[r * outFeatures + o]!;
      }
      db[o] = s;
    }
  }
  return { dx, dw, db };
}
