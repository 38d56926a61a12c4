// Singular value decomposition of a 3×3 matrix by one-sided (Hestenes) Jacobi in float64:
// plane rotations V orthogonalise the columns of A = M·V; then σ_j = ‖a_j‖ and u_j = a_j/σ_j.
// One-sided Jacobi keeps small singular values accurate (no MᵀM), and the third left vector is
// taken as ±u1 × u2, so rank-deficient matrices still give an orthogonal U. Row-major 3×3.

/** `M = U · diag(S) · Vᵀ`, `S` descending and ≥ 0, `U` and `V` orthogonal (row-major 3×3). */
export interface Svd3 {
  readonly U: Float64Array;
  readonly S: Float64Array;
  readonly V: Float64Array;
}

const EPS = 2 ** -52;

/**
 * SVD of a row-major 3×3 matrix (`m[offset + 3·r + c]`). Converges in a few sweeps (at most 30);
 * U, V orthogonal to ~1e-15, `U·diag(S)·Vᵀ` equal to M to ~1e-15 relative to ‖M‖.
 */
export function svd3(m: ArrayLike<number>, offset = 0): Svd3 {
  // Columns of A and of V as arrays a[c][r].
  const a = [0, 1, 2].map((c) => [0, 1, 2].map((r) => m[offset + 3 * r + c]!));
  const v = [0, 1, 2].map((c) => [0, 1, 2].map((r) => (r === c ? 1 : 0)));
  const pairs: [number, number][] = [
    [0, 1],
    [0, 2],
    [1, 2],
  ];
  for (let sweep = 0; sweep < 30; sweep++) {
    let rotated = false;
    for (const [p, q] of pairs) {
      const ap = a[p]!;
      const aq = a[q]!;
      let alpha = 0;
      let beta = 0;
      let gamma = 0;
      for (let r = 0; r < 3; r++) {
        alpha += ap[r]! * ap[r]!;
        beta += aq[r]! * aq[r]!;
        gamma += ap[r]! * aq[r]!;
      }
      if (gamma === 0 || Math.abs(gamma) <= EPS * Math.sqrt(alpha) * Math.sqrt(beta)) {
        continue;
      }
      rotated = true;
      const zeta = (beta - alpha) / (2 * gamma);
      const t =
        Math.abs(zeta) > 1e150 ? 1 / (2 * zeta) : (zeta >= 0 ? 1 : -1) / (Math.abs(zeta) + Math.sqrt(1 + zeta * zeta));
      const c = 1 / Math.sqrt(1 + t * t);
      const s = c * t;
      rotate(ap, aq, c, s);
      rotate(v[p]!, v[q]!, c, s);
    }
    if (!rotated) {
      break;
    }
  }
  const norms = a.map((col) => Math.hypot(col[0]!, col[1]!, col[2]!));
  const order = [0, 1, 2].sort((i, j) => norms[j]! - norms[i]! || i - j);
  const cols = order.map((i) => a[i]!);
  const vcols = order.map((i) => v[i]!);
  const s1 = norms[order[0]!]!;
  const s2raw = norms[order[1]!]!;
  let u1: number[];
  let u2: number[];
  if (s1 === 0) {
    u1 = [1, 0, 0];
  } else {
    u1 = cols[0]!.map((x) => x / s1);
  }
  // u2: the second column orthogonalised against u1, or any unit vector orthogonal to u1 when
  // the second singular value is at rounding level.
  const c2 = cols[1]!;
  const d12 = dot(c2, u1);
  const r2 = c2.map((x, i) => x - d12 * u1[i]!);
  const n2 = Math.hypot(r2[0]!, r2[1]!, r2[2]!);
  if (s2raw > 8 * EPS * s1 && n2 > 0) {
    u2 = r2.map((x) => x / n2);
  } else {
    u2 = orthogonalUnit(u1);
    if (dot(c2, u2) < 0) {
      u2 = u2.map((x) => -x);
    }
  }
  const c3 = cross(u1, u2);
  const sign = dot(cols[2]!, c3) < 0 ? -1 : 1;
  const u3 = c3.map((x) => sign * x);
  const S = new Float64Array([s1, dot(c2, u2), dot(cols[2]!, u3)]);
  const U = new Float64Array(9);
  const V = new Float64Array(9);
  const us = [u1, u2, u3];
  for (let c = 0; c < 3; c++) {
    for (let r = 0; r < 3; r++) {
      U[3 * r + c] = us[c]![r]!;
      V[3 * r + c] = vcols[c]![r]!;
    }
  }
  return { U, S, V };
}

function rotate(x: number[], y: number[], c: number, s: number): void {
  for (let r = 0; r < 3; r++) {
    const xr = x[r]!;
    const yr = y[r]!;
    x[r] = c * xr - s * yr;
    y[r] = s * xr + c * yr;
  }
}

function dot(x: readonly number[], y: readonly number[]): number {
  return x[0]! * y[0]! + x[1]! * y[1]! + x[2]! * y[2]!;
}

function cross(x: readonly number[], y: readonly number[]): number[] {
  return [x[1]! * y[2]! - x[2]! * y[1]!, x[2]! * y[0]! - x[0]! * y[2]!, x[0]! * y[1]! - x[1]! * y[0]!];
}

/** A unit vector orthogonal to the unit vector `u` (from the axis least aligned with it). */
function orthogonalUnit(u: readonly number[]): number[] {
  const k = [0, 1, 2].reduce((best, i) => (Math.abs(u[i]!) < Math.abs(u[best]!) ? i : best), 0);
  const e = [0, 0, 0];
  e[k] = 1;
  const d = dot(e, u);
  const r = e.map((x, i) => x - d * u[i]!);
  const n = Math.hypot(r[0]!, r[1]!, r[2]!);
  return r.map((x) => x / n);
}

/** Determinant of a row-major 3×3 matrix. */
export function det3(m: ArrayLike<number>, offset = 0): number {
  const g = (r: number, c: number): number => m[offset + 3 * r + c]!;
  return (
    g(0, 0) * (g(1, 1) * g(2, 2) - g(1, 2) * g(2, 1)) -
    g(0, 1) * (g(1, 0) * g(2, 2) - g(1, 2) * g(2, 0)) +
    g(0, 2) * (g(1, 0) * g(2, 1) - g(1, 1) * g(2, 0))
  );
}
