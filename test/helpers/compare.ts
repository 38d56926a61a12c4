// Tolerance checks that report maxAbs, maxRel, nmse and the first mismatches with coordinates.
import { expect } from 'vitest';

export interface Tolerance {
  atol: number;
  rtol: number;
  /** Normalised mean squared error bound (ggml's nmse), optional. */
  nmse?: number;
}

export interface CompareReport {
  maxAbs: number;
  maxRel: number;
  nmse: number;
  /** max|a−b| / max|b| (the project's whole-tensor relative error). */
  relToMax: number;
  mismatches: string[];
}

function coords(i: number, shape?: readonly number[]): string {
  if (!shape) {
    return String(i);
  }
  const c: number[] = [];
  let r = i;
  for (let d = shape.length - 1; d >= 0; d--) {
    c.unshift(r % shape[d]!);
    r = Math.floor(r / shape[d]!);
  }
  return `[${c.join(',')}]`;
}

export function compare(
  got: ArrayLike<number>,
  want: ArrayLike<number>,
  tol: Tolerance,
  shape?: readonly number[],
): CompareReport {
  let maxAbs = 0;
  let maxRel = 0;
  let se = 0;
  let ref2 = 0;
  let maxRef = 0;
  const mismatches: string[] = [];
  for (let i = 0; i < want.length; i++) {
    const g = got[i]!;
    const w = want[i]!;
    const d = Math.abs(g - w);
    maxRef = Math.max(maxRef, Math.abs(w));
    if (!(d <= tol.atol + tol.rtol * Math.abs(w))) {
      if (mismatches.length < 10) {
        mismatches.push(`${coords(i, shape)}: got ${g}, want ${w} (diff ${d.toExponential(2)})`);
      }
    }
    if (Number.isNaN(d)) {
      maxAbs = NaN;
    } else {
      maxAbs = Math.max(maxAbs, d);
    }
    maxRel = Math.max(maxRel, d / Math.max(Math.abs(w), 1e-30));
    se += d * d;
    ref2 += w * w;
  }
  return { maxAbs, maxRel, nmse: se / Math.max(ref2, 1e-300), relToMax: maxAbs / Math.max(maxRef, 1e-30), mismatches };
}

/** Asserts closeness with a readable failure message. */
export function expectClose(
  got: ArrayLike<number>,
  want: ArrayLike<number>,
  tol: Tolerance,
  what = 'tensor',
  shape?: readonly number[],
): CompareReport {
  expect(got.length, `${what}: length`).toBe(want.length);
  const r = compare(got, want, tol, shape);
  const ok = r.mismatches.length === 0 && !Number.isNaN(r.maxAbs) && (tol.nmse === undefined || r.nmse <= tol.nmse);
  if (!ok) {
    expect.fail(
      `${what}: maxAbs ${r.maxAbs.toExponential(2)} maxRel ${r.maxRel.toExponential(2)} nmse ${r.nmse.toExponential(2)}` +
        ` (atol ${tol.atol}, rtol ${tol.rtol}${tol.nmse !== undefined ? `, nmse ${tol.nmse}` : ''})\n  ${r.mismatches.join('\n  ')}`,
    );
  }
  return r;
}

/** max|a−b|/max|b| ≤ bound. */
export function expectRelToMax(
  got: ArrayLike<number>,
  want: ArrayLike<number>,
  bound: number,
  what = 'tensor',
): number {
  const r = compare(got, want, { atol: Infinity, rtol: 0 });
  if (!(r.relToMax <= bound)) {
    expect.fail(`${what}: max|a-b|/max|b| = ${r.relToMax.toExponential(3)} > ${bound}`);
  }
  return r.relToMax;
}

/**
 * The flash-attention ratio rule for reduced precision: the GPU's max error against the f64
 * reference must be at most `ratio` × the max error of a reduced-precision CPU computation of
 * the same thing (e.g. f32 accumulation with f16-rounded output) + `tiny`.
 */
export function expectRatio(
  got: ArrayLike<number>,
  ref64: ArrayLike<number>,
  refLow: ArrayLike<number>,
  ratio: number,
  what = 'tensor',
  tiny = 1e-6,
): { gpuErr: number; lowErr: number } {
  const e = (x: ArrayLike<number>): number => {
    let m = 0;
    for (let i = 0; i < ref64.length; i++) {
      const d = Math.abs(x[i]! - ref64[i]!);
      m = Number.isNaN(d) ? NaN : Math.max(m, d);
    }
    return m;
  };
  const gpuErr = e(got);
  const lowErr = e(refLow);
  if (!(gpuErr <= ratio * lowErr + tiny)) {
    expect.fail(
      `${what}: max error ${gpuErr.toExponential(3)} > ${ratio} × reduced-precision error ${lowErr.toExponential(3)} + ${tiny}`,
    );
  }
  return { gpuErr, lowErr };
}
