import { describe, expect, it } from 'vitest';
import type { GpuContext } from '../../src/gpu/context.js';
import {
  adamwFamily,
  adamwHyperValues,
  adamwStep,
  createAdamwHyper,
  gradNormSquared,
  tolerance,
  writeAdamwHyper,
  type AdamwHyper,
} from '../../src/kernels/adamw.js';
import { adamwStep as adamwRef, type AdamWOptions } from '../../src/ref/adamw.js';
import type { Tensor } from '../../src/tensor/tensor.js';
import { Rng } from '../../src/util/rng.js';
import type { DeviceCaps } from '../../src/wgsl/family.js';
import { adapterKinds, distinct } from '../helpers/adapter-kinds.js';
import { expectClose } from '../helpers/compare.js';
import { gpu } from '../helpers/gpu.js';

const SIZES = [1, 3, 7, 97, 1000, 4097];

function expectState(got: Float32Array, want: Float64Array, what: string): void {
  let max = 0;
  for (const w of want) {
    max = Math.max(max, Math.abs(w));
  }
  expectClose(got, want, { atol: tolerance.f32.atol * max, rtol: tolerance.f32.rtol }, what);
}

interface State {
  p: Float32Array;
  g: Float32Array;
  m: Float32Array;
  v: Float32Array;
}

function state(n: number, seed: number, gradStd = 1): State {
  const rng = new Rng(n, seed);
  return {
    p: rng.normals(n),
    g: rng.normals(n, gradStd),
    m: rng.normals(n, 0.1 * gradStd),
    v: Float32Array.from(rng.normals(n, gradStd), (x) => x * x),
  };
}

/** Uploads, runs `steps` updates (rewriting hyper before each), reads p, m, v back. */
async function runGpu(
  ctx: GpuContext,
  s: State,
  hypers: AdamwHyper[],
  chunk?: number,
): Promise<{ p: Float32Array; m: Float32Array; v: Float32Array }> {
  return ctx.scope(async () => {
    const n = s.p.length;
    const param = ctx.upload(s.p, [n]);
    const grad = ctx.upload(s.g, [n]);
    const m = ctx.upload(s.m, [n]);
    const v = ctx.upload(s.v, [n]);
    const hyper = createAdamwHyper(ctx);
    for (const h of hypers) {
      writeAdamwHyper(ctx, hyper, h);
      adamwStep(ctx, { param, grad, m, v }, hyper, chunk ? { chunk } : {});
    }
    const [p2, m2, v2] = await Promise.all([param.read(), m.read(), v.read()]);
    hyper.dispose();
    return { p: p2, m: m2, v: v2 };
  });
}

function optsOf(h: AdamwHyper): AdamWOptions {
  return {
    ...(h.b1 !== undefined ? { b1: h.b1 } : {}),
    ...(h.b2 !== undefined ? { b2: h.b2 } : {}),
    ...(h.eps !== undefined ? { eps: h.eps } : {}),
    ...(h.epsRoot !== undefined ? { epsRoot: h.epsRoot } : {}),
    ...(h.weightDecay !== undefined ? { weightDecay: h.weightDecay } : {}),
  };
}

function bits(a: Float32Array): Buffer {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength);
}

/** The context as each adapter kind would run it (its caps pick the launch overrides). */
function kindContexts(ctx: GpuContext, key: (caps: DeviceCaps) => string): { what: string; ctx: GpuContext }[] {
  const kinds = distinct(
    adapterKinds(ctx).map((k) => ({ what: k.name, value: k.caps })),
    key,
  ).map(({ what, value }) => ({ what, ctx: Object.create(ctx, { caps: { value } }) as GpuContext }));
  expect(kinds.length, 'distinct launch configurations').toBeGreaterThan(1);
  return kinds;
}

describe('adamw (OC22)', () => {
  for (const n of SIZES) {
    it(`n=${n}: steps 0, 1, 7, 999 and the optax defaults against the f64 reference`, async () => {
      const ctx = await gpu();
      for (const [step, h] of [
        [0, { lr: 1e-2, step: 0, weightDecay: 0.5 }],
        [1, { lr: 3e-4, step: 1 }],
        [7, { lr: 1e-3, step: 7, b1: 0.8, b2: 0.99, eps: 1e-6, weightDecay: 0 }],
        [999, { lr: 2.5e-4, step: 999, epsRoot: 1e-10 }],
      ] as [number, AdamwHyper][]) {
        const s = state(n, step, step === 999 ? 1e-4 : 1);
        const got = await runGpu(ctx, s, [h]);
        const want = adamwRef(s.p, s.g, s.m, s.v, step, h.lr, optsOf(h));
        expectState(got.p, want.param, `param step ${step}`);
        expectState(got.m, want.m, `m step ${step}`);
        expectState(got.v, want.v, `v step ${step}`);
      }
    });
  }

  it('two steps from zero moments with the hyper tensor rewritten in between (lr 1e-2, wd 0.5)', async () => {
    const ctx = await gpu();
    const n = 1000;
    const s = state(n, 3);
    s.m.fill(0);
    s.v.fill(0);
    const hs: AdamwHyper[] = [
      { lr: 1e-2, step: 0, weightDecay: 0.5 },
      { lr: 1e-2 * 0.9, step: 1, weightDecay: 0.5 },
    ];
    const got = await runGpu(ctx, s, hs);
    const one = adamwRef(s.p, s.g, s.m, s.v, 0, hs[0]!.lr, { weightDecay: 0.5 });
    const two = adamwRef(one.param, s.g, one.m, one.v, 1, hs[1]!.lr, { weightDecay: 0.5 });
    expectState(got.p, two.param, 'param after 2 steps');
    expectState(got.m, two.m, 'm after 2 steps');
    expectState(got.v, two.v, 'v after 2 steps');
  });

  it('is bit-identical across runs and across chunkings (one dispatch per chunk)', async () => {
    const ctx = await gpu();
    const n = 4097;
    const s = state(n, 9);
    const h = [{ lr: 1e-3, step: 4 }];
    const a = await runGpu(ctx, s, h);
    const b = await runGpu(ctx, s, h);
    const unit = ctx.caps.limits.minStorageBufferOffsetAlignment / 2;
    const c = await runGpu(ctx, s, h, unit * 5);
    for (const k of ['p', 'm', 'v'] as const) {
      expect(bits(b[k]).equals(bits(a[k])), `${k} rerun`).toBe(true);
      expect(bits(c[k]).equals(bits(a[k])), `${k} chunked`).toBe(true);
    }
  });

  it("every adapter kind's launch overrides (WG, PER) give the same bits (step) and a close norm", async () => {
    const ctx = await gpu();
    const n = 4097;
    const s = state(n, 10);
    const h = [{ lr: 1e-3, step: 3 }];
    const base = await runGpu(ctx, s, h);
    const g = new Rng(3).normals(70001);
    const norm = async (c: GpuContext): Promise<number> =>
      (await c.scope(() => gradNormSquared(c, c.upload(g, [g.length])).read()))[0]!;
    const normBase = await norm(ctx);
    for (const k of kindContexts(ctx, (caps) => JSON.stringify(adamwFamily.overrides({ entry: 'adamw_step' }, caps)))) {
      const got = await runGpu(k.ctx, s, h);
      for (const key of ['p', 'm', 'v'] as const) {
        expect(bits(got[key]).equals(bits(base[key])), `${key} on ${k.what}`).toBe(true);
      }
      expect(Math.abs((await norm(k.ctx)) - normBase), `norm on ${k.what}`).toBeLessThanOrEqual(
        tolerance.normRtol * normBase,
      );
    }
  });

  it('updates views into arenas and leaves the rest of the arena untouched', async () => {
    const ctx = await gpu();
    const unit = ctx.caps.limits.minStorageBufferOffsetAlignment / 4;
    const total = 4 * unit;
    const [off, len] = [unit, 2 * unit + 3];
    const s = state(total, 12);
    const got = await ctx.scope(async () => {
      const arenas = [s.p, s.g, s.m, s.v].map((a) => ctx.upload(a, [total]));
      const [param, grad, m, v] = arenas.map((t) => t.view(off, [len])) as [Tensor, Tensor, Tensor, Tensor];
      const hyper = createAdamwHyper(ctx);
      writeAdamwHyper(ctx, hyper, { lr: 1e-2, step: 2 });
      adamwStep(ctx, { param, grad, m, v }, hyper);
      const out = await Promise.all([arenas[0]!.read(), arenas[2]!.read(), arenas[3]!.read()]);
      hyper.dispose();
      return out;
    });
    const sl = (a: Float32Array): Float32Array => a.subarray(off, off + len);
    const want = adamwRef(sl(s.p), sl(s.g), sl(s.m), sl(s.v), 2, 1e-2);
    expectState(got[0].subarray(off, off + len), want.param, 'param view');
    expectState(got[1].subarray(off, off + len), want.m, 'm view');
    expectState(got[2].subarray(off, off + len), want.v, 'v view');
    for (const [i, a] of [s.p, s.m, s.v].entries()) {
      const g = got[i]!;
      expect(bits(g.subarray(0, off)).equals(bits(a.subarray(0, off))), `arena ${i} before the view`).toBe(true);
      expect(bits(g.subarray(off + len)).equals(bits(a.subarray(off + len))), `arena ${i} after the view`).toBe(true);
    }
  });

  it('hyper values: t = step + 1 bias corrections in float64, stored as f32', () => {
    const h = adamwHyperValues({ lr: 3e-4, step: 0 });
    expect(Array.from(h.subarray(0, 11))).toEqual(
      Array.from(
        Float32Array.from([3e-4, 0.9, 0.999, 1e-8, 1e-4, 1 / (1 - 0.9), 1 / (1 - 0.999), 1 - 0.9, 1 - 0.999, 0, 1]),
      ),
    );
    expect(() => adamwHyperValues({ lr: 1, step: -1 })).toThrow(/integer ≥ 0/);
  });

  it('gradNormSquared: odd sizes, chunked, bit-identical reruns', async () => {
    const ctx = await gpu();
    const unit = ctx.caps.limits.minStorageBufferOffsetAlignment / 2;
    for (const n of [...SIZES, 70001]) {
      const g = new Rng(n, 4).normals(n, 0.01);
      const want = g.reduce((acc, x) => acc + x * x, 0);
      const [a, b, c] = await ctx.scope(async () => {
        const t = ctx.upload(g, [n]);
        return Promise.all([
          gradNormSquared(ctx, t).read(),
          gradNormSquared(ctx, t).read(),
          gradNormSquared(ctx, t, { chunk: 3 * unit }).read(),
        ]);
      });
      expect(Math.abs(a[0]! - want), `n=${n}`).toBeLessThanOrEqual(tolerance.normRtol * want);
      expect(Math.abs(c[0]! - want), `n=${n} chunked`).toBeLessThanOrEqual(tolerance.normRtol * want);
      expect(bits(b).equals(bits(a)), `n=${n} rerun`).toBe(true);
    }
  });

  it('rejects mismatched state and a bad hyper tensor', async () => {
    const ctx = await gpu();
    ctx.scope(() => {
      const t = (n: number): Tensor => ctx.zeros([n]);
      const hyper = t(16);
      expect(() => adamwStep(ctx, { param: t(5), grad: t(5), m: t(4), v: t(5) }, hyper)).toThrow(
        /m .* must be f32 with 5 elements/,
      );
      expect(() => adamwStep(ctx, { param: t(5), grad: t(5), m: t(5), v: t(5) }, t(8))).toThrow(/createAdamwHyper/);
    });
  });
});
