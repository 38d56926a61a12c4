import { describe, expect, it } from 'vitest';
import type { GpuContext } from '../../src/gpu/context.js';
import {
  addBroadcast,
  addRowVector,
  addTemporalPosenc,
  broadcastAddFamily,
  tolerance,
} from '../../src/kernels/broadcast-add.js';
import { addTemporalPosencForward } from '../../src/ref/embedding.js';
import { roundToF16 } from '../../src/tensor/f16.js';
import { Rng } from '../../src/util/rng.js';
import type { DeviceCaps } from '../../src/wgsl/family.js';
import { adapterKinds, distinct } from '../helpers/adapter-kinds.js';
import { expectClose, expectRatio } from '../helpers/compare.js';
import { gpu } from '../helpers/gpu.js';

// [B, T, N, C]: ones, primes, non-multiples of 4, a 4097-element tensor.
const SHAPES: [number, number, number, number][] = [
  [1, 1, 1, 1],
  [1, 3, 1, 7],
  [2, 7, 3, 5],
  [3, 1, 97, 3],
  [1, 17, 7, 1000],
  [17, 1, 241, 1],
];

/** The context as each adapter kind would run it (its caps pick the launch overrides). */
function kindContexts(ctx: GpuContext, key: (caps: DeviceCaps) => string): { what: string; ctx: GpuContext }[] {
  const kinds = distinct(
    adapterKinds(ctx).map((k) => ({ what: k.name, value: k.caps })),
    key,
  ).map(({ what, value }) => ({ what, ctx: Object.create(ctx, { caps: { value } }) as GpuContext }));
  expect(kinds.length, 'distinct launch configurations').toBeGreaterThan(1);
  return kinds;
}

describe('broadcast-add', () => {
  for (const dtype of ['f32', 'f16'] as const) {
    for (const [B, T, N, C] of SHAPES) {
      it(`temporal posenc [${B}, ${T}, ${N}, ${C}] ${dtype}`, async () => {
        const ctx = await gpu();
        const rng = new Rng(B * T * N * C, 1);
        const q = (a: Float32Array): Float32Array => (dtype === 'f16' ? roundToF16(a) : a);
        const x = q(rng.normals(B * T * N * C));
        const pe = q(rng.normals(T * C));
        const got = await ctx.scope(() =>
          addTemporalPosenc(ctx, ctx.upload(x, [B, T, N, C], dtype), ctx.upload(pe, [T, C], dtype)).read(),
        );
        const want = addTemporalPosencForward(x, pe, B, T, N, C).y;
        if (dtype === 'f32') {
          expectClose(got, want, tolerance.f32, 'y', [B, T, N, C]);
        } else {
          expectRatio(got, want, roundToF16(want), tolerance.f16.ratioToRef, 'y');
        }
      });
    }
  }

  it('one clip [T, N, C], a caller-supplied out, and chunked dispatches give the same bits', async () => {
    const ctx = await gpu();
    const [T, N, C] = [5, 37, 29];
    const rng = new Rng(4);
    const x = rng.normals(T * N * C);
    const pe = rng.normals(T * C);
    const unit = ctx.caps.limits.minStorageBufferOffsetAlignment / 2;
    const [a, b, c] = await ctx.scope(async () => {
      const tx = ctx.upload(x, [T, N, C]);
      const tp = ctx.upload(pe, [T, C]);
      const out = ctx.empty([T, N, C]);
      const r1 = addTemporalPosenc(ctx, tx, tp, { out });
      expect(r1).toBe(out);
      const r2 = addTemporalPosenc(ctx, tx, tp, { chunk: unit });
      const r3 = addTemporalPosenc(ctx, tx, tp, { chunk: 7 * unit });
      return Promise.all([r1.read(), r2.read(), r3.read()]);
    });
    expectClose(a, addTemporalPosencForward(x, pe, 1, T, N, C).y, tolerance.f32, 'y');
    expect(Buffer.from(b.buffer).equals(Buffer.from(a.buffer))).toBe(true);
    expect(Buffer.from(c.buffer).equals(Buffer.from(a.buffer))).toBe(true);
  });

  it("every adapter kind's launch overrides (WG, PER) give the same bits", async () => {
    const ctx = await gpu();
    const [B, T, N, C] = [3, 5, 17, 29];
    const rng = new Rng(5);
    const x = rng.normals(B * T * N * C);
    const pe = rng.normals(T * C);
    const run = (c: GpuContext): Promise<Float32Array> =>
      c.scope(() => addTemporalPosenc(c, c.upload(x, [B, T, N, C]), c.upload(pe, [T, C])).read());
    const base = await run(ctx);
    for (const k of kindContexts(ctx, (caps) => JSON.stringify(broadcastAddFamily.overrides({ dtype: 'f32' }, caps)))) {
      expect(Buffer.from((await run(k.ctx)).buffer).equals(Buffer.from(base.buffer)), k.what).toBe(true);
    }
  });

  it('row vectors and per-sample rows', async () => {
    const ctx = await gpu();
    const [B, R, C] = [3, 7, 97];
    const rng = new Rng(8);
    const x = rng.normals(B * R * C);
    const v = rng.normals(C);
    const w = rng.normals(B * C);
    const [a, b] = await ctx.scope(async () => {
      const tx = ctx.upload(x, [B, R, C]);
      return Promise.all([
        addRowVector(ctx, tx, ctx.upload(v, [C])).read(),
        addBroadcast(ctx, tx, ctx.upload(w, [B, C]), { inner: C, div: R * C, period: B }).read(),
      ]);
    });
    expectClose(
      a,
      Float64Array.from(x, (xi, i) => xi + v[i % C]!),
      tolerance.f32,
      'row vector',
    );
    expectClose(
      b,
      Float64Array.from(x, (xi, i) => xi + w[Math.floor(i / (R * C)) * C + (i % C)]!),
      tolerance.f32,
      'per-sample rows',
    );
  });

  it('rejects mismatched shapes with the expected shape', async () => {
    const ctx = await gpu();
    ctx.scope(() => {
      const x = ctx.zeros([2, 3, 4, 5]);
      expect(() => addTemporalPosenc(ctx, x, ctx.zeros([3, 4]))).toThrow(/pe \[3,4\] must be \[T, C\] = \[3, 5\]/);
      expect(() => addTemporalPosenc(ctx, ctx.zeros([3, 4]), ctx.zeros([3, 4]))).toThrow(/\[B, T, N, C\]/);
      expect(() => addRowVector(ctx, x, ctx.zeros([4]))).toThrow(/must be \[C\] = \[5\]/);
      expect(() => addTemporalPosenc(ctx, x, ctx.zeros([3, 5], 'f16'))).toThrow(/mixed dtypes/);
      expect(() => addTemporalPosenc(ctx, x, ctx.zeros([3, 5]), { out: x })).toThrow(/aliasing/);
    });
  });
});
