// Shared helpers of the float64 reference gradient tests.
import { expect } from 'vitest';
import { describeReport, type GradcheckReport } from '../../src/ref/gradcheck.js';
import { Rng } from '../../src/util/rng.js';

/** n seeded normals N(mean, std²) in float64. */
export function randn(seed: number, n: number, std = 1, mean = 0): Float64Array {
  const rng = new Rng(seed, 3);
  return Float64Array.from({ length: n }, () => mean + std * rng.normal());
}

/** n seeded uniforms in [lo, hi). */
export function randu(seed: number, n: number, lo = 0, hi = 1): Float64Array {
  const rng = new Rng(seed, 5);
  return Float64Array.from({ length: n }, () => lo + (hi - lo) * rng.uniform());
}

/** Asserts every gradient of a report is within `tol` (relative to the tensor's max). */
export function expectGrad(rep: GradcheckReport, tol = 1e-6): void {
  expect(Number.isNaN(rep.worstRel), describeReport(rep)).toBe(false);
  expect(rep.worstRel, describeReport(rep)).toBeLessThanOrEqual(tol);
}

/** max_i |a_i − b_i|. */
export function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    m = Math.max(m, Math.abs(a[i]! - b[i]!));
  }
  return m;
}
