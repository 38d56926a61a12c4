// Diffusion schedule (spec §5): 1000 linear betas 1e-4 … 0.02, rescaled to zero terminal SNR
// (Lin et al. Alg. 1, diffusers `rescale_zero_terminal_snr`); v-prediction helpers. f64.

export const NUM_STEPS = 1000;

let cached: Float64Array | null = null;

/** ᾱ_t for t = 0 … 999 with zero terminal SNR (ᾱ_999 = 0). */
export function alphasCumprod(): Float64Array {
  if (cached) {
    return cached;
  }
  const abar = new Float64Array(NUM_STEPS);
  let prod = 1;
  for (let i = 0; i < NUM_STEPS; i++) {
    const beta = 1e-4 + ((0.02 - 1e-4) * i) / (NUM_STEPS - 1);
    prod *= 1 - beta;
    abar[i] = prod;
  }
  const s = abar.map(Math.sqrt);
  const s0 = s[0]!;
  const sT = s[NUM_STEPS - 1]!;
  for (let i = 0; i < NUM_STEPS; i++) {
    const r = ((s[i]! - sT) * s0) / (s0 - sT);
    abar[i] = r * r;
  }
  cached = abar;
  return abar;
}

/** (√ᾱ_t, √(1−ᾱ_t)) for an integer step t. */
export function noiseCoefficients(t: number): { signal: number; noise: number } {
  if (!Number.isInteger(t) || t < 0 || t >= NUM_STEPS) {
    throw new RangeError(`--t must be an integer step in 0…${NUM_STEPS - 1}, got ${t}`);
  }
  const a = alphasCumprod()[t]!;
  return { signal: Math.sqrt(a), noise: Math.sqrt(1 - a) };
}

/** DiT timestep embedding: [cos(t·f_k) ‖ sin(t·f_k)], f_k = exp(−ln(10000)·k/half), k < half. */
export function timestepSinusoid(t: number, dim: number): Float32Array {
  const half = dim / 2;
  const out = new Float32Array(dim);
  for (let k = 0; k < half; k++) {
    const f = Math.exp((-Math.log(10000) * k) / half);
    out[k] = Math.cos(t * f);
    out[half + k] = Math.sin(t * f);
  }
  return out;
}
