import { describe, expect, it } from 'vitest';
import { fourierFeatures, fourierGrid, tolerance } from '../../src/kernels/fourier.js';
import { fourierFeatures as fourierRef, fourierGridFeatures } from '../../src/ref/fourier.js';
import { Rng } from '../../src/util/rng.js';
import { expectClose } from '../helpers/compare.js';
import { gpu } from '../helpers/gpu.js';

const SPECIAL = [0, 1, -1, 0.5, -0.5, 0.25, -0.25, 0.75, 1e-8, -1e-8, 0.999999, -0.999999, 1 / 3, -2 / 3];

function coordsOf(rows: number, nc: number, seed: number): Float32Array {
  const rng = new Rng(seed, 6);
  const c = Float32Array.from({ length: rows * nc }, () => 2 * rng.uniform() - 1);
  SPECIAL.slice(0, c.length).forEach((v, i) => (c[i] = v));
  return c;
}

describe('fourier features (OC6)', () => {
  for (const rows of [1, 3, 7, 97, 1000]) {
    for (const [nc, bands] of [
      [1, 1],
      [2, 16],
      [4, 20],
      [3, 7],
    ] as const) {
      it(`coords [${rows}, ${nc}], ${bands} bands`, async () => {
        const ctx = await gpu();
        const c = coordsOf(rows, nc, rows * 10 + nc);
        const got = await ctx.scope(() => fourierFeatures(ctx, ctx.upload(c, [rows, nc]), { bands }).read());
        expectClose(got, fourierRef(c, rows, nc, bands), tolerance.f32, 'features', [rows, 2 * nc * bands]);
      });
    }
  }

  it('writes a column block of a wider row (zeros(C) ++ four)', async () => {
    const ctx = await gpu();
    const [rows, nc, bands, C] = [7, 2, 3, 5];
    const c = coordsOf(rows, nc, 3);
    const width = C + 2 * nc * bands + 2;
    const got = await ctx.scope(() => {
      const out = ctx.zeros([rows, width]);
      fourierFeatures(ctx, ctx.upload(c, [rows, nc]), { bands, out, colOffset: C });
      return out.read();
    });
    const f = fourierRef(c, rows, nc, bands);
    const want = new Float64Array(rows * width);
    for (let r = 0; r < rows; r++) {
      want.set(f.subarray(r * 2 * nc * bands, (r + 1) * 2 * nc * bands), r * width + C);
    }
    expectClose(got, want, tolerance.f32, 'block', [rows, width]);
  });
});

describe('fourier grid (OC6, exact integer phases)', () => {
  const grids: [number, number, number][] = [
    [1, 1, 1],
    [1, 7, 3],
    [3, 5, 16],
    [97, 3, 9],
    [128, 128, 16],
    [4097, 1, 24],
  ];
  for (const [hq, wq, bands] of grids) {
    it(`${hq}×${wq}, ${bands} bands`, async () => {
      const ctx = await gpu();
      const got = await ctx.scope(() => fourierGrid(ctx, hq, wq, { bands }).read());
      expectClose(got, fourierGridFeatures(hq, wq, bands), tolerance.f32, 'grid', [hq * wq, 4 * bands]);
    });
  }

  it('a 65539-column grid, 20 bands (exact phases where f32 coordinates are not exact)', async () => {
    const ctx = await gpu();
    const got = await ctx.scope(() => fourierGrid(ctx, 1, 65539, { bands: 20 }).read());
    expectClose(got, fourierGridFeatures(1, 65539, 20), tolerance.f32, 'grid');
  });

  it('is bit-identical across runs, and rejects bad arguments', async () => {
    const ctx = await gpu();
    const [a, b] = await ctx.scope(() =>
      Promise.all([fourierGrid(ctx, 9, 11, { bands: 5 }).read(), fourierGrid(ctx, 9, 11, { bands: 5 }).read()]),
    );
    expect(Buffer.from(b.buffer).equals(Buffer.from(a.buffer))).toBe(true);
    ctx.scope(() => {
      expect(() => fourierGrid(ctx, 0, 3, { bands: 2 })).toThrow(/hq must be an integer/);
      expect(() => fourierFeatures(ctx, ctx.zeros([3, 2]), { bands: 0 })).toThrow(/bands must be/);
      expect(() => fourierFeatures(ctx, ctx.zeros([6]), { bands: 2 })).toThrow(/\[R, nc\]/);
      expect(() => fourierFeatures(ctx, ctx.zeros([3, 2]), { bands: 2, out: ctx.zeros([3, 9]), colOffset: 2 })).toThrow(
        /W must be ≥ 10/,
      );
    });
  });
});
