// CPU reference (f64) for src/kernels/adaln.ts: every layer's AdaLN-LoRA modulation (spec §4.3).

/**
 * A^i[s, j] = base[s, j] + Σ_k up[i, j, k] · d[s, i·r + k]; base (S, 6D), d (S, L·r),
 * up (L, 6D, r) → (S, L·6D), layer i at columns i·6D….
 */
export function adalnLoraRef(
  base: ArrayLike<number>,
  d: ArrayLike<number>,
  up: ArrayLike<number>,
  S: number,
  L: number,
  W6: number,
  r: number,
): Float64Array {
  const out = new Float64Array(S * L * W6);
  for (let s = 0; s < S; s++) {
    for (let i = 0; i < L; i++) {
      for (let j = 0; j < W6; j++) {
        let acc = base[s * W6 + j]!;
        for (let k = 0; k < r; k++) {
          acc += up[(i * W6 + j) * r + k]! * d[s * L * r + i * r + k]!;
        }
        out[(s * L + i) * W6 + j] = acc;
      }
    }
  }
  return out;
}
