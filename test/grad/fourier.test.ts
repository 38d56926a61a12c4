import { describe, expect, it } from 'vitest';
import { fourierFeatures, fourierGridFeatures, gridCoordinate, gridPhase } from '../../src/ref/fourier.js';
import { maxDiff, randu } from './helpers.js';

describe('fourier features (OC6)', () => {
  it('column order: [2^0 c0, 2^0 c1, 2^1 c0, 2^1 c1] then [sin | cos]', () => {
    const c = [0.3, -0.45];
    const f = fourierFeatures(c, 1, 2, 2);
    const want = [
      Math.sin(Math.PI * 0.3),
      Math.sin(Math.PI * -0.45),
      Math.sin(2 * Math.PI * 0.3),
      Math.sin(2 * Math.PI * -0.45),
      Math.cos(Math.PI * 0.3),
      Math.cos(Math.PI * -0.45),
      Math.cos(2 * Math.PI * 0.3),
      Math.cos(2 * Math.PI * -0.45),
    ];
    expect(maxDiff(f, want)).toBeLessThan(1e-15);
  });

  it('equals naive f64 sin/cos of π·2^b·c (small bands tightly, 16 bands to 1e-10)', () => {
    for (const [R, n] of [
      [1, 1],
      [7, 2],
      [3, 4],
    ] as const) {
      const c = randu(R * 10 + n, R * n, -1, 1);
      for (const nb of [4, 16]) {
        const f = fourierFeatures(c, R, n, nb);
        const w = 2 * n * nb;
        expect(f.length).toBe(R * w);
        let err = 0;
        for (let r = 0; r < R; r++) {
          for (let b = 0; b < nb; b++) {
            for (let i = 0; i < n; i++) {
              const ph = Math.PI * 2 ** b * c[r * n + i]!;
              const j = r * w + b * n + i;
              err = Math.max(err, Math.abs(f[j]! - Math.sin(ph)), Math.abs(f[j + n * nb]! - Math.cos(ph)));
            }
          }
        }
        expect(err).toBeLessThan(nb === 4 ? 1e-14 : 1e-10);
      }
    }
  });

  it('range reduction is exact for dyadic coordinates', () => {
    // 2^15 · 0.375 = 12288 ≡ 0 (mod 2): sin = 0 exactly, cos = 1.
    const f = fourierFeatures([0.375], 1, 1, 16);
    expect(f[15]).toBe(0);
    expect(f[31]).toBe(1);
  });

  it('grid phases are the exact integer residues', () => {
    for (const n of [1, 2, 3, 7, 128]) {
      for (let b = 0; b < 16; b++) {
        for (let i = 0; i < n; i++) {
          let want: number;
          if (n === 1) {
            want = b === 0 ? 1 : 0;
          } else {
            const m = 2n * BigInt(n - 1);
            const k = (2n ** BigInt(b) * BigInt(2 * i - (n - 1))) % m;
            want = Number((k + m) % m) / (n - 1);
          }
          expect(gridPhase(i, n, b)).toBe(want);
        }
      }
    }
    expect(gridCoordinate(0, 1)).toBe(-1);
    expect([0, 1, 2].map((i) => gridCoordinate(i, 3))).toEqual([-1, 0, 1]);
  });

  it('grid variant: row (y) first, row-major pixels, = general form on linspace to 1e-10', () => {
    for (const [hq, wq] of [
      [1, 1],
      [3, 7],
      [5, 1],
      [16, 13],
    ] as const) {
      const nb = 16;
      const g = fourierGridFeatures(hq, wq, nb);
      const coords = new Float64Array(hq * wq * 2);
      for (let y = 0; y < hq; y++) {
        for (let x = 0; x < wq; x++) {
          coords[(y * wq + x) * 2] = gridCoordinate(y, hq);
          coords[(y * wq + x) * 2 + 1] = gridCoordinate(x, wq);
        }
      }
      expect(maxDiff(g, fourierFeatures(coords, hq * wq, 2, nb))).toBeLessThan(1e-10);
    }
    // n = 1: c = −1 → sin(−π·2^b) = 0, cos = −1 at b = 0 and 1 above.
    const one = fourierGridFeatures(1, 1, 3);
    expect(maxDiff(one, [0, 0, 0, 0, 0, 0, -1, -1, 1, 1, 1, 1])).toBeLessThan(1e-15);
  });
});
