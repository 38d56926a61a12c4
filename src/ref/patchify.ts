// CPU reference for src/kernels/patchify.ts: latent ↔ token layouts (spec §4.2, §4.8).

/**
 * z (F, H, W, Cz) → tokens (F·(H/p)·(W/p), p²·Cin): patch flattened in (py, px, c) order,
 * channels Cz … Cin−1 zero (the self-conditioning input).
 */
export function patchifyRef(
  z: ArrayLike<number>,
  F: number,
  H: number,
  W: number,
  Cz: number,
  Cin: number,
  p: number,
): Float64Array {
  const hp = H / p;
  const wp = W / p;
  const out = new Float64Array(F * hp * wp * p * p * Cin);
  for (let f = 0; f < F; f++) {
    for (let y = 0; y < H; y++) {
      for (let x = 0; x < W; x++) {
        const tok = (f * hp + Math.floor(y / p)) * wp + Math.floor(x / p);
        const pos = (y % p) * p + (x % p);
        for (let c = 0; c < Cz; c++) {
          out[tok * p * p * Cin + pos * Cin + c] = z[((f * H + y) * W + x) * Cz + c]!;
        }
      }
    }
  }
  return out;
}

/** The inverse: tokens (F·(H/p)·(W/p), p²·C) → z (F, H, W, C). */
export function unpatchifyRef(
  t: ArrayLike<number>,
  F: number,
  H: number,
  W: number,
  C: number,
  p: number,
): Float64Array {
  const hp = H / p;
  const wp = W / p;
  const out = new Float64Array(F * H * W * C);
  for (let f = 0; f < F; f++) {
    for (let y = 0; y < H; y++) {
      for (let x = 0; x < W; x++) {
        const tok = (f * hp + Math.floor(y / p)) * wp + Math.floor(x / p);
        const pos = (y % p) * p + (x % p);
        for (let c = 0; c < C; c++) {
          out[((f * H + y) * W + x) * C + c] = t[tok * p * p * C + pos * C + c]!;
        }
      }
    }
  }
  return out;
}
