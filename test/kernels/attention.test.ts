// The fused windowed attention against the float64 reference, on both thread mappings: the
// subgroup tile (the adapter's default when it has subgroups) and the portable one. Windows whose
// token count is not a multiple of the tile (1, 30, 80, 96, 105), batch > 1, the relative position
// bias, strided q/k/v views into one qkv tensor, the identity path, f16 storage. Head dims stay few
// (16, 64, 72): each is a pipeline compiled at its first dispatch.
import { describe, expect, it } from 'vitest';
import {
  attention,
  attentionTileFor,
  attentionTileName,
  portableTile,
  defaultAttentionTile,
  relPosTableRows,
  SUPPORTED_HEAD_DIMS,
  tolerance,
  type AttentionTile,
  type Dims3,
} from '../../src/kernels/attention.js';
import type { GpuContext } from '../../src/gpu/context.js';
import { attentionRef } from '../../src/ref/attention.js';
import { roundToF16 } from '../../src/tensor/f16.js';
import { Rng } from '../../src/util/rng.js';
import { expectRatio, expectRelToMax } from '../helpers/compare.js';
import { adapterKinds, distinct } from '../helpers/adapter-kinds.js';
import { gpu } from '../helpers/gpu.js';

type Case = { latent: Dims3; window: Dims3; heads: number; dh: number; batch: number; bias: boolean; scale?: number };
const CASES: Case[] = [
  { latent: [1, 1, 1], window: [1, 1, 1], heads: 1, dh: 16, batch: 1, bias: true },
  { latent: [5, 4, 4], window: [5, 4, 4], heads: 2, dh: 16, batch: 2, bias: true },
  { latent: [5, 6, 6], window: [5, 3, 2], heads: 1, dh: 72, batch: 1, bias: false },
  { latent: [3, 7, 5], window: [3, 7, 5], heads: 2, dh: 64, batch: 1, bias: true },
  { latent: [2, 12, 8], window: [1, 12, 8], heads: 1, dh: 64, batch: 2, bias: true, scale: 0.5 },
];

/** Runs `attention` on a (tokens, 3D + pad) qkv tensor whose q, k, v start at column `pad`. */
async function run(ctx: GpuContext, c: Case, tile: AttentionTile | undefined, pad = 0): Promise<void> {
  const tokens = c.batch * c.latent[0] * c.latent[1] * c.latent[2];
  const D = c.heads * c.dh;
  const stride = 3 * D + pad;
  const rng = new Rng(tokens + D + pad);
  const qkv = rng.normals(tokens * stride);
  const table = rng.normals(relPosTableRows(c.window) * c.heads, 0.5);
  const split = (part: number): Float32Array => {
    const out = new Float32Array(tokens * D);
    for (let r = 0; r < tokens; r++) {
      out.set(qkv.subarray(r * stride + pad + part * D, r * stride + pad + (part + 1) * D), r * D);
    }
    return out;
  };
  const got = await ctx.scope(() => {
    const t = ctx.upload(qkv, [tokens, stride]);
    return attention(
      ctx,
      { tensor: t, stride, offset: pad },
      { tensor: t, stride, offset: pad + D },
      { tensor: t, stride, offset: pad + 2 * D },
      {
        latent: c.latent,
        window: c.window,
        heads: c.heads,
        headDim: c.dh,
        batch: c.batch,
        ...(c.scale !== undefined ? { scale: c.scale } : {}),
        ...(c.bias ? { biasTable: ctx.upload(table, [relPosTableRows(c.window), c.heads]) } : {}),
        ...(tile ? { tile } : {}),
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
    ...(c.scale !== undefined ? { scale: c.scale } : {}),
    ...(c.bias ? { table } : {}),
  });
  expectRelToMax(got, want, tolerance.f32.relToMax, 'o');
}

const OTHER_DIMS = [32, 80, 96, 104, 112, 128];

const name = (c: Case): string =>
  `latent ${c.latent.join('x')} window ${c.window.join('x')} heads ${c.heads} dh ${c.dh} batch ${c.batch}${c.bias ? ' bias' : ''}`;

describe('windowed attention (fused)', () => {
  describe('default tile (subgroup where the adapter has subgroups)', () => {
    for (const c of CASES) {
      it(name(c), async () => {
        const ctx = await gpu();
        await run(ctx, c, undefined);
      });
    }

    it('uses the subgroup tile on an adapter with subgroups', async () => {
      const ctx = await gpu();
      const t = attentionTileFor('f32', 64, ctx.caps);
      expect(t.kind).toBe(ctx.caps.subgroups ? 'subgroup' : 'portable');
      expect(attentionTileName(t)).toMatch(/^(sg|p)\d+/);
    });

    it('falls back to the portable tile for views that are not vec4-aligned', async () => {
      const ctx = await gpu();
      await run(ctx, CASES[1]!, undefined, 1);
    });

    it('f16 storage meets the ratio rule', async () => {
      const ctx = await gpu();
      const [tokens, D, heads] = [80, 128, 2];
      const rng = new Rng(3);
      const [q, k, v] = [0, 1, 2].map(() => roundToF16(rng.normals(tokens * D)));
      const opts = { latent: [5, 4, 4] as Dims3, window: [5, 4, 4] as Dims3, heads, headDim: 64 };
      const got = await ctx.scope(() => {
        const view = (x: Float32Array) => ({ tensor: ctx.upload(x, [tokens, D], 'f16'), stride: D, offset: 0 });
        return attention(ctx, view(q!), view(k!), view(v!), opts).read();
      });
      const ref = attentionRef({ q: q!, k: k!, v: v!, ...opts });
      expectRatio(got, ref, roundToF16(Float32Array.from(ref)), tolerance.f16.ratioToRef, 'attention f16');
    });
  });

  // The spec's other head dims (80–128; 64 and 72 above), each its own pipeline: one small
  // case each, window not a multiple of the tile, with the bias.
  describe('every supported head dim (default tile)', () => {
    it('covers SUPPORTED_HEAD_DIMS', () => {
      const run = new Set([...CASES.map((c) => c.dh), ...OTHER_DIMS]);
      expect(SUPPORTED_HEAD_DIMS.filter((d) => !run.has(d))).toEqual([]);
    });
    for (const dh of OTHER_DIMS) {
      it(`dh ${dh}`, async () => {
        const ctx = await gpu();
        await run(ctx, { latent: [5, 4, 4], window: [5, 2, 2], heads: 1, dh, batch: 1, bias: true }, undefined);
      });
    }
  });

  describe('portable tile', () => {
    for (const c of CASES.filter((x) => x.dh !== 72)) {
      it(name(c), async () => {
        const ctx = await gpu();
        await run(ctx, c, portableTile(ctx.caps));
      });
    }
  });

  for (const tile of [undefined, { kind: 'portable', WG: 32, KB: 8, opaque: true } as const]) {
    it(`identity path copies v (${tile ? 'portable' : 'default'} tile)`, async () => {
      const ctx = await gpu();
      const [tokens, D] = [80, 32];
      const v = new Rng(1).normals(tokens * D);
      const got = await ctx.scope(() => {
        const t = ctx.upload(v, [tokens, D]);
        const view = { tensor: t, stride: D, offset: 0 };
        return attention(ctx, view, view, view, {
          latent: [5, 4, 4],
          window: [5, 4, 4],
          heads: 2,
          headDim: 16,
          identity: true,
          ...(tile ? { tile } : {}),
        }).read();
      });
      expect(Array.from(got)).toEqual(Array.from(v));
    });
  }

  it('rejects a window that does not tile the latent, and bad tiles', async () => {
    const ctx = await gpu();
    ctx.scope(() => {
      const t = ctx.zeros([5 * 16, 3 * 32]);
      const view = { tensor: t, stride: 96, offset: 0 };
      const opts = { latent: [5, 4, 4] as Dims3, heads: 2, headDim: 16 };
      expect(() => attention(ctx, view, view, view, { ...opts, window: [5, 3, 4] })).toThrow(/does not tile/);
      expect(() =>
        attention(ctx, view, view, view, {
          ...opts,
          window: [5, 4, 4],
          tile: { kind: 'subgroup', WG: 8, QL: 0, opaque: true },
        }),
      ).toThrow(/bad tile/);
      expect(() => attention(ctx, view, view, view, { ...opts, window: [5, 4, 4], headDim: 20 })).toThrow(
        /not supported/,
      );
      expect(() => attention(ctx, view, view, view, { ...opts, window: [5, 4, 4], out: ctx.zeros([80, 16]) })).toThrow(
        /out .* must be \[80, 32\] f32/,
      );
    });
  });

  // The tiles the CLI dispatches on each adapter kind (GPUs: several subgroups per workgroup and
  // constant loop bounds), on windows that are not a multiple of the tile, with the bias.
  describe('every shipped tile', async () => {
    const ctx = await gpu();
    const tiles = distinct(
      adapterKinds(ctx).flatMap((k) => [
        { what: `${k.name} default`, value: defaultAttentionTile(k.caps, 64) },
        { what: `${k.name}, 80-token windows`, value: attentionTileFor('f32', 64, k.caps, 80) },
        { what: `${k.name} portable`, value: portableTile(k.caps) },
      ]),
      attentionTileName,
    );
    for (const { what, value: tile } of tiles) {
      it(`${attentionTileName(tile)} (${what})`, async () => {
        await run(ctx, { latent: [5, 4, 4], window: [5, 4, 4], heads: 2, dh: 64, batch: 2, bias: true }, tile);
        await run(ctx, { latent: [3, 7, 5], window: [3, 7, 1], heads: 1, dh: 64, batch: 1, bias: false }, tile);
      });
    }
  });
});
