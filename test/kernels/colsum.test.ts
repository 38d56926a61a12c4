import { describe, expect, it } from 'vitest';
import { colSum, colsumPlan, sumOverAxes, tolerance } from '../../src/kernels/colsum.js';
import { linearBackward } from '../../src/ref/linear.js';
import { roundToF16 } from '../../src/tensor/f16.js';
import { Rng } from '../../src/util/rng.js';
import { adapterKinds, distinct } from '../helpers/adapter-kinds.js';
import { expectClose } from '../helpers/compare.js';
import { gpu } from '../helpers/gpu.js';

/** The float64 reference: sums and Σ|terms| of x viewed as [G, R, C] (terms x·y with `y`). */
function colSumRef(
  x: ArrayLike<number>,
  G: number,
  R: number,
  C: number,
  y?: ArrayLike<number>,
): { sum: Float64Array; abs: Float64Array } {
  const sum = new Float64Array(G * C);
  const abs = new Float64Array(G * C);
  for (let g = 0; g < G; g++) {
    for (let r = 0; r < R; r++) {
      const row = (g * R + r) * C;
      for (let c = 0; c < C; c++) {
        const v = y ? x[row + c]! * y[row + c]! : x[row + c]!;
        sum[g * C + c]! += v;
        abs[g * C + c]! += Math.abs(v);
      }
    }
  }
  return { sum, abs };
}

/** |got − want| ≤ atol + rtol · Σ|terms| per output (the family's tolerance). */
function expectSum(got: ArrayLike<number>, want: ArrayLike<number>, abs: ArrayLike<number>, what: string): void {
  expect(got.length, `${what}: length`).toBe(want.length);
  const bad: string[] = [];
  let worst = 0;
  for (let i = 0; i < want.length; i++) {
    const d = Math.abs(got[i]! - want[i]!);
    const bound = tolerance.f32.atol + tolerance.f32.rtol * abs[i]!;
    worst = Math.max(worst, d / bound);
    if (!(d <= bound) && bad.length < 8) {
      bad.push(`[${i}]: got ${got[i]}, want ${want[i]} (diff ${d.toExponential(2)}, bound ${bound.toExponential(2)})`);
    }
  }
  if (bad.length) {
    expect.fail(`${what}: worst error ${worst.toFixed(2)}× the bound\n  ${bad.join('\n  ')}`);
  }
}

describe('colSum f32: odd shapes', () => {
  for (const R of [1, 7, 97, 1000, 34816]) {
    for (const C of [1, 3, 64, 1024]) {
      if (R === 34816 && C === 1024) {
        continue; // below, once: it exceeds this adapter's binding (row chunks)
      }
      it(`R${R} C${C}`, async () => {
        const ctx = await gpu();
        const x = new Rng(R * 13 + C).normals(R * C);
        const got = await ctx.scope(() => colSum(ctx, ctx.upload(x, [R, C])).read());
        const ref = colSumRef(x, 1, R, C);
        expectSum(got, ref.sum, ref.abs, `colsum ${R}x${C}`);
      });
    }
  }

  it('R34816 C1024 (the K400 batch: 142.6 MB, above a 128 MiB binding, summed in row chunks)', async () => {
    const ctx = await gpu();
    const [R, C] = [34816, 1024];
    const x = new Rng(1).normals(R * C);
    const before = ctx.stats.dispatches;
    const got = await ctx.scope(() => colSum(ctx, ctx.upload(x, [R, C])).read());
    const chunked = R * C * 4 > ctx.caps.limits.maxStorageBufferBindingSize;
    // Row chunks (at least two pass-1 dispatches) where x exceeds a binding, then pass 2.
    expect(ctx.stats.dispatches - before).toBeGreaterThanOrEqual(chunked ? 3 : 2);
    const ref = colSumRef(x, 1, R, C);
    expectSum(got, ref.sum, ref.abs, 'colsum 34816x1024');
  }, 300_000);

  it('matches the linear reference db = colsum(dY) with a leading batch dim', async () => {
    const ctx = await gpu();
    const [B, R, OUT, IN] = [3, 33, 17, 5];
    const rng = new Rng(2);
    const dy = rng.normals(B * R * OUT);
    const got = await ctx.scope(() => colSum(ctx, ctx.upload(dy, [B, R, OUT])).read());
    const ref = linearBackward(dy, new Float32Array(B * R * IN), new Float32Array(OUT * IN), B * R, IN, OUT).db!;
    expectClose(got, ref, { atol: 1e-5, rtol: 1e-5 }, 'db');
  });
});

describe('colSum: groups, scale, accumulate, products, f16', () => {
  for (const [G, R, C] of [
    [2, 1, 3],
    [5, 97, 7],
    [3, 1000, 64],
    [7, 5, 130],
    [40, 300, 1],
  ] as [number, number, number][]) {
    for (const accumulate of [false, true]) {
      it(`G${G} R${R} C${C} scale 0.5 accumulate=${accumulate}`, async () => {
        const ctx = await gpu();
        const rng = new Rng(G * 100 + R + C);
        const x = rng.normals(G * R * C);
        const old = rng.normals(G * C);
        const got = await ctx.scope(() => {
          const out = ctx.upload(old, [G, C]);
          const ret = colSum(ctx, ctx.upload(x, [G, R, C]), {
            groups: G,
            scale: 0.5,
            out: { tensor: out, accumulate },
          });
          expect(ret).toBe(out);
          return out.read();
        });
        const ref = colSumRef(x, G, R, C);
        const want = ref.sum.map((v, i) => 0.5 * v + (accumulate ? old[i]! : 0));
        const abs = ref.abs.map((v, i) => 0.5 * v + (accumulate ? Math.abs(old[i]!) : 0));
        expectSum(got, want, abs, 'grouped');
      });
    }
  }

  it('rows given explicitly, a plain tensor as out (overwritten)', async () => {
    const ctx = await gpu();
    const [G, R, C] = [3, 7, 12];
    const x = new Rng(3).normals(G * R * C);
    const got = await ctx.scope(() => {
      const out = ctx.upload(new Float32Array(G * C).fill(99), [G * C]);
      colSum(ctx, ctx.upload(x, [G * R * C]), { groups: G, rows: R, out });
      return out.read();
    });
    const ref = colSumRef(x, G, R, C);
    expectSum(got, ref.sum, ref.abs, 'rows');
  });

  it('times: Σ x·y (a norm-scale gradient without a temporary)', async () => {
    const ctx = await gpu();
    const [G, R, C] = [2, 333, 19];
    const rng = new Rng(4);
    const x = rng.normals(G * R * C);
    const y = rng.normals(G * R * C);
    const got = await ctx.scope(() =>
      colSum(ctx, ctx.upload(x, [G, R, C]), { groups: G, times: ctx.upload(y, [G, R, C]) }).read(),
    );
    const ref = colSumRef(x, G, R, C, y);
    expectSum(got, ref.sum, ref.abs, 'times');
  });

  for (const [G, R, C] of [
    [1, 7, 3],
    [1, 34816, 16],
    [4, 1000, 97],
  ] as [number, number, number][]) {
    it(`f16 input, f32 output: G${G} R${R} C${C}`, async () => {
      const ctx = await gpu();
      const rng = new Rng(5 + R);
      const x = roundToF16(rng.normals(G * R * C));
      const y = roundToF16(rng.normals(G * R * C));
      const [plain, prod, dtype] = await ctx.scope(() => {
        const tx = ctx.upload(x, [G, R, C], 'f16');
        const s = colSum(ctx, tx, { groups: G });
        const p = colSum(ctx, tx, { groups: G, times: ctx.upload(y, [G, R, C], 'f16') });
        return Promise.all([s.read(), p.read(), Promise.resolve(s.dtype)]);
      });
      expect(dtype).toBe('f32');
      const ref = colSumRef(x, G, R, C);
      expectSum(plain, ref.sum, ref.abs, 'f16');
      const refP = colSumRef(x, G, R, C, y);
      expectSum(prod, refP.sum, refP.abs, 'f16 times');
    });
  }
});

describe('colSum: tensors larger than a binding (chunks, by a lowered limit)', () => {
  // 4 KiB bindings: groups in chunks (a group fits), rows in chunks (a group does not), f16 too.
  for (const [G, R, C, dtype] of [
    [9, 20, 7, 'f32'],
    [2, 1000, 5, 'f32'],
    [3, 777, 3, 'f16'],
    [1, 1000, 13, 'f32'],
    [5, 60, 8, 'f32'],
    [2, 500, 12, 'f16'],
  ] as [number, number, number, 'f32' | 'f16'][]) {
    for (const accumulate of [false, true]) {
      it(`G${G} R${R} C${C} ${dtype} accumulate=${accumulate}`, async () => {
        const ctx = await gpu();
        const rng = new Rng(G + R + C);
        const x = dtype === 'f16' ? roundToF16(rng.normals(G * R * C)) : rng.normals(G * R * C);
        const old = rng.normals(G * C);
        const before = ctx.stats.dispatches;
        const got = await ctx.scope(() => {
          const out = ctx.upload(old, [G, C]);
          colSum(ctx, ctx.upload(x, [G, R, C], dtype), {
            groups: G,
            out: { tensor: out, accumulate },
            maxBindingBytes: 4096,
          });
          return out.read();
        });
        expect(ctx.stats.dispatches - before, 'several pass-1 chunks').toBeGreaterThanOrEqual(2);
        const ref = colSumRef(x, G, R, C);
        const want = ref.sum.map((v, i) => v + (accumulate ? old[i]! : 0));
        const abs = ref.abs.map((v, i) => v + (accumulate ? Math.abs(old[i]!) : 0));
        expectSum(got, want, abs, 'chunked');
      });
    }
  }
});

describe('colSum: determinism and plans', () => {
  it('the same sum twice is bit-identical (two passes, 34816 rows)', async () => {
    const ctx = await gpu();
    const [R, C] = [34816, 64];
    const x = new Rng(6).normals(R * C);
    const run = (): Promise<ArrayBuffer> =>
      ctx.scope(() => {
        const out = ctx.upload(new Float32Array(C).fill(1), [C]);
        colSum(ctx, ctx.upload(x, [R, C]), { out: { tensor: out, accumulate: true } });
        return out.readRaw();
      });
    const a = new Uint8Array(await run());
    const b = new Uint8Array(await run());
    expect(Buffer.compare(a, b)).toBe(0);
  });

  it('every adapter kind gets a valid plan (powers of two, ≤ 256 blocks unless chunked)', async () => {
    const ctx = await gpu();
    for (const k of adapterKinds(ctx)) {
      for (const [G, R, C] of [
        [1, 34816, 1024],
        [1, 34816, 1],
        [64, 5, 3],
        [1, 1, 1],
      ] as [number, number, number][]) {
        const p = colsumPlan(k.caps, G, R, C);
        expect(Math.log2(p.colLanes) % 1, k.name).toBe(0);
        expect(Math.log2(p.finalColLanes) % 1, k.name).toBe(0);
        expect(p.colLanes).toBeLessThanOrEqual(p.wg);
        expect(p.blocks).toBeLessThanOrEqual(256);
        expect(p.blocks * p.blockRows).toBeGreaterThanOrEqual(R);
        expect((p.blocks - 1) * p.blockRows).toBeLessThan(R);
      }
    }
  });
});

// The plan and workgroup every adapter kind would pick, run here (WG 64 and 256, both column
// layouts, one and two passes, groups).
describe('colSum: every adapter kind', async () => {
  const ctx = await gpu();
  const kinds = distinct(
    adapterKinds(ctx).map((k) => ({ what: k.name, value: k.caps })),
    (caps) => JSON.stringify(colsumPlan(caps, 1, 34816, 256)),
  );
  for (const { what, value: caps } of kinds) {
    for (const [G, R, C] of [
      [1, 34816, 16],
      [1, 5000, 7],
      [3, 257, 64],
      [2, 3, 1],
    ] as [number, number, number][]) {
      it(`${what}: G${G} R${R} C${C}`, async () => {
        const x = new Rng(G + R + C).normals(G * R * C);
        const got = await ctx.scope(() => colSum(ctx, ctx.upload(x, [G, R, C]), { groups: G, planCaps: caps }).read());
        const ref = colSumRef(x, G, R, C);
        expectSum(got, ref.sum, ref.abs, what);
      });
    }
  }
});

describe('sumOverAxes', () => {
  it('positional-embedding gradient: dy [B, T, N, C] summed over B and N, accumulated into dpe [T, C]', async () => {
    const ctx = await gpu();
    const [B, T, N, C] = [3, 5, 7, 6];
    const rng = new Rng(7);
    const dy = rng.normals(B * T * N * C);
    const old = rng.normals(T * C);
    const [fresh, acc, shape] = await ctx.scope(() => {
      const tdy = ctx.upload(dy, [B, T, N, C]);
      const f = sumOverAxes(ctx, tdy, [0, 2]);
      const dpe = ctx.upload(old, [T, C]);
      sumOverAxes(ctx, tdy, [2, 0], { out: { tensor: dpe, accumulate: true } });
      return Promise.all([f.read(), dpe.read(), Promise.resolve(f.shape)]);
    });
    expect(shape).toEqual([T, C]);
    const want = new Float64Array(T * C);
    for (let b = 0; b < B; b++) {
      for (let t = 0; t < T; t++) {
        for (let n = 0; n < N; n++) {
          for (let c = 0; c < C; c++) {
            want[t * C + c]! += dy[((b * T + t) * N + n) * C + c]!;
          }
        }
      }
    }
    expectClose(fresh, want, { atol: 1e-5, rtol: 1e-5 }, 'dpe', [T, C]);
    expectClose(
      acc,
      want.map((v, i) => v + old[i]!),
      { atol: 1e-5, rtol: 1e-5 },
      'dpe +=',
      [T, C],
    );
  });

  it('every axis, the last axis, and a scale', async () => {
    const ctx = await gpu();
    const [A, B, C] = [4, 9, 5];
    const x = new Rng(8).normals(A * B * C);
    const [all, lastAxis, lastShape] = await ctx.scope(() => {
      const t = ctx.upload(x, [A, B, C]);
      const s = sumOverAxes(ctx, t, [2]);
      const all = sumOverAxes(ctx, t, [0, 1, 2], { scale: 0.25 });
      return Promise.all([all.read(), s.read(), Promise.resolve(s.shape)]);
    });
    let total = 0;
    for (const v of x) {
      total += v;
    }
    expectClose(all, [0.25 * total], { atol: 1e-5, rtol: 1e-5 }, 'all');
    expect(lastShape).toEqual([A, B]);
    const want = new Float64Array(A * B);
    x.forEach((v, i) => (want[Math.floor(i / C)]! += v));
    expectClose(lastAxis, want, { atol: 1e-5, rtol: 1e-5 }, 'last axis');
  });

  it('rejects bad axes', async () => {
    const ctx = await gpu();
    ctx.scope(() => {
      const t = ctx.zeros([2, 3]);
      expect(() => sumOverAxes(ctx, t, [0, 0])).toThrow(/must be distinct axes/);
      expect(() => sumOverAxes(ctx, t, [2])).toThrow(/must be distinct axes/);
      expect(() => sumOverAxes(ctx, t, [])).toThrow(/no axes to sum/);
    });
  });
});

describe('colSum: input checks', () => {
  it('names the input and the fix', async () => {
    const ctx = await gpu();
    ctx.scope(() => {
      const x = ctx.zeros([6, 4]);
      expect(() => colSum(ctx, x, { groups: 5 })).toThrow(/cannot be viewed as \[groups 5/);
      expect(() => colSum(ctx, x, { out: ctx.zeros([3]) })).toThrow(/out .* must be f32 with 4 elements/);
      expect(() => colSum(ctx, x, { out: ctx.zeros([4], 'f16') })).toThrow(/must be f32/);
      expect(() => colSum(ctx, x, { times: ctx.zeros([4, 6], 'f16') })).toThrow(/times .* must match x/);
    });
  });
});
