import { describe, expect, it } from 'vitest';
import { conv3d, convWeightToKernelLayout, tolerance, type Stride3 } from '../../src/kernels/conv3d.js';
import type { MatmulTile } from '../../src/kernels/matmul.js';
import { conv3dRef } from '../../src/ref/conv3d.js';
import { roundToF16 } from '../../src/tensor/f16.js';
import { Rng } from '../../src/util/rng.js';
import { expectClose, expectRatio } from '../helpers/compare.js';
import { gpu } from '../helpers/gpu.js';

type Case = { T: number; H: number; W: number; Ci: number; Co: number; k: [number, number, number]; stride: Stride3 };
const CASES: Case[] = [
  { T: 1, H: 1, W: 1, Ci: 4, Co: 4, k: [3, 3, 3], stride: [1, 1, 1] },
  { T: 5, H: 7, W: 6, Ci: 8, Co: 12, k: [3, 3, 3], stride: [1, 1, 1] },
  { T: 5, H: 8, W: 8, Ci: 4, Co: 8, k: [3, 3, 3], stride: [1, 2, 2] },
  { T: 9, H: 6, W: 10, Ci: 8, Co: 4, k: [3, 3, 3], stride: [2, 2, 2] },
  { T: 17, H: 4, W: 4, Ci: 4, Co: 8, k: [3, 3, 3], stride: [2, 2, 2] },
  { T: 3, H: 5, W: 5, Ci: 3, Co: 7, k: [3, 3, 3], stride: [1, 1, 1] },
  { T: 4, H: 3, W: 7, Ci: 12, Co: 8, k: [1, 1, 1], stride: [1, 1, 1] },
  { T: 2, H: 9, W: 5, Ci: 5, Co: 3, k: [3, 3, 3], stride: [1, 2, 2] },
];

// Both thread mappings, with small tiles so that tiles and their tails are exercised.
// (llvmpipe's rolled loops and GPUs' constant bounds; one and two subgroups per workgroup).
const TILES: MatmulTile[] = [
  { kind: 'subgroup', TM: 4, CV: 1, WG: 8, opaque: true },
  { kind: 'subgroup', TM: 3, CV: 2, WG: 16, opaque: false },
  { kind: 'portable', TM: 4, TN: 2, WG: 8 },
];

describe('conv3d (causal, channels-last)', () => {
  for (const c of CASES) {
    for (const tile of TILES) {
      it(`${c.T}x${c.H}x${c.W}x${c.Ci} -> ${c.Co}, k ${c.k.join('x')}, stride ${c.stride.join(',')}, ${tile.kind} TM${tile.TM}`, async () => {
        const ctx = await gpu();
        const rng = new Rng(c.T * 31 + c.H * 7 + c.Ci);
        const x = rng.normals(c.T * c.H * c.W * c.Ci);
        const wShape = [c.Co, c.Ci, ...c.k] as [number, number, number, number, number];
        const w = rng.normals(
          wShape.reduce((p, q) => p * q),
          0.2,
        );
        const bias = rng.normals(c.Co);
        const ref = conv3dRef(x, [c.T, c.H, c.W, c.Ci], w, wShape, c.stride, bias);
        const res = rng.normals(ref.out.length);
        const [plain, withRes] = await ctx.scope(() => {
          const tx = ctx.upload(x, [c.T, c.H, c.W, c.Ci]);
          const tw = ctx.upload(convWeightToKernelLayout(w, wShape), [...c.k, c.Ci, c.Co]);
          const tb = ctx.upload(bias, [c.Co]);
          return Promise.all([
            conv3d(ctx, tx, tw, { stride: c.stride, bias: tb, tile }).read(),
            conv3d(ctx, tx, tw, { stride: c.stride, residual: ctx.upload(res, ref.shape), tile }).read(),
          ]);
        });
        expectClose(plain, ref.out, tolerance.f32, 'conv', ref.shape);
        const refRes = conv3dRef(x, [c.T, c.H, c.W, c.Ci], w, wShape, c.stride, undefined, res);
        expectClose(withRes, refRes.out, tolerance.f32, 'conv+res', ref.shape);
      });
    }
  }

  it('latent frame 0 depends only on input frame 0 (causality)', async () => {
    const ctx = await gpu();
    const rng = new Rng(11);
    const [T, H, W, C] = [9, 4, 4, 4];
    const x = rng.normals(T * H * W * C);
    const x2 = x.slice();
    for (let i = H * W * C; i < x2.length; i++) {
      x2[i] = x2[i]! + 1;
    }
    const w = rng.normals(C * C * 27);
    const [a, b] = await ctx.scope(() => {
      const tw = ctx.upload(convWeightToKernelLayout(w, [C, C, 3, 3, 3]), [3, 3, 3, C, C]);
      return Promise.all([
        conv3d(ctx, ctx.upload(x, [T, H, W, C]), tw, { stride: [2, 2, 2] }).read(),
        conv3d(ctx, ctx.upload(x2, [T, H, W, C]), tw, { stride: [2, 2, 2] }).read(),
      ]);
    });
    const frame0 = (H / 2) * (W / 2) * C;
    expect(Array.from(a.subarray(0, frame0))).toEqual(Array.from(b.subarray(0, frame0)));
    expect(Array.from(a.subarray(frame0))).not.toEqual(Array.from(b.subarray(frame0)));
  });

  it('f16 storage meets the ratio rule', async () => {
    const ctx = await gpu();
    const rng = new Rng(4);
    const [T, H, W, Ci, Co] = [3, 5, 5, 8, 8];
    const x = roundToF16(rng.normals(T * H * W * Ci));
    const w = roundToF16(rng.normals(Co * Ci * 27, 0.2));
    const got = await ctx.scope(() =>
      conv3d(
        ctx,
        ctx.upload(x, [T, H, W, Ci], 'f16'),
        ctx.upload(convWeightToKernelLayout(w, [Co, Ci, 3, 3, 3]), [3, 3, 3, Ci, Co], 'f16'),
      ).read(),
    );
    const ref = conv3dRef(x, [T, H, W, Ci], w, [Co, Ci, 3, 3, 3]).out;
    expectRatio(got, ref, roundToF16(Float32Array.from(ref)), tolerance.f16.ratioToRef, 'conv f16');
  });
});
