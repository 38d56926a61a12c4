// CPU references (f64) for the Fourier query features (OC6): general coordinates with
// range-reduced phases, and the exact-grid variant of the depth readout. No gradient.
import { checkDims, checkLength } from './gradcheck.js';

/**
 * Fourier features of coordinate rows (OC6), MooG `SampleFourierEmbedding` without raw coordinates.
 *
 * For row r with coordinates c_0 … c_{n−1} and bands b = 0 … nb−1, phase column j = b·n + i
 * holds 2^b·c_i; the output row is [sin block | cos block]:
 * r_j = fmod(2^b·c_i, 2) (exact in f64: 2^b scaling is exact, JS `%` is fmod),
 * out[r, j] = sin(π·r_j),  out[r, n·nb + j] = sin(π·r_j + π/2).
 *
 * @param coords `[R, n]` (points: (x, y); boxes: (ymin, xmin, ymax, xmax); in [−1, 1])
 * @returns `[R, 2·n·nb]`
 */
export function fourierFeatures(
  coords: ArrayLike<number>,
  rows: number,
  numCoords: number,
  numBands: number,
): Float64Array {
  checkDims({ numCoords, numBands });
  checkDims({ rows }, false);
  checkLength('coords', coords, rows * numCoords, `[R, n] = [${rows}, ${numCoords}]`);
  const width = 2 * numCoords * numBands;
  const half = numCoords * numBands;
  const out = new Float64Array(rows * width);
  for (let r = 0; r < rows; r++) {
    for (let b = 0; b < numBands; b++) {
      const p2 = 2 ** b;
      for (let i = 0; i < numCoords; i++) {
        const ph = (p2 * coords[r * numCoords + i]!) % 2;
        const j = b * numCoords + i;
        out[r * width + j] = Math.sin(Math.PI * ph);
        out[r * width + half + j] = Math.sin(Math.PI * ph + Math.PI / 2);
      }
    }
  }
  return out;
}

/** The depth grid coordinate c_i = (2i − (n−1))/(n−1) (= linspace(−1, 1, n)[i]); −1 when n = 1. */
export function gridCoordinate(i: number, n: number): number {
  return n === 1 ? -1 : (2 * i - (n - 1)) / (n - 1);
}

/**
 * Range-reduced phase of 2^b·c_i for the exact grid coordinate c_i = (2i − (n−1))/(n−1), computed
 * in integers: r = ((2^b·(2i − (n−1))) mod 2(n−1)) / (n−1) ∈ [0, 2) (so 2^b·c_i ≡ r mod 2).
 * n = 1 (c = −1): r = (−2^b) mod 2, i.e. 1 for b = 0 and 0 for b ≥ 1.
 */
export function gridPhase(i: number, n: number, band: number): number {
  if (n === 1) {
    return band === 0 ? 1 : 0;
  }
  const m = 2 * (n - 1);
  let p = 1 % m;
  for (let b = 0; b < band; b++) {
    p = (2 * p) % m;
  }
  const k = (((2 * i - (n - 1)) % m) + m) % m;
  return ((p * k) % m) / (n - 1);
}

/**
 * Fourier features of the depth query grid (OC6, OC7): one row per pixel of an Hq×Wq grid,
 * row-major (y, x), coordinates (c_y, c_x) = (gridCoordinate(y, Hq), gridCoordinate(x, Wq)) (row
 * first), columns as {@link fourierFeatures} with n = 2 and the phases from {@link gridPhase}
 * (exact integer range reduction).
 *
 * @returns `[Hq·Wq, 4·nb]`
 */
export function fourierGridFeatures(hq: number, wq: number, numBands: number): Float64Array {
  checkDims({ hq, wq, numBands });
  if (hq > 1 << 24 || wq > 1 << 24) {
    throw new RangeError(`hq, wq: at most ${1 << 24} for exact integer phases, got ${hq}×${wq}`);
  }
  const ph = (n: number): Float64Array[] =>
    Array.from({ length: numBands }, (_, b) => Float64Array.from({ length: n }, (_, i) => gridPhase(i, n, b)));
  const py = ph(hq);
  const px = ph(wq);
  const width = 4 * numBands;
  const out = new Float64Array(hq * wq * width);
  for (let y = 0; y < hq; y++) {
    for (let x = 0; x < wq; x++) {
      const o = (y * wq + x) * width;
      for (let b = 0; b < numBands; b++) {
        const ry = py[b]![y]!;
        const rx = px[b]![x]!;
        out[o + 2 * b] = Math.sin(Math.PI * ry);
        out[o + 2 * b + 1] = Math.sin(Math.PI * rx);
        out[o + 2 * numBands + 2 * b] = Math.sin(Math.PI * ry + Math.PI / 2);
        out[o + 2 * numBands + 2 * b + 1] = Math.sin(Math.PI * rx + Math.PI / 2);
      }
    }
  }
  return out;
}
