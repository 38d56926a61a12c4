import { describe, expect, it } from 'vitest';
import {
  add,
  axpby,
  cast,
  channelBroadcast,
  gatedResidual,
  gelu,
  mul,
  silu,
  tolerance,
} from '../../src/kernels/elementwise.js';
import { binaryRef, gatedRef, geluTanh, mapRef, silu as siluRef } from '../../src/ref/elementwise.js';
import { roundToF16 } from '../../src/tensor/f16.js';
import { Rng } from '../../src/util/rng.js';
import { expectClose } from '../helpers/compare.js';
import { gpu } from '../helpers/gpu.js';

const SIZES = [1, 7, 97, 1023, 4099];

describe('elementwise', () => {
  for (const dtype of ['f32', 'f16'] as const) {
    const tol = tolerance[dtype];
    const q = (x: Float32Array): Float32Array => (dtype === 'f16' ? roundToF16(x) : x);
    for (const n of SIZES) {
      it(`unary and binary ops n=${n} ${dtype}`, async () => {
        const ctx = await gpu();
        const rng = new Rng(n, 1);
        const a = q(rng.normals(n, 2));
        const b = q(rng.normals(n));
        const got = await ctx.scope(async () => {
          const ta = ctx.upload(a, [n], dtype);
          const tb = ctx.upload(b, [n], dtype);
          return Promise.all([
            add(ctx, ta, tb).read(),
            mul(ctx, ta, tb).read(),
            axpby(ctx, 0.8, ta, -0.6, tb).read(),
            gelu(ctx, ta).read(),
            silu(ctx, ta).read(),
          ]);
        });
        const same = { inner: n, outer: n };
        expectClose(
          got[0],
          binaryRef(a, b, same, (x, y) => x + y),
          tol,
          'add',
        );
        expectClose(
          got[1],
          binaryRef(a, b, same, (x, y) => x * y),
          tol,
          'mul',
        );
        expectClose(
          got[2],
          binaryRef(a, b, same, (x, y) => 0.8 * x - 0.6 * y),
          tol,
          'axpby',
        );
        expectClose(got[3], mapRef(a, geluTanh), tol, 'gelu');
        expectClose(got[4], mapRef(a, siluRef), tol, 'silu');
      });
    }
  }

  it('broadcasts per-sample channel vectors (gated residual, add)', async () => {
    const ctx = await gpu();
    const [B, rows, C] = [3, 7, 5];
    const rng = new Rng(3);
    const x = rng.normals(B * rows * C);
    const h = rng.normals(B * rows * C);
    const g = rng.normals(B * C);
    const bias = rng.normals(C);
    const [y, z] = await ctx.scope(async () => {
      const tx = ctx.upload(x, [B, rows, C]);
      const th = ctx.upload(h, [B, rows, C]);
      const tg = ctx.upload(g, [B, C]);
      const tb = ctx.upload(bias, [C]);
      return Promise.all([
        gatedResidual(ctx, tx, th, tg, channelBroadcast(tx, C, B)).read(),
        add(ctx, tx, tb, channelBroadcast(tx, C)).read(),
      ]);
    });
    expectClose(y, gatedRef(x, h, g, { inner: C, outer: rows * C }), tolerance.f32, 'gated');
    expectClose(
      z,
      binaryRef(x, bias, { inner: C, outer: B * rows * C }, (p, s) => p + s),
      tolerance.f32,
      'bias add',
    );
  });

  it('casts f32 <-> f16', async () => {
    const ctx = await gpu();
    const a = new Rng(9).normals(101, 3);
    const back = await ctx.scope(async () => {
      const t = ctx.upload(a, [101]);
      const h = cast(ctx, t, 'f16');
      expect(h.dtype).toBe('f16');
      return cast(ctx, h, 'f32').read();
    });
    expectClose(back, roundToF16(a), { atol: 0, rtol: 0 }, 'cast round trip');
  });

  it('rejects mismatched shapes and aliasing with a clear error', async () => {
    const ctx = await gpu();
    ctx.scope(() => {
      const a = ctx.zeros([8]);
      const b = ctx.zeros([7]);
      expect(() => add(ctx, a, b)).toThrow(/does not broadcast/);
      expect(() => add(ctx, a, a, undefined, a)).toThrow(/aliasing/);
    });
  });
});
