import { describe, expect, it } from 'vitest';
import { attention, relPosTableRows, tolerance, type Dims3 } from '../../src/kernels/attention.js';
import { attentionRef } from '../../src/ref/attention.js';
import { roundToF16 } from '../../src/tensor/f16.js';
import { Rng } from '../../src/util/rng.js';
import { expectRatio, expectRelToMax } from '../helpers/compare.js';
import { gpu } from '../helpers/gpu.js';

type Case = { latent: Dims3; window: Dims3; heads: number; dh: number; batch: number; bias: boolean };
const CASES: Case[] = [
  { latent: [1, 1, 1], window: [1, 1, 1], heads: 1, dh: 16, batch: 1, bias: true },
  { latent: [5, 4, 4], window: [1, 4, 4], heads: 2, dh: 16, batch: 1, bias: true },
  { latent: [5, 4, 4], window: [5, 2, 2], heads: 3, dh: 32, batch: 2, bias: true },
  { latent: [3, 7, 5], window: [3, 7, 5], heads: 2, dh: 64, batch: 1, bias: true },
  { latent: [5, 6, 6], window: [5, 3, 2], heads: 1, dh: 72, batch: 1, bias: false },
  { latent: [1, 8, 8], window: [1, 8, 8], heads: 2, dh: 80, batch: 3, bias: true },
  { latent: [2, 4, 4], window: [2, 4, 4], heads: 1, dh: 128, batch: 1, bias: false },
];

describe('windowed attention (fused)', () => {
  for (const c of CASES) {
    it(`latent ${c.latent.join('x')} window ${c.window.join('x')} heads ${c.heads} dh ${c.dh} batch ${c.batch}`, async () => {
      const ctx = await gpu();
      const tokens = c.batch * c.latent[0] * c.latent[1] * c.latent[2];
      const D = c.heads * c.dh;
      const rng = new Rng(tokens + D);
      // One qkv tensor (tokens, 3D), as the model feeds it; q, k, v are column slices.
      const qkv = rng.normals(tokens * 3 * D);
      const table = rng.normals(relPosTableRows(c.window) * c.heads, 0.5);
      const split = (part: number): Float32Array => {
        const out = new Float32Array(tokens * D);
        for (let r = 0; r < tokens; r++) {
          out.set(qkv.subarray(r * 3 * D + part * D, r * 3 * D + (part + 1) * D), r * D);
        }
        return out;
      };
      const got = await ctx.scope(() => {
        const t = ctx.upload(qkv, [tokens, 3 * D]);
        return attention(
          ctx,
          { tensor: t, stride: 3 * D, offset: 0 },
          { tensor: t, stride: 3 * D, offset: D },
          { tensor: t, stride: 3 * D, offset: 2 * D },
          {
            latent: c.latent,
            window: c.window,
            heads: c.heads,
            headDim: c.dh,
            batch: c.batch,
            ...(c.bias ? { biasTable: ctx.upload(table, [relPosTableRows(c.window), c.heads]) } : {}),
          },
        ).read();
      });
      const want = attentionRef({
        q: split(0),
        k: split(1),
        v: split(2),
        latent: c.latent,
        window: c.window,
        heads: c.heads,
        headDim: c.dh,
        batch: c.batch,
        ...(c.bias ? { table } : {}),
      });
      expectRelToMax(got, want, tolerance.f32.relToMax, 'o');
    });
  }

  it('identity path copies v', async () => {
    const ctx = await gpu();
    const [tokens, D] = [16, 32];
    const v = new Rng(1).normals(tokens * D);
    const got = await ctx.scope(() => {
      const t = ctx.upload(v, [tokens, D]);
      const view = { tensor: t, stride: D, offset: 0 };
      return attention(ctx, view, view, view, {
        latent: [1, 4, 4],
        window: [1, 4, 4],
        heads: 2,
        headDim: 16,
        identity: true,
      }).read();
    });
    expect(Array.from(got)).toEqual(Array.from(v));
  });

  it('f16 storage meets the ratio rule', async () => {
    const ctx = await gpu();
    const [tokens, D, heads] = [80, 128, 2];
    const rng = new Rng(3);
    const [q, k, v] = [0, 1, 2].map(() => roundToF16(rng.normals(tokens * D)));
    const got = await ctx.scope(() => {
      const view = (x: Float32Array) => ({ tensor: ctx.upload(x, [tokens, D], 'f16'), stride: D, offset: 0 });
      return attention(ctx, view(q!), view(k!), view(v!), {
        latent: [5, 4, 4],
        window: [5, 4, 4],
        heads,
        headDim: 64,
      }).read();
    });
    const ref = attentionRef({ q: q!, k: k!, v: v!, latent: [5, 4, 4], window: [5, 4, 4], heads, headDim: 64 });
    expectRatio(got, ref, roundToF16(Float32Array.from(ref)), tolerance.f16.ratioToRef, 'attention f16');
  });

  it('rejects a window that does not tile the latent', async () => {
    const ctx = await gpu();
    ctx.scope(() => {
      const t = ctx.zeros([5 * 16, 3 * 32]);
      const view = { tensor: t, stride: 96, offset: 0 };
      expect(() =>
        attention(ctx, view, view, view, { latent: [5, 4, 4], window: [5, 3, 4], heads: 2, headDim: 16 }),
      ).toThrow(/does not tile/);
    });
  });
});
