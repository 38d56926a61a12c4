import { describe, expect, it } from 'vitest';
import { groupnorm, tolerance as gnTol } from '../../src/kernels/groupnorm.js';
import { layernorm, tolerance as lnTol } from '../../src/kernels/layernorm.js';
import { reduceAxis, tolerance as rdTol } from '../../src/kernels/reduce.js';
import { softmax, tolerance as smTol } from '../../src/kernels/softmax.js';
import { groupnormRef, layernormRef, reduceRef, softmaxRef } from '../../src/ref/norms.js';
import { roundToF16 } from '../../src/tensor/f16.js';
import { Rng } from '../../src/util/rng.js';
import { expectClose, expectRatio } from '../helpers/compare.js';
import { gpu } from '../helpers/gpu.js';
import { skipBecause } from '../helpers/skip.js';

describe('layernorm', () => {
  for (const [rows, cols] of [
    [1, 1],
    [7, 5],
    [3, 97],
    [13, 130],
    [5, 1031],
  ] as const) {
    it(`plain and affine ${rows}x${cols}`, async () => {
      const ctx = await gpu();
      const rng = new Rng(rows * cols);
      const x = rng.normals(rows * cols, 3, 5); // offset mean: exercises the shifted sums
      const w = rng.normals(cols, 0.5, 1);
      const b = rng.normals(cols);
      const [plain, aff] = await ctx.scope(() => {
        const tx = ctx.upload(x, [rows, cols]);
        return Promise.all([
          layernorm(ctx, tx, cols).read(),
          layernorm(ctx, tx, cols, {
            weight: ctx.upload(w, [cols]),
            bias: ctx.upload(b, [cols]),
            outScale: 0.5,
          }).read(),
        ]);
      });
      expectClose(plain, layernormRef(x, cols), lnTol.f32, 'plain');
      expectClose(aff, layernormRef(x, cols, { weight: w, bias: b, outScale: 0.5 }), lnTol.f32, 'affine');
    });
  }

  it('modulates per sample: LN(x)(1+γ)+β from a packed table', async () => {
    const ctx = await gpu();
    const [S, rowsPer, C] = [2, 6, 200];
    const stride = 6 * C;
    const rng = new Rng(5);
    const x = rng.normals(S * rowsPer * C);
    const table = rng.normals(S * stride);
    const got = await ctx.scope(() =>
      layernorm(ctx, ctx.upload(x, [S * rowsPer, C]), C, {
        modulation: {
          table: ctx.upload(table, [S, stride]),
          stride,
          gammaOffset: C,
          betaOffset: 3 * C,
          rowsPerSample: rowsPer,
        },
      }).read(),
    );
    const want = layernormRef(x, C, {
      mod: (r, c, h) => {
        const s = Math.floor(r / rowsPer);
        return h * (1 + table[s * stride + C + c]!) + table[s * stride + 3 * C + c]!;
      },
    });
    expectClose(got, want, lnTol.f32, 'modulated');
  });

  it('normalises heads strided inside a qkv tensor (qk-norm)', async () => {
    const ctx = await gpu();
    const [N, NH, dh] = [11, 3, 16];
    const D = NH * dh;
    const rng = new Rng(8);
    const qkv = rng.normals(N * 3 * D);
    const scale = rng.normals(dh, 0.1, 1);
    const k = await ctx.scope(() =>
      layernorm(ctx, ctx.upload(qkv, [N, 3 * D]), dh, {
        weight: ctx.upload(scale, [dh]),
        rows: { rows: N * NH, rowsInner: NH, innerStride: dh, outerStride: 3 * D, offset: D },
      }).read(),
    );
    const kRows = new Float32Array(N * D);
    for (let n = 0; n < N; n++) {
      kRows.set(qkv.subarray(n * 3 * D + D, n * 3 * D + 2 * D), n * D);
    }
    expectClose(k, layernormRef(kRows, dh, { weight: scale }), lnTol.f32, 'k-norm');
  });

  it('f16 storage meets the ratio rule', async () => {
    const ctx = await gpu();
    const x = roundToF16(new Rng(2).normals(9 * 300));
    const got = await ctx.scope(() => layernorm(ctx, ctx.upload(x, [9, 300], 'f16'), 300).read());
    const ref = layernormRef(x, 300);
    expectRatio(got, ref, roundToF16(Float32Array.from(ref)), lnTol.f16.ratioToRef, 'ln f16');
  });
});

describe('groupnorm (per-frame statistics) + swish', () => {
  for (const [T, H, W, C, G] of [
    [1, 1, 1, 4, 2],
    [3, 5, 7, 8, 4],
    [2, 9, 4, 12, 3],
    [5, 8, 8, 32, 32],
  ] as const) {
    it(`${T}x${H}x${W}x${C} G=${G}`, async () => {
      const ctx = await gpu();
      const rng = new Rng(T * H * W * C);
      const x = rng.normals(T * H * W * C, 2, 1);
      const gamma = rng.normals(C, 0.3, 1);
      const beta = rng.normals(C, 0.3);
      for (const swish of [false, true]) {
        const got = await ctx.scope(() =>
          groupnorm(ctx, ctx.upload(x, [T, H, W, C]), ctx.upload(gamma, [C]), ctx.upload(beta, [C]), G, {
            swish,
          }).read(),
        );
        expectClose(got, groupnormRef(x, T, H * W, C, G, gamma, beta, swish), gnTol.f32, `gn swish=${swish}`);
      }
    });
  }

  it('f16 storage (with swish) meets the ratio rule', async (t) => {
    const ctx = await gpu();
    if (!ctx.caps.f16) {
      skipBecause(t, 'this adapter has no shader-f16');
    }
    const [T, H, W, C, G] = [3, 5, 7, 12, 3];
    const rng = new Rng(5);
    const x = roundToF16(rng.normals(T * H * W * C, 2, 1));
    const gamma = roundToF16(rng.normals(C, 0.3, 1));
    const beta = roundToF16(rng.normals(C, 0.3));
    const got = await ctx.scope(() =>
      groupnorm(
        ctx,
        ctx.upload(x, [T, H, W, C], 'f16'),
        ctx.upload(gamma, [C], 'f16'),
        ctx.upload(beta, [C], 'f16'),
        G,
        {
          swish: true,
        },
      ).read(),
    );
    const ref = groupnormRef(x, T, H * W, C, G, gamma, beta, true);
    expectRatio(got, ref, roundToF16(Float32Array.from(ref)), gnTol.f16.ratioToRef, 'gn f16');
  });

  it('rejects channels that do not split into groups', async () => {
    const ctx = await gpu();
    ctx.scope(() => {
      expect(() => groupnorm(ctx, ctx.zeros([1, 2, 2, 6]), ctx.zeros([6]), ctx.zeros([6]), 4)).toThrow(/groups/);
    });
  });
});

describe('softmax and reductions', () => {
  for (const [rows, cols] of [
    [1, 1],
    [7, 5],
    [4, 97],
    [3, 1025],
  ] as const) {
    it(`softmax ${rows}x${cols}`, async () => {
      const ctx = await gpu();
      const x = new Rng(cols).normals(rows * cols, 4);
      const got = await ctx.scope(() => softmax(ctx, ctx.upload(x, [rows, cols]), { scale: 0.7 }).read());
      expectClose(got, softmaxRef(x, cols, 0.7), smTol.f32, 'softmax');
    });
  }

  for (const [o, a, i] of [
    [1, 1, 1],
    [3, 7, 5],
    [5, 64, 33],
    [1, 97, 2],
  ] as const) {
    it(`mean and sum over (${o}, ${a}, ${i})`, async () => {
      const ctx = await gpu();
      const x = new Rng(a).normals(o * a * i);
      const [m, s] = await ctx.scope(() => {
        const t = ctx.upload(x, [o, a, i]);
        return Promise.all([reduceAxis(ctx, t, o, a, i).read(), reduceAxis(ctx, t, o, a, i, { op: 'sum' }).read()]);
      });
      expectClose(m, reduceRef(x, o, a, i, 'mean'), rdTol.f32, 'mean');
      expectClose(s, reduceRef(x, o, a, i, 'sum'), { atol: 1e-5, rtol: 1e-5 }, 'sum');
    });
  }

  it('mean in f16 storage (f16 → f16 and f16 → f32) meets the ratio rule', async (t) => {
    const ctx = await gpu();
    if (!ctx.caps.f16) {
      skipBecause(t, 'this adapter has no shader-f16');
    }
    const [o, a, i] = [3, 97, 5];
    const x = roundToF16(new Rng(9).normals(o * a * i));
    const ref = reduceRef(x, o, a, i, 'mean');
    const [h, f] = await ctx.scope(() => {
      const tx = ctx.upload(x, [o, a, i], 'f16');
      return Promise.all([reduceAxis(ctx, tx, o, a, i).read(), reduceAxis(ctx, tx, o, a, i, { dtype: 'f32' }).read()]);
    });
    expectRatio(h, ref, roundToF16(Float32Array.from(ref)), rdTol.f16.ratioToRef, 'reduce f16→f16');
    expectClose(f, ref, { atol: 1e-5, rtol: 1e-4 }, 'reduce f16→f32');
  });
});
