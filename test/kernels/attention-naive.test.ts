import { describe, expect, it } from 'vitest';
import { attention, relPosTableRows, type Dims3 } from '../../src/kernels/attention.js';
import { attentionNaive, naiveChunk, tolerance } from '../../src/kernels/attention-naive.js';
import { attentionRef } from '../../src/ref/attention.js';
import { roundToF16 } from '../../src/tensor/f16.js';
import { Rng } from '../../src/util/rng.js';
import { expectRatio, expectRelToMax } from '../helpers/compare.js';
import { gpu } from '../helpers/gpu.js';

type Case = { latent: Dims3; window: Dims3; heads: number; dh: number; batch: number; bias: boolean };
const CASES: Case[] = [
  { latent: [5, 4, 4], window: [5, 2, 2], heads: 3, dh: 16, batch: 2, bias: true },
  { latent: [3, 7, 5], window: [3, 7, 5], heads: 2, dh: 16, batch: 1, bias: false },
  { latent: [1, 6, 6], window: [1, 3, 2], heads: 1, dh: 16, batch: 1, bias: true },
];

describe('windowed attention (unfused baseline)', () => {
  for (const c of CASES) {
    it(`latent ${c.latent.join('x')} window ${c.window.join('x')} heads ${c.heads} batch ${c.batch}${c.bias ? ' bias' : ''}`, async () => {
      const ctx = await gpu();
      const tokens = c.batch * c.latent[0] * c.latent[1] * c.latent[2];
      const D = c.heads * c.dh;
      const rng = new Rng(tokens + D + 7);
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
        return attentionNaive(
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

  it('matches the fused kernel with a scale, and copies v on the identity path', async () => {
    const ctx = await gpu();
    const [tokens, D] = [80, 32];
    const rng = new Rng(5);
    const [q, k, v] = [0, 1, 2].map(() => rng.normals(tokens * D));
    const opts = { latent: [5, 4, 4] as Dims3, window: [1, 4, 4] as Dims3, heads: 2, headDim: 16, scale: 0.3 };
    const [naive, fused, ident] = await ctx.scope(async () => {
      const view = (x: Float32Array) => ({ tensor: ctx.upload(x, [tokens, D]), stride: D, offset: 0 });
      const [vq, vk, vv] = [view(q!), view(k!), view(v!)];
      return Promise.all([
        attentionNaive(ctx, vq, vk, vv, opts).read(),
        attention(ctx, vq, vk, vv, opts).read(),
        attentionNaive(ctx, vq, vk, vv, { ...opts, identity: true }).read(),
      ]);
    });
    expectRelToMax(naive, fused, 1e-5, 'naive vs fused');
    expect(Array.from(ident)).toEqual(Array.from(v!));
  });

  it('f16 storage meets the ratio rule', async () => {
    const ctx = await gpu();
    const [tokens, D, heads] = [80, 32, 2];
    const rng = new Rng(3);
    const [q, k, v] = [0, 1, 2].map(() => roundToF16(rng.normals(tokens * D)));
    const opts = { latent: [5, 4, 4] as Dims3, window: [5, 2, 2] as Dims3, heads, headDim: 16 };
    const got = await ctx.scope(() => {
      const view = (x: Float32Array) => ({ tensor: ctx.upload(x, [tokens, D], 'f16'), stride: D, offset: 0 });
      return attentionNaive(ctx, view(q!), view(k!), view(v!), opts).read();
    });
    const ref = attentionRef({ q: q!, k: k!, v: v!, ...opts });
    expectRatio(got, ref, roundToF16(Float32Array.from(ref)), tolerance.f16.ratioToRef, 'attention-naive f16');
  });

  it('chunks the (window, head) pairs under the binding limit', async () => {
    const ctx = await gpu();
    const limit = Math.min(ctx.caps.limits.maxStorageBufferBindingSize, ctx.caps.limits.maxBufferSize);
    const c = naiveChunk(ctx, 10_000, 1280, 64, 'f32');
    expect(c * 1280 * 1280 * 4).toBeLessThanOrEqual(limit);
    expect((c + 1) * 1280 * 1280 * 4).toBeGreaterThan(limit);
  });
});
