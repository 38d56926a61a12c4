// CPU reference (f64) for src/kernels/headwise.ts: a Linear applied per head, and its backward.

/** y[z, h, i] = Σ_c W[h·d + i, c] x[z, h, c] + b[h·d + i]; x [Z, H, C], W [H·d, C] → y [Z, H·d]. */
export function headwiseLinearRef(
  x: ArrayLike<number>,
  w: ArrayLike<number>,
  b: ArrayLike<number> | null,
  z: number,
  heads: number,
  d: number,
  c: number,
): Float64Array {
  const y = new Float64Array(z * heads * d);
  for (let s = 0; s < z; s++) {
    for (let k = 0; k < heads * d; k++) {
      const h = Math.floor(k / d);
      let acc = b ? b[k]! : 0;
      for (let j = 0; j < c; j++) {
        acc += w[k * c + j]! * x[(s * heads + h) * c + j]!;
      }
      y[s * heads * d + k] = acc;
    }
  }
  return y;
}

/** Backward of headwiseLinearRef: dx [Z, H, C] (the transposed map), dW [H·d, C], db [H·d]. */
export function headwiseLinearBackwardRef(
  dy: ArrayLike<number>,
  x: ArrayLike<number>,
  w: ArrayLike<number>,
  z: number,
  heads: number,
  d: number,
  c: number,
): { dx: Float64Array; dw: Float64Array; db: Float64Array } {
  const dx = new Float64Array(z * heads * c);
  const dw = new Float64Array(heads * d * c);
  const db = new Float64Array(heads * d);
  for (let s = 0; s < z; s++) {
    for (let k = 0; k < heads * d; k++) {
      const h = Math.floor(k / d);
      const g = dy[s * heads * d + k]!;
      db[k]! += g;
      for (let j = 0; j < c; j++) {
        dx[(s * heads + h) * c + j]! += w[k * c + j]! * g;
        dw[k * c + j]! += g * x[(s * heads + h) * c + j]!;
      }
    }
  }
  return { dx, dw, db };
}
