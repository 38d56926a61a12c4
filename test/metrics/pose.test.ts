// Pose EPE (OC19) and its 3×3 SVD / Procrustes: reconstruction and orthogonality on random,
// rank-deficient and repeated-value matrices; Procrustes against an independent polar
// decomposition (Newton) and optimality; EPE of identity, known rotations and translations.
import { describe, expect, it } from 'vitest';
import {
  CUBE_CORNERS,
  det3,
  poseEndPointError,
  poseEpe,
  poseEpePerClip,
  procrustes,
  svd3,
} from '../../src/metrics/index.js';
import { Rng } from '../../src/util/rng.js';

type M3 = number[];
const mul = (a: ArrayLike<number>, b: ArrayLike<number>): M3 =>
  Array.from({ length: 9 }, (_, k) => {
    const r = Math.floor(k / 3);
    const c = k % 3;
    return a[3 * r]! * b[c]! + a[3 * r + 1]! * b[3 + c]! + a[3 * r + 2]! * b[6 + c]!;
  });
const tr = (a: ArrayLike<number>): M3 => Array.from({ length: 9 }, (_, k) => a[3 * (k % 3) + Math.floor(k / 3)]!);
const I3 = [1, 0, 0, 0, 1, 0, 0, 0, 1];
const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>): number =>
  Math.max(...Array.from({ length: a.length }, (_, i) => Math.abs(a[i]! - b[i]!)));
const norm = (a: ArrayLike<number>): number => Math.sqrt(Array.from(a).reduce((s, x) => s + x * x, 0));
const rotZ = (t: number): M3 => [Math.cos(t), -Math.sin(t), 0, Math.sin(t), Math.cos(t), 0, 0, 0, 1];
const rotX = (t: number): M3 => [1, 0, 0, 0, Math.cos(t), -Math.sin(t), 0, Math.sin(t), Math.cos(t)];
/** Rotation by angle |w| about axis w (Rodrigues). */
function rodrigues(w: [number, number, number]): M3 {
  const th = Math.hypot(...w);
  if (th === 0) {
    return [...I3];
  }
  const [x, y, z] = w.map((v) => v / th) as [number, number, number];
  const K = [0, -z, y, z, 0, -x, -y, x, 0];
  const K2 = mul(K, K);
  return I3.map((v, i) => v + Math.sin(th) * K[i]! + (1 - Math.cos(th)) * K2[i]!);
}
function randomRotation(rng: Rng): M3 {
  return rodrigues([rng.normal(), rng.normal(), rng.normal()]);
}
function inv3(m: M3): M3 {
  const d = det3(m);
  const c = (r: number, k: number): number => m[3 * r + k]!;
  const adj = [
    c(1, 1) * c(2, 2) - c(1, 2) * c(2, 1),
    c(0, 2) * c(2, 1) - c(0, 1) * c(2, 2),
    c(0, 1) * c(1, 2) - c(0, 2) * c(1, 1),
    c(1, 2) * c(2, 0) - c(1, 0) * c(2, 2),
    c(0, 0) * c(2, 2) - c(0, 2) * c(2, 0),
    c(0, 2) * c(1, 0) - c(0, 0) * c(1, 2),
    c(1, 0) * c(2, 1) - c(1, 1) * c(2, 0),
    c(0, 1) * c(2, 0) - c(0, 0) * c(2, 1),
    c(0, 0) * c(1, 1) - c(0, 1) * c(1, 0),
  ];
  return adj.map((x) => x / d);
}
/** Orthogonal polar factor by Newton's iteration X ← (X + X⁻ᵀ)/2 (an independent method). */
function polar(m: M3): M3 {
  let x = [...m];
  for (let k = 0; k < 100; k++) {
    const next = x.map((v, i) => (v + tr(inv3(x))[i]!) / 2);
    const done = maxDiff(next, x) < 1e-15;
    x = next;
    if (done) {
      break;
    }
  }
  return x;
}

function expectSvd(m: M3): void {
  const { U, S, V } = svd3(m);
  const scale = Math.max(norm(m), 1e-300);
  expect(maxDiff(mul(tr(U), U), I3)).toBeLessThan(1e-14);
  expect(maxDiff(mul(tr(V), V), I3)).toBeLessThan(1e-14);
  expect(S[0]).toBeGreaterThanOrEqual(S[1]!);
  expect(S[1]).toBeGreaterThanOrEqual(S[2]! - 1e-15 * scale);
  expect(S[2]).toBeGreaterThanOrEqual(-1e-15 * scale);
  const US = Array.from({ length: 9 }, (_, k) => U[k]! * S[k % 3]!);
  expect(maxDiff(mul(US, tr(V)), m) / scale).toBeLessThan(1e-14);
}

describe('svd3', () => {
  const rng = new Rng(123);
  it('random matrices, and at scales 1e-150 … 1e150', () => {
    for (let k = 0; k < 200; k++) {
      expectSvd(Array.from({ length: 9 }, () => rng.normal()));
    }
    for (const s of [1e-150, 1e-8, 1e8, 1e150]) {
      expectSvd(Array.from({ length: 9 }, () => s * rng.normal()));
    }
  });

  it('rank-deficient, repeated and special matrices', () => {
    const u = [rng.normal(), rng.normal(), rng.normal()];
    const v = [rng.normal(), rng.normal(), rng.normal()];
    const w = [rng.normal(), rng.normal(), rng.normal()];
    const z = [rng.normal(), rng.normal(), rng.normal()];
    const rank1 = Array.from({ length: 9 }, (_, k) => u[Math.floor(k / 3)]! * v[k % 3]!);
    const rank2 = rank1.map((x, k) => x + w[Math.floor(k / 3)]! * z[k % 3]!);
    const cases: M3[] = [
      [0, 0, 0, 0, 0, 0, 0, 0, 0],
      [...I3],
      I3.map((x) => -x),
      rank1,
      rank2,
      [1, 1, 1, 1, 1, 1, 1, 1, 1],
      [3, 0, 0, 0, 2, 0, 0, 0, -1],
      [0, 0, 1, 0, 1, 0, 1, 0, 0],
      [1, 1e-9, 0, 0, 1, 0, 0, 0, 1e-12],
      randomRotation(rng),
      [2, 0, 0, 0, 2, 0, 0, 0, 1],
    ];
    for (const m of cases) {
      expectSvd(m);
    }
    const s = svd3(rank1).S;
    expect(s[1]! / s[0]!).toBeLessThan(1e-14);
    expect(svd3([3, 0, 0, 0, -2, 0, 0, 0, 1]).S).toEqual(new Float64Array([3, 2, 1]));
  });
});

describe('procrustes', () => {
  const rng = new Rng(7);
  it('rotations map to themselves, scaled rotations to the rotation', () => {
    expect(maxDiff(procrustes(I3), I3)).toBeLessThan(1e-15);
    for (let k = 0; k < 20; k++) {
      const R = randomRotation(rng);
      expect(maxDiff(procrustes(R), R)).toBeLessThan(1e-14);
      expect(maxDiff(procrustes(R.map((x) => 2.5 * x)), R)).toBeLessThan(1e-14);
    }
  });

  it('reflections: the sign goes on the smallest singular value', () => {
    expect(maxDiff(procrustes([3, 0, 0, 0, 2, 0, 0, 0, -1]), I3)).toBeLessThan(1e-15);
    expect(maxDiff(procrustes([-3, 0, 0, 0, -2, 0, 0, 0, 1]), [-1, 0, 0, 0, -1, 0, 0, 0, 1])).toBeLessThan(1e-15);
    // σ = 3, 2, 1 with the smallest on x: the flip lands on x, R̂ = diag(−1, 1, −1) (tr R̂ᵀM = 4 > 2 for I)
    expect(maxDiff(procrustes([1, 0, 0, 0, 3, 0, 0, 0, -2]), [-1, 0, 0, 0, 1, 0, 0, 0, -1])).toBeLessThan(1e-15);
  });

  it('noisy rotations: equals the polar factor (Newton), is a rotation, and is near the truth', () => {
    for (let k = 0; k < 50; k++) {
      const R = randomRotation(rng);
      const M = R.map((x) => x + 0.05 * rng.normal());
      const Rh = procrustes(M);
      expect(maxDiff(mul(tr(Rh), Rh), I3)).toBeLessThan(1e-14);
      expect(det3(Rh)).toBeCloseTo(1, 14);
      expect(maxDiff(Rh, polar(M))).toBeLessThan(1e-12);
      expect(maxDiff(Rh, R)).toBeLessThan(0.2);
    }
  });

  it('maximises tr(Qᵀ M) over rotations Q (also for det M < 0)', () => {
    for (let k = 0; k < 20; k++) {
      const M = Array.from({ length: 9 }, () => rng.normal());
      const Rh = procrustes(M);
      expect(det3(Rh)).toBeCloseTo(1, 13);
      const score = (Q: ArrayLike<number>): number => Array.from(Q).reduce((s, q, i) => s + q * M[i]!, 0);
      const best = score(Rh);
      for (let j = 0; j < 200; j++) {
        const Q = mul(Rh, rodrigues([0.3 * rng.normal(), 0.3 * rng.normal(), 0.3 * rng.normal()]));
        expect(score(Q)).toBeLessThanOrEqual(best + 1e-12);
      }
    }
  });
});

describe('pose EPE', () => {
  const pose = (R: M3, t: [number, number, number]): number[] => [...R, ...t];
  it('the cube: 8 corners of a 1 m cube centred at (0, 0, 2)', () => {
    expect(CUBE_CORNERS).toHaveLength(8);
    const c = [0, 1, 2].map((k) => CUBE_CORNERS.reduce((s, x) => s + x[k]!, 0) / 8);
    expect(c).toEqual([0, 0, 2]);
    expect(new Set(CUBE_CORNERS.map((x) => x.join(','))).size).toBe(8);
  });

  it('identity → 0; translation error δ → ‖δ‖', () => {
    expect(poseEndPointError(pose(I3, [0, 0, 0]), pose(I3, [0, 0, 0]))).toBe(0);
    expect(poseEndPointError(pose(I3, [0.3, -0.4, 1]), pose(I3, [0, 0, 1]))).toBeCloseTo(0.5, 15);
  });

  it('a rotation by θ about z: √2·sin(θ/2); about x: sin(θ/2)·(√2.5 + √6.5)', () => {
    for (const th of [0.1, Math.PI / 2, 2, Math.PI]) {
      expect(poseEndPointError(pose(rotZ(th), [0, 0, 0]), pose(I3, [0, 0, 0]))).toBeCloseTo(
        Math.SQRT2 * Math.sin(th / 2),
        14,
      );
      expect(poseEndPointError(pose(rotX(th), [0, 0, 0]), pose(I3, [0, 0, 0]))).toBeCloseTo(
        Math.sin(th / 2) * (Math.sqrt(2.5) + Math.sqrt(6.5)),
        14,
      );
    }
    expect(poseEndPointError(pose(rotZ(Math.PI / 2), [0, 0, 0]), pose(I3, [0, 0, 0]))).toBeCloseTo(1, 15);
  });

  it('a non-identity ground truth, a right-multiplied error, and a scaled prediction', () => {
    const rng = new Rng(3);
    const R = randomRotation(rng);
    const t: [number, number, number] = [0.2, -1, 3];
    expect(poseEndPointError(pose(mul(R, rotZ(0.7)), t), pose(R, t))).toBeCloseTo(Math.SQRT2 * Math.sin(0.35), 14);
    expect(
      poseEndPointError(
        pose(
          R.map((x) => 3 * x),
          t,
        ),
        pose(R, t),
      ),
    ).toBeLessThan(1e-14);
    // the ground truth is used as given (not projected): GT 2·I vs a predicted I
    expect(
      poseEndPointError(
        pose(I3, [0, 0, 0]),
        pose(
          I3.map((x) => 2 * x),
          [0, 0, 0],
        ),
      ),
    ).toBeCloseTo(CUBE_CORNERS.reduce((s, x) => s + Math.hypot(...x), 0) / 8, 14);
  });

  it('mean over clips; shape errors name the tensor', () => {
    const pred = { data: [...pose(rotZ(Math.PI / 2), [0, 0, 0]), ...pose(I3, [0.3, 0.4, 0])], shape: [2, 12] };
    const gt = { data: [...pose(I3, [0, 0, 0]), ...pose(I3, [0, 0, 0])], shape: [2, 12] };
    const per = poseEpePerClip(pred, gt);
    expect(per[0]).toBeCloseTo(1, 15);
    expect(per[1]).toBeCloseTo(0.5, 15);
    expect(poseEpe(pred, gt)).toBeCloseTo(0.75, 15);
    expect(() => poseEpe({ data: new Float32Array(9), shape: [1, 9] }, gt)).toThrow(
      'pred pose has shape [1,9], expected [B,12]',
    );
  });
});
