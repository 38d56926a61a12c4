// norm-train: LayerNorm (full, scale-only, bias-only, none) and RMSNorm over heads, forward and
// backward, against the float64 references of src/ref/layernorm.ts.
import { describe, expect, it } from 'vitest';
import type { GpuContext } from '../../src/gpu/context.js';
import {
  layerNormBackward,
  layerNormForward,
  NORM_TRAIN_WORKGROUPS,
  normTrainWorkgroup,
  rmsNormBackward,
  rmsNormForward,
  tolerance,
} from '../../src/kernels/norm-train.js';
import {
  layerNormBackward as lnBackRef,
  layerNormForward as lnFwdRef,
  rmsNormBackward as rmsBackRef,
  rmsNormForward as rmsFwdRef,
} from '../../src/ref/layernorm.js';
import { roundToF16 } from '../../src/tensor/f16.js';
import type { Tensor } from '../../src/tensor/tensor.js';
import { Rng } from '../../src/util/rng.js';
import { adapterKinds } from '../helpers/adapter-kinds.js';
import { expectClose, expectRatio } from '../helpers/compare.js';
import { gpu } from '../helpers/gpu.js';

type Affine = 'full' | 'scale' | 'bias' | 'none';
const AFFINES: Affine[] = ['full', 'scale', 'bias', 'none'];
const hasW = (a: Affine): boolean => a === 'full' || a === 'scale';
const hasB = (a: Affine): boolean => a === 'full' || a === 'bias';

const f32 = (a: ArrayLike<number>): Float32Array => Float32Array.from(a);
const plus = (a: ArrayLike<number>, b: ArrayLike<number>): Float64Array => Float64Array.from(a, (v, i) => v + b[i]!);

/** Bytes of a tensor, for bit-identity checks. */
async function bits(t: Tensor): Promise<Uint8Array> {
  return new Uint8Array(await t.readRaw());
}

// (R, C): 1, odd, primes, the heads' widths (3 coords, 12, 1088 = 1024 + 64), tile ± 1.
const LN_SHAPES: [number, number][] = [
  [1, 1],
  [7, 3],
  [97, 12],
  [33, 64],
  [3, 97],
  [13, 130],
  [5, 257],
  [4, 1031],
  [2, 1088],
];

describe('layerNormForward f32', () => {
  LN_SHAPES.forEach(([R, C], i) => {
    const wg = NORM_TRAIN_WORKGROUPS[i % 2]!;
    it(`${R}x${C} all affine modes, wg ${wg}`, async () => {
      const ctx = await gpu();
      const rng = new Rng(R * 1000 + C);
      const x = rng.normals(R * C, 2, 30); // |mean| ≫ std
      const w = rng.normals(C, 0.5, 1);
      const b = rng.normals(C);
      for (const affine of AFFINES) {
        const [y, mean, rstd] = await ctx.scope(async () => {
          const o = layerNormForward(ctx, ctx.upload(x, [R, C]), {
            ...(hasW(affine) ? { weight: ctx.upload(w, [C]) } : {}),
            ...(hasB(affine) ? { bias: ctx.upload(b, [C]) } : {}),
            workgroup: wg,
          });
          return [await o.y.read(), await o.mean.read(), await o.rstd.read()];
        });
        const ref = lnFwdRef(x, R, C, hasW(affine) ? w : null, hasB(affine) ? b : null);
        expectClose(y, ref.y, tolerance.f32, `y ${affine}`, [R, C]);
        expectClose(mean, ref.mean, tolerance.f32, `mean ${affine}`);
        expectClose(rstd, ref.rstd, tolerance.f32, `rstd ${affine}`);
      }
    });
  });

  it('is accurate for |mean| ≫ std (mean 1000, std 0.01) and takes eps as a parameter', async () => {
    const ctx = await gpu();
    const [R, C] = [9, 1024];
    const rng = new Rng(11);
    const x = rng.normals(R * C, 0.01, 1000);
    for (const eps of [1e-6, 1e-4]) {
      const [y, rstd] = await ctx.scope(async () => {
        const o = layerNormForward(ctx, ctx.upload(x, [R, C]), { eps });
        return [await o.y.read(), await o.rstd.read()];
      });
      const ref = lnFwdRef(x, R, C, null, null, eps);
      expectClose(y, ref.y, { atol: 1e-4, rtol: 1e-4 }, `y eps ${eps}`);
      expectClose(rstd, ref.rstd, { atol: 0, rtol: 1e-4 }, `rstd eps ${eps}`);
    }
  });

  it('writes into a caller-supplied out and keeps leading dims', async () => {
    const ctx = await gpu();
    const rng = new Rng(3);
    const x = rng.normals(2 * 3 * 5);
    const got = await ctx.scope(() => {
      const out = ctx.empty([2, 3, 5], 'f32');
      const o = layerNormForward(ctx, ctx.upload(x, [2, 3, 5]), { out });
      expect(o.y).toBe(out);
      expect(o.mean.shape).toEqual([6]);
      return out.read();
    });
    expectClose(got, lnFwdRef(x, 6, 5, null, null).y, tolerance.f32, 'y');
  });

  it('names bad inputs', async () => {
    const ctx = await gpu();
    ctx.scope(() => {
      const x = ctx.zeros([4, 5]);
      expect(() => layerNormForward(ctx, x, { weight: ctx.zeros([4]) })).toThrow(/weight .* must be \[5\] f32/);
      expect(() => layerNormForward(ctx, x, { bias: ctx.zeros([5], 'f16') })).toThrow(/bias .* must be \[5\] f32/);
      expect(() => layerNormForward(ctx, x, { out: ctx.zeros([4, 4]) })).toThrow(/out .* must be \[4, 5\] f32/);
    });
  });
});

interface LnBackCase {
  R: number;
  C: number;
  affine: Affine;
  accumulate: boolean;
  rowsPerBlock?: number;
  wg: number;
}

async function lnBackwardCase(ctx: GpuContext, k: LnBackCase, seed: number): Promise<void> {
  const { R, C, affine, accumulate } = k;
  const rng = new Rng(seed);
  const x = rng.normals(R * C, 1.5, 4);
  const dy = rng.normals(R * C);
  const w = rng.normals(C, 0.5, 1);
  const fwd = lnFwdRef(x, R, C, null, null);
  const mean = f32(fwd.mean);
  const rstd = f32(fwd.rstd);
  const dx0 = rng.normals(R * C);
  const dw0 = rng.normals(C);
  const db0 = rng.normals(C);
  const got = await ctx.scope(async () => {
    const o = layerNormBackward(
      ctx,
      ctx.upload(dy, [R, C]),
      ctx.upload(x, [R, C]),
      ctx.upload(mean, [R]),
      ctx.upload(rstd, [R]),
      {
        ...(hasW(affine) ? { weight: ctx.upload(w, [C]) } : {}),
        hasBias: hasB(affine),
        dx: { tensor: ctx.upload(dx0, [R, C]), accumulate },
        ...(hasW(affine) ? { dweight: { tensor: ctx.upload(dw0, [C]), accumulate } } : {}),
        ...(hasB(affine) ? { dbias: { tensor: ctx.upload(db0, [C]), accumulate } } : {}),
        ...(k.rowsPerBlock ? { rowsPerBlock: k.rowsPerBlock } : {}),
        workgroup: k.wg,
      },
    );
    expect(!!o.dweight).toBe(hasW(affine));
    expect(!!o.dbias).toBe(hasB(affine));
    return {
      dx: await o.dx!.read(),
      dw: o.dweight ? await o.dweight.read() : null,
      db: o.dbias ? await o.dbias.read() : null,
    };
  });
  const ref = lnBackRef(dy, x, mean, rstd, R, C, hasW(affine) ? w : null, hasB(affine));
  const acc = (r: Float64Array, init: Float32Array): Float64Array => (accumulate ? plus(r, init) : r);
  expectClose(got.dx, acc(ref.dx, dx0), tolerance.f32, `dx ${affine}`, [R, C]);
  if (ref.dweight) {
    expectClose(got.dw!, acc(ref.dweight, dw0), tolerance.f32, `dweight ${affine}`);
  }
  if (ref.dbias) {
    expectClose(got.db!, acc(ref.dbias, db0), tolerance.f32, `dbias ${affine}`);
  }
}

describe('layerNormBackward f32', () => {
  const cases: LnBackCase[] = [];
  LN_SHAPES.forEach(([R, C], i) => {
    AFFINES.forEach((affine, j) => {
      cases.push({
        R,
        C,
        affine,
        accumulate: (i + j) % 2 === 0,
        // Alternate the single-block path, small blocks (two passes) and the default plan.
        ...(j % 3 === 1 ? { rowsPerBlock: 2 } : j % 3 === 2 ? { rowsPerBlock: 5 } : {}),
        wg: NORM_TRAIN_WORKGROUPS[(i + j) % 2]!,
      });
    });
  });
  cases.push({ R: 301, C: 64, affine: 'full', accumulate: true, wg: 256 });
  cases.push({ R: 301, C: 64, affine: 'full', accumulate: false, rowsPerBlock: 300, wg: 64 });
  cases.forEach((k, i) => {
    it(`${k.R}x${k.C} ${k.affine} accumulate=${k.accumulate} rowsPerBlock=${k.rowsPerBlock ?? 'auto'} wg ${k.wg}`, async () => {
      await lnBackwardCase(await gpu(), k, i + 100);
    });
  });

  it('returns fresh gradients and skips dx on request (frozen inputs)', async () => {
    const ctx = await gpu();
    const [R, C] = [11, 9];
    const rng = new Rng(2);
    const x = rng.normals(R * C);
    const dy = rng.normals(R * C);
    const w = rng.normals(C);
    const fwd = lnFwdRef(x, R, C, w, null);
    const got = await ctx.scope(async () => {
      const args = [
        ctx.upload(dy, [R, C]),
        ctx.upload(x, [R, C]),
        ctx.upload(f32(fwd.mean), [R]),
        ctx.upload(f32(fwd.rstd), [R]),
      ] as const;
      const full = layerNormBackward(ctx, ...args, { weight: ctx.upload(w, [C]), hasBias: true });
      const noDx = layerNormBackward(ctx, ...args, { weight: ctx.upload(w, [C]), dx: null });
      const biasOnly = layerNormBackward(ctx, ...args, { dx: null, hasBias: true });
      expect(noDx.dx).toBeNull();
      expect(biasOnly.dweight).toBeUndefined();
      return [
        await full.dx!.read(),
        await full.dweight!.read(),
        await full.dbias!.read(),
        await noDx.dweight!.read(),
        await biasOnly.dbias!.read(),
      ];
    });
    const ref = lnBackRef(dy, x, f32(fwd.mean), f32(fwd.rstd), R, C, w, true);
    expectClose(got[0]!, ref.dx, tolerance.f32, 'dx');
    expectClose(got[1]!, ref.dweight!, tolerance.f32, 'dweight');
    expectClose(got[2]!, ref.dbias!, tolerance.f32, 'dbias');
    expectClose(got[3]!, ref.dweight!, tolerance.f32, 'dweight without dx');
    expectClose(got[4]!, ref.dbias!, tolerance.f32, 'dbias without weight');
  });

  it('is bit-identical across reruns (two-pass column sums)', async () => {
    const ctx = await gpu();
    const [R, C] = [333, 97];
    const rng = new Rng(9);
    const x = rng.normals(R * C, 1, 2);
    const dy = rng.normals(R * C);
    const w = rng.normals(C);
    const fwd = lnFwdRef(x, R, C, w, null);
    const runs = await ctx.scope(async () => {
      const tx = ctx.upload(x, [R, C]);
      const tdy = ctx.upload(dy, [R, C]);
      const tm = ctx.upload(f32(fwd.mean), [R]);
      const tr = ctx.upload(f32(fwd.rstd), [R]);
      const tw = ctx.upload(w, [C]);
      const out: Uint8Array[][] = [];
      for (let k = 0; k < 2; k++) {
        const o = layerNormBackward(ctx, tdy, tx, tm, tr, { weight: tw, hasBias: true, rowsPerBlock: 7 });
        out.push([await bits(o.dx!), await bits(o.dweight!), await bits(o.dbias!)]);
      }
      return out;
    });
    expect(runs[1]).toEqual(runs[0]);
  });

  it.each([7, 8])('processes rows in chunks when a tensor exceeds the binding limit (C = %i)', async (C) => {
    const ctx = await gpu();
    const R = 700;
    const rng = new Rng(4);
    const x = rng.normals(R * C, 1, 3);
    const dy = rng.normals(R * C);
    const w = rng.normals(C);
    const b = rng.normals(C);
    const limit = 256 * C * 4; // 256 rows per chunk: 3 chunks
    const got = await ctx.scope(async () => {
      const tx = ctx.upload(x, [R, C]);
      const f = layerNormForward(ctx, tx, {
        weight: ctx.upload(w, [C]),
        bias: ctx.upload(b, [C]),
        maxBindingBytes: limit,
      });
      const g = layerNormBackward(ctx, ctx.upload(dy, [R, C]), tx, f.mean, f.rstd, {
        weight: ctx.upload(w, [C]),
        hasBias: true,
        maxBindingBytes: limit,
      });
      return [await f.y.read(), await g.dx!.read(), await g.dweight!.read(), await g.dbias!.read()];
    });
    const fr = lnFwdRef(x, R, C, w, b);
    const br = lnBackRef(dy, x, fr.mean, fr.rstd, R, C, w, true);
    expectClose(got[0]!, fr.y, tolerance.f32, 'y');
    expectClose(got[1]!, br.dx, tolerance.f32, 'dx');
    expectClose(got[2]!, br.dweight!, tolerance.f32, 'dweight');
    expectClose(got[3]!, br.dbias!, tolerance.f32, 'dbias');
  });

  it('names bad inputs', async () => {
    const ctx = await gpu();
    ctx.scope(() => {
      const x = ctx.zeros([4, 5]);
      const s = ctx.zeros([4]);
      expect(() => layerNormBackward(ctx, ctx.zeros([4, 6]), x, s, s)).toThrow(/dy .* must be \[4, 5\] f32/);
      expect(() => layerNormBackward(ctx, ctx.zeros([4, 5]), x, ctx.zeros([3]), s)).toThrow(/mean/);
      expect(() =>
        layerNormBackward(ctx, ctx.zeros([4, 5]), x, s, s, { dweight: { tensor: ctx.zeros([5]), accumulate: false } }),
      ).toThrow(/needs the forward's weight/);
    });
  });
});

describe('layerNorm f16 storage (statistics and gradients f32)', () => {
  for (const [R, C] of [
    [7, 3],
    [13, 130],
    [9, 64],
    [4, 1031],
    [3, 1088],
  ] as [number, number][]) {
    it(`${R}x${C}`, async () => {
      const ctx = await gpu();
      const rng = new Rng(R + C);
      const x = roundToF16(rng.normals(R * C, 1, 3));
      const w = rng.normals(C, 0.5, 1);
      const b = rng.normals(C);
      const dy = rng.normals(R * C);
      const got = await ctx.scope(async () => {
        const tx = ctx.upload(x, [R, C], 'f16');
        const tw = ctx.upload(w, [C]);
        const f = layerNormForward(ctx, tx, { weight: tw, bias: ctx.upload(b, [C]) });
        expect([f.y.dtype, f.mean.dtype, f.rstd.dtype]).toEqual(['f16', 'f32', 'f32']);
        const g = layerNormBackward(ctx, ctx.upload(dy, [R, C]), tx, f.mean, f.rstd, { weight: tw, hasBias: true });
        expect(g.dx!.dtype).toBe('f32');
        return [
          await f.y.read(),
          await f.mean.read(),
          await f.rstd.read(),
          await g.dx!.read(),
          await g.dweight!.read(),
        ];
      });
      const fr = lnFwdRef(x, R, C, w, b);
      expectRatio(got[0]!, fr.y, roundToF16(fr.y), tolerance.f16.ratioToRef, 'y f16');
      expectClose(got[1]!, fr.mean, tolerance.f32, 'mean');
      expectClose(got[2]!, fr.rstd, tolerance.f32, 'rstd');
      const br = lnBackRef(dy, x, f32(got[1]!), f32(got[2]!), R, C, w, true);
      expectClose(got[3]!, br.dx, tolerance.f32, 'dx');
      expectClose(got[4]!, br.dweight!, tolerance.f32, 'dweight');
    });
  }
});

// (R, H, d): every head dim of the readouts, odd row and head counts.
const RMS_SHAPES: [number, number, number][] = [
  [7, 3, 4],
  [5, 2, 8],
  [3, 5, 16],
  [9, 1, 32],
  [2, 3, 64],
  [3, 2, 256],
];

describe('rmsNorm f32', () => {
  RMS_SHAPES.forEach(([R, H, d], i) => {
    const wg = NORM_TRAIN_WORKGROUPS[i % 2]!;
    for (const withScale of [true, false]) {
      const accumulate = (i % 2 === 0) === withScale;
      it(`${R}x${H}x${d} scale=${withScale} accumulate=${accumulate} wg ${wg}`, async () => {
        const ctx = await gpu();
        const rng = new Rng(R * 100 + H * 10 + d);
        const n = R * H * d;
        const x = rng.normals(n, 1, 0.5);
        const s = rng.normals(d, 0.3, 1);
        const dy = rng.normals(n);
        const dx0 = rng.normals(n);
        const ds0 = rng.normals(d);
        const got = await ctx.scope(async () => {
          const tx = ctx.upload(x, [R, H * d]);
          const ts = ctx.upload(s, [d]);
          const scale = withScale ? { scale: ts } : {};
          const f = rmsNormForward(ctx, tx, { heads: H, dim: d, ...scale, workgroup: wg });
          expect(f.rstd.shape).toEqual([R * H]);
          const g = rmsNormBackward(ctx, ctx.upload(dy, [R, H * d]), tx, f.rstd, {
            heads: H,
            dim: d,
            ...scale,
            dx: { tensor: ctx.upload(dx0, [R, H * d]), accumulate },
            ...(withScale ? { dscale: { tensor: ctx.upload(ds0, [d]), accumulate } } : {}),
            rowsPerBlock: i % 3 === 0 ? undefined : 3,
            workgroup: wg,
          });
          expect(!!g.dscale).toBe(withScale);
          return [await f.y.read(), await f.rstd.read(), await g.dx!.read(), g.dscale ? await g.dscale.read() : null];
        });
        const fr = rmsFwdRef(x, R, H, d, withScale ? s : null);
        expectClose(got[0]!, fr.y, tolerance.f32, 'y', [R, H, d]);
        expectClose(got[1]!, fr.rstd, tolerance.f32, 'rstd');
        const br = rmsBackRef(dy, x, f32(got[1]!), R, H, d, withScale ? s : null);
        expectClose(got[2]!, accumulate ? plus(br.dx, dx0) : br.dx, tolerance.f32, 'dx', [R, H, d]);
        if (withScale) {
          expectClose(got[3]!, accumulate ? plus(br.dscale!, ds0) : br.dscale!, tolerance.f32, 'dscale');
        }
      });
    }
  });

  it.each([
    [13, 5, 2, 0],
    [13, 4, 8, 0],
    [300, 4, 8, 256 * (3 * 48 + 4) * 4], // 2 row chunks
  ])(
    'reads heads from a strided row view and writes dx into a strided view (q inside qkv; R %i, pad %i, offset +%i, limit %i)',
    async (R, pad, shift, limit) => {
      const ctx = await gpu();
      const [H, d] = [3, 16];
      const chunked = limit ? { maxBindingBytes: limit } : {};
      const width = H * d;
      const stride = 3 * width + pad;
      const offset = width + shift;
      const rng = new Rng(21);
      const qkv = rng.normals(R * stride);
      const x = new Float32Array(R * width);
      for (let r = 0; r < R; r++) {
        x.set(qkv.subarray(r * stride + offset, r * stride + offset + width), r * width);
      }
      const s = rng.normals(d, 0.3, 1);
      const dy = rng.normals(R * width);
      const dqkv0 = rng.normals(R * stride);
      const got = await ctx.scope(async () => {
        const view = { tensor: ctx.upload(qkv, [R, stride]), stride, offset };
        const ts = ctx.upload(s, [d]);
        const f = rmsNormForward(ctx, view, { heads: H, dim: d, scale: ts, ...chunked });
        expect(f.y.shape).toEqual([R, width]);
        const dqkv = ctx.upload(dqkv0, [R, stride]);
        const g = rmsNormBackward(ctx, ctx.upload(dy, [R, width]), view, f.rstd, {
          heads: H,
          dim: d,
          scale: ts,
          dx: { tensor: dqkv, accumulate: true, stride, offset },
          ...chunked,
        });
        expect(g.dx).toBe(dqkv);
        return [await f.y.read(), await dqkv.read(), await g.dscale!.read()];
      });
      const fr = rmsFwdRef(x, R, H, d, s);
      expectClose(got[0]!, fr.y, tolerance.f32, 'y');
      const br = rmsBackRef(dy, x, fr.rstd, R, H, d, s);
      const want = Float64Array.from(dqkv0);
      for (let r = 0; r < R; r++) {
        for (let k = 0; k < width; k++) {
          want[r * stride + offset + k] = want[r * stride + offset + k]! + br.dx[r * width + k]!;
        }
      }
      expectClose(got[1]!, want, tolerance.f32, 'dqkv (only the q columns change)');
      expectClose(got[2]!, br.dscale!, tolerance.f32, 'dscale');
    },
  );

  it('is bit-identical across reruns, f16 storage by the ratio rule', async () => {
    const ctx = await gpu();
    const [R, H, d] = [41, 4, 64];
    const n = R * H * d;
    const rng = new Rng(5);
    const x = roundToF16(rng.normals(n));
    const s = rng.normals(d, 0.3, 1);
    const dy = rng.normals(n);
    const got = await ctx.scope(async () => {
      const tx = ctx.upload(x, [R, H, d], 'f16');
      const ts = ctx.upload(s, [d]);
      const f = rmsNormForward(ctx, tx, { heads: H, dim: d, scale: ts });
      expect([f.y.dtype, f.rstd.dtype]).toEqual(['f16', 'f32']);
      const tdy = ctx.upload(dy, [R, H, d]);
      const runs: Uint8Array[][] = [];
      for (let k = 0; k < 2; k++) {
        const g = rmsNormBackward(ctx, tdy, tx, f.rstd, { heads: H, dim: d, scale: ts, rowsPerBlock: 10 });
        runs.push([await bits(g.dx!), await bits(g.dscale!)]);
      }
      expect(runs[1]).toEqual(runs[0]);
      return [await f.y.read(), await f.rstd.read()];
    });
    const fr = rmsFwdRef(x, R, H, d, s);
    expectRatio(got[0]!, fr.y, roundToF16(fr.y), tolerance.f16.ratioToRef, 'y f16');
    expectClose(got[1]!, fr.rstd, tolerance.f32, 'rstd');
  });

  it('names bad inputs', async () => {
    const ctx = await gpu();
    ctx.scope(() => {
      expect(() => rmsNormForward(ctx, ctx.zeros([4, 10]), { heads: 3, dim: 4 })).toThrow(/must be \[R, 3·4\]/);
      expect(() =>
        rmsNormForward(ctx, { tensor: ctx.zeros([4, 10]), stride: 10, offset: 4 }, { heads: 2, dim: 4 }),
      ).toThrow(/does not hold/);
      expect(() => rmsNormForward(ctx, ctx.zeros([4, 8]), { heads: 2, dim: 4, scale: ctx.zeros([8]) })).toThrow(
        /scale .* must be \[4\] f32/,
      );
      expect(() =>
        rmsNormBackward(ctx, ctx.zeros([4, 8]), ctx.zeros([4, 8]), ctx.zeros([4]), { heads: 2, dim: 4 }),
      ).toThrow(/rstd/);
    });
  });
});

describe('norm-train: the workgroup every adapter kind picks', async () => {
  const ctx = await gpu();
  const picked = new Set(adapterKinds(ctx).map((k) => normTrainWorkgroup(k.caps)));
  it(`is one of the tested sizes (${[...picked].join(', ')})`, () => {
    for (const wg of picked) {
      expect(NORM_TRAIN_WORKGROUPS as readonly number[]).toContain(wg);
    }
  });
});
