// adaln (AdaLN-LoRA for all layers at once) and patchify/unpatchify against their CPU
// references, odd sizes, f32 and f16 storage.
import { describe, expect, it } from 'vitest';
import { adalnLora, tolerance as adalnTol } from '../../src/kernels/adaln.js';
import { patchify, unpatchify } from '../../src/kernels/patchify.js';
import { adalnLoraRef } from '../../src/ref/adaln.js';
import { patchifyRef, unpatchifyRef } from '../../src/ref/patchify.js';
import { roundToF16 } from '../../src/tensor/f16.js';
import { Rng } from '../../src/util/rng.js';
import { expectClose, expectRatio } from '../helpers/compare.js';
import { gpu } from '../helpers/gpu.js';

describe('adaln (AdaLN-LoRA modulation of every layer)', () => {
  for (const [S, L, W6, r] of [
    [1, 1, 6, 1],
    [3, 4, 42, 2],
    [2, 7, 6 * 97, 3],
  ] as const) {
    it(`S ${S} L ${L} 6D ${W6} r ${r}: f32 and f16`, async () => {
      const ctx = await gpu();
      const rng = new Rng(S + L + W6);
      const base = rng.normals(S * W6);
      const d = rng.normals(S * L * r);
      const up = rng.normals(L * W6 * r);
      const ref = adalnLoraRef(base, d, up, S, L, W6, r);
      const got = await ctx.scope(() =>
        adalnLora(ctx, ctx.upload(base, [S, W6]), ctx.upload(d, [S, L * r]), ctx.upload(up, [L, W6, r])).read(),
      );
      expectClose(got, ref, adalnTol.f32, 'adaln f32', [S, L * W6]);
      if (ctx.caps.f16) {
        const [b16, d16, u16] = [base, d, up].map(roundToF16) as [Float32Array, Float32Array, Float32Array];
        const ref16 = adalnLoraRef(b16, d16, u16, S, L, W6, r);
        const g16 = await ctx.scope(() =>
          adalnLora(
            ctx,
            ctx.upload(b16, [S, W6], 'f16'),
            ctx.upload(d16, [S, L * r], 'f16'),
            ctx.upload(u16, [L, W6, r], 'f16'),
          ).read(),
        );
        expectRatio(g16, ref16, roundToF16(Float32Array.from(ref16)), adalnTol.f16.ratioToRef, 'adaln f16');
      }
    });
  }

  it('rejects mismatched shapes with the tensor named', async () => {
    const ctx = await gpu();
    ctx.scope(() => {
      expect(() => adalnLora(ctx, ctx.zeros([2, 12]), ctx.zeros([2, 3]), ctx.zeros([2, 12, 2]))).toThrow(/adaln d/);
    });
  });
});

describe('patchify / unpatchify', () => {
  for (const [B, T, H, W, Cz, Cin, p] of [
    [1, 1, 1, 1, 1, 1, 1],
    [1, 5, 3, 7, 8, 16, 1],
    [2, 3, 4, 6, 8, 16, 2],
    [1, 1, 2, 2, 3, 5, 2],
  ] as const) {
    it(`${B}x${T}x${H}x${W}x${Cz} → p ${p}, C_in ${Cin}; and back`, async () => {
      const ctx = await gpu();
      const z = new Rng(H * W + Cz).normals(B * T * H * W * Cz);
      const ref = patchifyRef(z, B * T, H, W, Cz, Cin, p);
      const [tok, back] = await ctx.scope(() => {
        const tz = ctx.upload(z, [B, T, H, W, Cz]);
        const t = patchify(ctx, tz, p, Cin);
        const narrow = ctx.upload(Float32Array.from(patchifyRef(z, B * T, H, W, Cz, Cz, p)), [t.shape[0]!, p * p * Cz]);
        return Promise.all([t.read(), unpatchify(ctx, narrow, [B, T, H, W], p, Cz).read()]);
      });
      expect(Array.from(tok)).toEqual(Array.from(ref));
      expect(Array.from(back)).toEqual(
        Array.from(unpatchifyRef(patchifyRef(z, B * T, H, W, Cz, Cz, p), B * T, H, W, Cz, p)),
      );
      expect(Array.from(back)).toEqual(Array.from(z));
    });
  }
});
