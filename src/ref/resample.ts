// CPU reference (f64) for the temporal feature resampling of §6 (OC25), forward and adjoint.
import { checkDims, checkLength } from './gradcheck.js';

/** The two source frames and weight of output frame f: y[f] = (1 − w)·x[i0] + w·x[i1]. */
export interface ResampleTap {
  i0: number;
  i1: number;
  w: number;
}

/**
 * Linear interpolation with half-pixel centres, clamped at the ends (OC25):
 * s = clamp((f + 0.5)·T_in/T_out − 0.5, 0, T_in − 1),  i0 = ⌊s⌋,  i1 = min(i0 + 1, T_in − 1),  w = s − i0.
 *
 * For T_out ≥ T_in this equals jax.image.resize(method='linear') (whose edge renormalisation is
 * the clamp), e.g. 5 → 17 gives y[0] = x[0] and y[16] = x[4]. For T_out < T_in it is the plain
 * (not antialiased) linear resize, i.e. jax.image.resize(..., antialias=False) and PyTorch
 * `F.interpolate(mode='linear', align_corners=False)`; jax's default antialiasing widens the
 * kernel there and differs.
 */
export function resampleTimeTap(f: number, tIn: number, tOut: number): ResampleTap {
  const s = Math.min(Math.max(((f + 0.5) * tIn) / tOut - 0.5, 0), tIn - 1);
  const i0 = Math.floor(s);
  return { i0, i1: Math.min(i0 + 1, tIn - 1), w: s - i0 };
}

/**
 * Temporal resampling of features (OC25): y[b, f, n, c] = (1 − w_f)·x[b, i0_f, n, c] + w_f·x[b, i1_f, n, c]
 * with the taps of {@link resampleTimeTap}.
 *
 * @param x `[B, T_in, N, C]` (B = 1 for one clip `[T_in, N, C]`)
 * @returns `y` `[B, T_out, N, C]`
 */
export function resampleTimeForward(
  x: ArrayLike<number>,
  tIn: number,
  tokens: number,
  channels: number,
  tOut: number,
  batch = 1,
): { y: Float64Array } {
  checkDims({ tIn, tOut, channels });
  checkDims({ tokens, batch }, false);
  const inner = tokens * channels;
  checkLength('x', x, batch * tIn * inner, `[B, T_in, N, C] = [${batch}, ${tIn}, ${tokens}, ${channels}]`);
  const y = new Float64Array(batch * tOut * inner);
  for (let f = 0; f < tOut; f++) {
    const { i0, i1, w } = resampleTimeTap(f, tIn, tOut);
    for (let b = 0; b < batch; b++) {
      const o = (b * tOut + f) * inner;
      const a0 = (b * tIn + i0) * inner;
      const a1 = (b * tIn + i1) * inner;
      for (let j = 0; j < inner; j++) {
        y[o + j] = (1 - w) * x[a0 + j]! + w * x[a1 + j]!;
      }
    }
  }
  return { y };
}

/**
 * Adjoint of {@link resampleTimeForward}: dx[b, i0_f] += (1 − w_f)·dy[b, f], dx[b, i1_f] += w_f·dy[b, f].
 *
 * @param dy `[B, T_out, N, C]`
 * @returns `dx` `[B, T_in, N, C]`
 */
export function resampleTimeBackward(
  dy: ArrayLike<number>,
  tIn: number,
  tokens: number,
  channels: number,
  tOut: number,
  batch = 1,
): { dx: Float64Array } {
  checkDims({ tIn, tOut, channels });
  checkDims({ tokens, batch }, false);
  const inner = tokens * channels;
  checkLength('dy', dy, batch * tOut * inner, `[B, T_out, N, C] = [${batch}, ${tOut}, ${tokens}, ${channels}]`);
  const dx = new Float64Array(batch * tIn * inner);
  for (let f = 0; f < tOut; f++) {
    const { i0, i1, w } = resampleTimeTap(f, tIn, tOut);
    for (let b = 0; b < batch; b++) {
      const o = (b * tOut + f) * inner;
      const a0 = (b * tIn + i0) * inner;
      const a1 = (b * tIn + i1) * inner;
      for (let j = 0; j < inner; j++) {
        dx[a0 + j] = dx[a0 + j]! + (1 - w) * dy[o + j]!;
        dx[a1 + j] = dx[a1 + j]! + w * dy[o + j]!;
      }
    }
  }
  return { dx };
}
