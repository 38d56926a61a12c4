// CPU references (f64) for LayerNorm (full, scale-only, no-affine) and RMSNorm, forward and
// backward (OC1, OC2).
import { checkDims, checkLength } from './gradcheck.js';

/**
 * LayerNorm over the last dim, forward.
 *
 * μ_r = mean_c x[r, c],  σ²_r = mean_c (x[r, c] − μ_r)²  (biased),  rstd_r = 1/√(σ²_r + eps)
 * x̂[r, c] = (x[r, c] − μ_r)·rstd_r,  y[r, c] = x̂[r, c]·weight[c] + bias[c]
 *
 * The three variants of the readouts (OC2) are the null patterns of the affine arguments:
 * full LN (`weight` and `bias`), scale-only "LN_scale" (`weight`, `bias = null`, flax
 * `LayerNorm(use_bias=False)`), no-affine (both null). `bias` without `weight` is also accepted.
 *
 * @param x `[R, C]` (leading dims flattened into R)
 * @param weight `[C]` or null
 * @param bias `[C]` or null
 * @param eps 1e-6 for every readout norm except the tracking `state_norm` (1e-4), OC1
 * @returns `y` `[R, C]`; saved `mean` `[R]` and `rstd` `[R]`
 */
export function layerNormForward(
  x: ArrayLike<number>,
  rows: number,
  cols: number,
  weight: ArrayLike<number> | null,
  bias: ArrayLike<number> | null,
  eps = 1e-6,
): { y: Float64Array; mean: Float64Array; rstd: Float64Array } {
  checkDims({ cols });
  checkDims({ rows }, false);
  checkLength('x', x, rows * cols, `[R, C] = [${rows}, ${cols}]`);
  if (weight) {
    checkLength('weight', weight, cols, `[C] = [${cols}]`);
  }
  if (bias) {
    checkLength('bias', bias, cols, `[C] = [${cols}]`);
  }
  const y = new Float64Array(rows * cols);
  const mean = new Float64Array(rows);
  const rstd = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    const o = r * cols;
    let m = 0;
    for (let c = 0; c < cols; c++) {
      m += x[o + c]!;
    }
    m /= cols;
    let v = 0;
    for (let c = 0; c < cols; c++) {
      const d = x[o + c]! - m;
      v += d * d;
    }
    const rs = 1 / Math.sqrt(v / cols + eps);
    mean[r] = m;
    rstd[r] = rs;
    for (let c = 0; c < cols; c++) {
      let h = (x[o + c]! - m) * rs;
      if (weight) {
        h *= weight[c]!;
      }
      if (bias) {
        h += bias[c]!;
      }
      y[o + c] = h;
    }
  }
  return { y, mean, rstd };
}

/**
 * LayerNorm backward.
 *
 * With g = dy ⊙ weight (g = dy without weight) and x̂ = (x − μ)·rstd:
 * dx[r, c]  = rstd_r·(g[r, c] − mean_c g[r, ·] − x̂[r, c]·mean_c (g ⊙ x̂)[r, ·])
 * dweight[c] = Σ_r dy[r, c]·x̂[r, c],  dbias[c] = Σ_r dy[r, c]
 *
 * @param dy `[R, C]`
 * @param x `[R, C]`, the forward input
 * @param mean `[R]`
 * @param rstd `[R]`: saved by {@link layerNormForward} (same eps)
 * @param weight `[C]` or null (as in the forward)
 * @param hasBias whether the forward had a bias (then `dbias` is returned, else null)
 */
export function layerNormBackward(
  dy: ArrayLike<number>,
  x: ArrayLike<number>,
  mean: ArrayLike<number>,
  rstd: ArrayLike<number>,
  rows: number,
  cols: number,
  weight: ArrayLike<number> | null,
  hasBias: boolean,
): { dx: Float64Array; dweight: Float64Array | null; dbias: Float64Array | null } {
  checkDims({ cols });
  checkDims({ rows }, false);
  checkLength('dy', dy, rows * cols, `[R, C] = [${rows}, ${cols}]`);
  checkLength('x', x, rows * cols, `[R, C] = [${rows}, ${cols}]`);
  checkLength('mean', mean, rows, `[R] = [${rows}]`);
  checkLength('rstd', rstd, rows, `[R] = [${rows}]`);
  if (weight) {
    checkLength('weight', weight, cols, `[C] = [${cols}]`);
  }
  const dx = new Float64Array(rows * cols);
  const dweight = weight ? new Float64Array(cols) : null;
  const dbias = hasBias ? new Float64Array(cols) : null;
  const g = new Float64Array(cols);
  const xh = new Float64Array(cols);
  for (let r = 0; r < rows; r++) {
    const o = r * cols;
    const m = mean[r]!;
    const rs = rstd[r]!;
    let sg = 0;
    let sgx = 0;
    for (let c = 0; c < cols; c++) {
      const d = dy[o + c]!;
      const h = (x[o + c]! - m) * rs;
      const gc = weight ? d * weight[c]! : d;
      xh[c] = h;
      g[c] = gc;
      sg += gc;
      sgx += gc * h;
      if (dweight) {
        dweight[c] = dweight[c]! + d * h;
      }
      if (dbias) {
        dbias[c] = dbias[c]! + d;
      }
    }
    sg /= cols;
    sgx /= cols;
    for (let c = 0; c < cols; c++) {
      dx[o + c] = rs * (g[c]! - sg - xh[c]! * sgx);
    }
  }
  return { dx, dweight, dbias };
}

/**
 * RMSNorm over the last dim with a scale shared by all heads (norm_query / norm_key, OC2).
 *
 * rstd[r, h] = 1/√(mean_k x[r, h, k]² + eps),  y[r, h, k] = x[r, h, k]·rstd[r, h]·scale[k]
 *
 * @param x `[R, H, d]` (e.g. R = B·N tokens, H heads, d = head dim)
 * @param scale `[d]`, or null for none
 * @param eps 1e-6 (OC1)
 * @returns `y` `[R, H, d]`; saved `rstd` `[R, H]`
 */
export function rmsNormForward(
  x: ArrayLike<number>,
  rows: number,
  heads: number,
  dim: number,
  scale: ArrayLike<number> | null,
  eps = 1e-6,
): { y: Float64Array; rstd: Float64Array } {
  checkDims({ heads, dim });
  checkDims({ rows }, false);
  checkLength('x', x, rows * heads * dim, `[R, H, d] = [${rows}, ${heads}, ${dim}]`);
  if (scale) {
    checkLength('scale', scale, dim, `[d] = [${dim}]`);
  }
  const n = rows * heads;
  const y = new Float64Array(n * dim);
  const rstd = new Float64Array(n);
  for (let r = 0; r < n; r++) {
    const o = r * dim;
    let ss = 0;
    for (let k = 0; k < dim; k++) {
      ss += x[o + k]! * x[o + k]!;
    }
    const rs = 1 / Math.sqrt(ss / dim + eps);
    rstd[r] = rs;
    for (let k = 0; k < dim; k++) {
      y[o + k] = scale ? x[o + k]! * rs * scale[k]! : x[o + k]! * rs;
    }
  }
  return { y, rstd };
}

/**
 * RMSNorm backward.
 *
 * With g = dy ⊙ scale (g = dy without scale), per row (r, h):
 * dx[k] = rstd·g[k] − rstd³·x[k]·mean_j (g[j]·x[j])
 * dscale[k] = Σ_{r,h} dy[r, h, k]·x[r, h, k]·rstd[r, h]
 *
 * @param dy `[R, H, d]`
 * @param x `[R, H, d]`
 * @param rstd `[R, H]` from {@link rmsNormForward}
 * @param scale `[d]` or null (then `dscale` is null)
 */
export function rmsNormBackward(
  dy: ArrayLike<number>,
  x: ArrayLike<number>,
  rstd: ArrayLike<number>,
  rows: number,
  heads: number,
  dim: number,
  scale: ArrayLike<number> | null,
): { dx: Float64Array; dscale: Float64Array | null } {
  checkDims({ heads, dim });
  checkDims({ rows }, false);
  const shape = `[R, H, d] = [${rows}, ${heads}, ${dim}]`;
  checkLength('dy', dy, rows * heads * dim, shape);
  checkLength('x', x, rows * heads * dim, shape);
  checkLength('rstd', rstd, rows * heads, `[R, H] = [${rows}, ${heads}]`);
  if (scale) {
    checkLength('scale', scale, dim, `[d] = [${dim}]`);
  }
  const n = rows * heads;
  const dx = new Float64Array(n * dim);
  const dscale = scale ? new Float64Array(dim) : null;
  for (let r = 0; r < n; r++) {
    const o = r * dim;
    const rs = rstd[r]!;
    let sgx = 0;
    for (let k = 0; k < dim; k++) {
      const gk = scale ? dy[o + k]! * scale[k]! : dy[o + k]!;
      sgx += gk * x[o + k]!;
      if (dscale) {
        dscale[k] = dscale[k]! + dy[o + k]! * x[o + k]! * rs;
      }
    }
    const c = (rs * rs * rs * sgx) / dim;
    for (let k = 0; k < dim; k++) {
      const gk = scale ? dy[o + k]! * scale[k]! : dy[o + k]!;
      dx[o + k] = rs * gk - c * x[o + k]!;
    }
  }
  return { dx, dscale };
}
