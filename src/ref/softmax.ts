// CPU reference (f64) for softmax over the last dim, forward and backward, and the row
// log-sum-exp it rests on.
import { checkDims, checkLength } from './gradcheck.js';

/**
 * Natural-log log-sum-exp of each row: lse[r] = m_r + log Σ_c exp(x[r, c] − m_r), m_r = max_c x[r, c].
 *
 * @param x `[R, C]`
 * @returns `[R]`
 */
export function logSumExpRows(x: ArrayLike<number>, rows: number, cols: number): Float64Array {
  checkDims({ cols });
  checkDims({ rows }, false);
  checkLength('x', x, rows * cols, `[R, C] = [${rows}, ${cols}]`);
  const out = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    let m = -Infinity;
    for (let c = 0; c < cols; c++) {
      m = Math.max(m, x[r * cols + c]!);
    }
    let s = 0;
    for (let c = 0; c < cols; c++) {
      s += Math.exp(x[r * cols + c]! - m);
    }
    out[r] = m + Math.log(s);
  }
  return out;
}

/**
 * Softmax over the last dim: y[r, c] = exp(x[r, c] − m_r) / Σ_j exp(x[r, j] − m_r).
 *
 * @param x `[R, C]`
 * @returns `y` `[R, C]` (the backward needs only `y`)
 */
export function softmaxForward(x: ArrayLike<number>, rows: number, cols: number): { y: Float64Array } {
  checkDims({ cols });
  checkDims({ rows }, false);
  checkLength('x', x, rows * cols, `[R, C] = [${rows}, ${cols}]`);
  const y = new Float64Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    let m = -Infinity;
    for (let c = 0; c < cols; c++) {
      m = Math.max(m, x[r * cols + c]!);
    }
    let s = 0;
    for (let c = 0; c < cols; c++) {
      const e = Math.exp(x[r * cols + c]! - m);
      y[r * cols + c] = e;
      s += e;
    }
    for (let c = 0; c < cols; c++) {
      y[r * cols + c] = y[r * cols + c]! / s;
    }
  }
  return { y };
}

/**
 * Softmax backward from the saved output: dx = y ⊙ (dy − rowsum(dy ⊙ y)).
 *
 * @param dy `[R, C]`
 * @param y `[R, C]` from {@link softmaxForward}
 */
export function softmaxBackward(
  dy: ArrayLike<number>,
  y: ArrayLike<number>,
  rows: number,
  cols: number,
): { dx: Float64Array } {
  checkDims({ cols });
  checkDims({ rows }, false);
  checkLength('dy', dy, rows * cols, `[R, C] = [${rows}, ${cols}]`);
  checkLength('y', y, rows * cols, `[R, C] = [${rows}, ${cols}]`);
  const dx = new Float64Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    let s = 0;
    for (let c = 0; c < cols; c++) {
      s += dy[r * cols + c]! * y[r * cols + c]!;
    }
    for (let c = 0; c < cols; c++) {
      dx[r * cols + c] = y[r * cols + c]! * (dy[r * cols + c]! - s);
    }
  }
  return { dx };
}
