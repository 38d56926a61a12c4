import { describe, expect, it } from 'vitest';
import type { GpuContext } from '../../src/gpu/context.js';
import {
  crossAttentionBackward,
  crossAttentionForward,
  crossAttentionTileFor,
  crossAttentionTileName,
  SUPPORTED_HEAD_DIMS,
  tolerance,
  type CrossAttentionTile,
  type CrossAttentionTiles,
  type GradView,
} from '../../src/kernels/cross-attention.js';
import {
  crossAttentionBackward as refBackward,
  crossAttentionForward as refForward,
} from '../../src/ref/cross-attention.js';
import type { FloatDType } from '../../src/tensor/dtype.js';
import { roundToF16 } from '../../src/tensor/f16.js';
import type { Tensor } from '../../src/tensor/tensor.js';
import { Rng } from '../../src/util/rng.js';
import { adapterKinds, distinct } from '../helpers/adapter-kinds.js';
import { expectClose, expectRatio } from '../helpers/compare.js';
import { gpu } from '../helpers/gpu.js';
import { skipBecause } from '../helpers/skip.js';

/** One cross-attention problem set: B problems, Nq queries, Nk keys, H heads of dim d. */
interface Problem {
  B: number;
  Nq: number;
  Nk: number;
  H: number;
  d: number;
  shared?: boolean;
  scale?: number;
}

/** Dense host values: q [qRows, H·d], k, v [B·Nk, H·d], dO [B·Nq, H·d]. */
interface Data {
  q: Float32Array;
  k: Float32Array;
  v: Float32Array;
  dO: Float32Array;
}

interface Result {
  o: ArrayLike<number>;
  lse: ArrayLike<number>;
  dq: ArrayLike<number>;
  dk: ArrayLike<number>;
  dv: ArrayLike<number>;
}

const qRows = (p: Problem): number => (p.shared ? p.Nq : p.B * p.Nq);

function makeData(p: Problem, seed: number, f16 = false): Data {
  const rng = new Rng(seed);
  const W = p.H * p.d;
  const r = (n: number): Float32Array => (f16 ? roundToF16(rng.normals(n)) : rng.normals(n));
  return { q: r(qRows(p) * W), k: r(p.B * p.Nk * W), v: r(p.B * p.Nk * W), dO: r(p.B * p.Nq * W) };
}

/** The f64 reference; shared queries are repeated per problem and their gradient summed over b. */
function reference(p: Problem, x: Data, roundO = false): Result & { o64: Float64Array } {
  const W = p.H * p.d;
  const dims = { batch: p.B, queries: p.Nq, keys: p.Nk, heads: p.H, dim: p.d };
  const qFull = new Float64Array(p.B * p.Nq * W);
  for (let b = 0; b < p.B; b++) {
    qFull.set(p.shared ? x.q : x.q.subarray(b * p.Nq * W, (b + 1) * p.Nq * W), b * p.Nq * W);
  }
  const f = refForward(qFull, x.k, x.v, dims, p.scale);
  const oUsed = roundO ? roundToF16(f.o) : f.o;
  const g = refBackward(x.dO, qFull, x.k, x.v, oUsed, f.lse, dims, p.scale);
  let dq: Float64Array = g.dq;
  if (p.shared) {
    dq = new Float64Array(p.Nq * W);
    for (let b = 0; b < p.B; b++) {
      for (let i = 0; i < p.Nq * W; i++) {
        dq[i] = dq[i]! + g.dq[b * p.Nq * W + i]!;
      }
    }
  }
  return { o: f.o, o64: f.o, lse: f.lse, dq, dk: g.dk, dv: g.dv };
}

interface RunOpts {
  dtype?: FloatDType;
  tiles?: CrossAttentionTiles;
  maxProblemsPerDispatch?: number;
}

/** Forward then backward on the GPU with contiguous q, k, v; reads back everything. */
async function runGpu(ctx: GpuContext, p: Problem, x: Data, o: RunOpts = {}): Promise<Result> {
  const W = p.H * p.d;
  const dtype = o.dtype ?? 'f32';
  return ctx.scope(async () => {
    const view = (t: Tensor) => ({ tensor: t, stride: W, offset: 0 });
    const q = view(ctx.upload(x.q, [qRows(p), W], dtype));
    const k = view(ctx.upload(x.k, [p.B * p.Nk, W], dtype));
    const v = view(ctx.upload(x.v, [p.B * p.Nk, W], dtype));
    const dims = {
      batch: p.B,
      queries: p.Nq,
      keys: p.Nk,
      heads: p.H,
      headDim: p.d,
      qBatchShared: p.shared ?? false,
      ...(p.scale !== undefined ? { scale: p.scale } : {}),
    };
    const extra = {
      ...(o.tiles ? { tiles: o.tiles } : {}),
      ...(o.maxProblemsPerDispatch ? { maxProblemsPerDispatch: o.maxProblemsPerDispatch } : {}),
    };
    const f = crossAttentionForward(ctx, q, k, v, { ...dims, ...extra });
    const dO = ctx.upload(x.dO, [p.B * p.Nq, W], dtype);
    const g = crossAttentionBackward(ctx, dO, q, k, v, f.o, f.lse, dims, extra);
    return {
      o: await f.o.read(),
      lse: await f.lse.read(),
      dq: await g.dq.read(),
      dk: await g.dk.read(),
      dv: await g.dv.read(),
    };
  });
}

function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    m = Math.max(m, Math.abs(a[i]!));
  }
  return m;
}

/** f32: |a − r| ≤ atol·max(1, max|r|) + rtol·|r| per element (gradients grow with the sums). */
function expectF32(got: Result, want: Result, what: string): void {
  for (const name of ['o', 'lse', 'dq', 'dk', 'dv'] as const) {
    const w = want[name];
    const tol = { atol: tolerance.f32.atol * Math.max(1, maxAbs(w)), rtol: tolerance.f32.rtol };
    expectClose(got[name], w, tol, `${what} ${name}`);
  }
}

const SUB = (QL: number): CrossAttentionTile => ({ kind: 'subgroup', WG: 8, QL, opaque: true });
const SHARED = (R: number, S: number, QL: number, KB: number, opaque = true): CrossAttentionTile => ({
  kind: 'shared',
  R,
  S,
  QL,
  KB,
  opaque,
});
const all = (t: CrossAttentionTile): CrossAttentionTiles => ({ forward: t, dq: t, dkv: t });

describe('cross-attention f32, default tiles, every supported head dim', () => {
  const cases: Problem[] = [
    { B: 2, Nq: 3, Nk: 7, H: 3, d: 4 },
    { B: 1, Nq: 1, Nk: 1, H: 1, d: 8 },
    { B: 3, Nq: 97, Nk: 3, H: 2, d: 16 },
    { B: 2, Nq: 7, Nk: 257, H: 1, d: 32 },
    { B: 2, Nq: 64, Nk: 97, H: 2, d: 64 },
    { B: 1, Nq: 9, Nk: 33, H: 2, d: 128 },
    { B: 2, Nq: 17, Nk: 9, H: 1, d: 256 },
    { B: 1, Nq: 5, Nk: 11, H: 3, d: 12, scale: 0.7 },
  ];
  expect(new Set(cases.map((c) => c.d))).toEqual(new Set([...SUPPORTED_HEAD_DIMS, 12]));
  for (const p of cases) {
    it(`B${p.B} Nq${p.Nq} Nk${p.Nk} H${p.H} d${p.d}${p.scale ? ` scale ${p.scale}` : ''}`, async () => {
      const ctx = await gpu();
      const x = makeData(p, p.Nq * 31 + p.Nk + p.d);
      expectF32(await runGpu(ctx, p, x), reference(p, x), `d${p.d}`);
    });
  }
});

describe('cross-attention f32, every thread mapping', () => {
  const cases: [Problem, CrossAttentionTile][] = [
    // Subgroup tiles: one and two subgroups, owner blocks ± 1; loops rolled (opaque) or not.
    [{ B: 2, Nq: 33, Nk: 17, H: 2, d: 16 }, SUB(4)],
    [
      { B: 1, Nq: 7, Nk: 257, H: 3, d: 8 },
      { kind: 'subgroup', WG: 16, QL: 1, opaque: false },
    ],
    // Shared tiles: plain (KB tail ± 1), split over 8 and over 4 invocations (combine order).
    [{ B: 2, Nq: 97, Nk: 17, H: 2, d: 16 }, SHARED(8, 1, 2, 16)],
    [{ B: 2, Nq: 1, Nk: 257, H: 3, d: 64 }, SHARED(1, 8, 1, 8)],
    [{ B: 3, Nq: 3, Nk: 97, H: 1, d: 8 }, SHARED(2, 4, 1, 8, false)],
  ];
  for (const [p, tile] of cases) {
    it(`${crossAttentionTileName(tile)}: B${p.B} Nq${p.Nq} Nk${p.Nk} H${p.H} d${p.d}`, async () => {
      const ctx = await gpu();
      const x = makeData(p, 7 * p.Nq + p.Nk);
      expectF32(await runGpu(ctx, p, x, { tiles: all(tile) }), reference(p, x), crossAttentionTileName(tile));
    });
  }
});

describe('cross-attention: queries shared by the batch (dq summed over b in order)', () => {
  const p: Problem = { B: 3, Nq: 7, Nk: 13, H: 2, d: 16, shared: true };
  for (const tile of [undefined, SHARED(2, 4, 1, 8)]) {
    it(tile ? crossAttentionTileName(tile) : 'default tile', async () => {
      const ctx = await gpu();
      const x = makeData(p, 3);
      expectF32(await runGpu(ctx, p, x, tile ? { tiles: all(tile) } : {}), reference(p, x), 'shared q');
    });
  }
});

describe('cross-attention: batches split over dispatches', () => {
  // Chunks of 2 problems: lse/o/dO views start at unaligned elements (offsets absorb it).
  for (const p of [
    { B: 5, Nq: 3, Nk: 7, H: 3, d: 8 },
    { B: 5, Nq: 3, Nk: 7, H: 3, d: 8, shared: true },
  ] as Problem[]) {
    it(`B${p.B} in chunks of 2${p.shared ? ', shared queries' : ''}`, async () => {
      const ctx = await gpu();
      const x = makeData(p, 17);
      expectF32(await runGpu(ctx, p, x, { maxProblemsPerDispatch: 2 }), reference(p, x), 'chunked');
    });
  }
});

describe('cross-attention: strided views and gradient targets', () => {
  // q, k, v are column blocks of one (rows, 3·W + 3) tensor (stride not a multiple of 4); the
  // gradients go to the same blocks of one dqkv tensor, dk accumulating, dq and dv overwriting.
  for (const tile of [undefined, SHARED(2, 4, 1, 8)]) {
    it(`qkv views in, dqkv views out, accumulate (${tile ? crossAttentionTileName(tile) : 'default tile'})`, async () => {
      const ctx = await gpu();
      const p: Problem = { B: 2, Nq: 11, Nk: 11, H: 2, d: 8 };
      const W = p.H * p.d;
      const stride = 3 * W + 3;
      const rows = p.B * p.Nq;
      const rng = new Rng(23);
      const qkv = rng.normals(rows * stride);
      const init = rng.normals(rows * stride);
      const x: Data = {
        q: new Float32Array(rows * W),
        k: new Float32Array(rows * W),
        v: new Float32Array(rows * W),
        dO: rng.normals(rows * W),
      };
      const offs = [1, 1 + W, 2 + 2 * W];
      for (let r = 0; r < rows; r++) {
        for (let c = 0; c < W; c++) {
          x.q[r * W + c] = qkv[r * stride + offs[0]! + c]!;
          x.k[r * W + c] = qkv[r * stride + offs[1]! + c]!;
          x.v[r * W + c] = qkv[r * stride + offs[2]! + c]!;
        }
      }
      const want = reference(p, x);
      const got = await ctx.scope(async () => {
        const t = ctx.upload(qkv, [rows, stride]);
        const g = ctx.upload(init, [rows, stride]);
        const view = (o: number) => ({ tensor: t, stride, offset: o });
        const dims = { batch: p.B, queries: p.Nq, keys: p.Nk, heads: p.H, headDim: p.d };
        const tiles = tile ? { tiles: all(tile) } : {};
        const f = crossAttentionForward(ctx, view(offs[0]!), view(offs[1]!), view(offs[2]!), { ...dims, ...tiles });
        const target = (o: number, accumulate: boolean): GradView => ({ tensor: g, stride, offset: o, accumulate });
        const r = crossAttentionBackward(
          ctx,
          ctx.upload(x.dO, [rows, W]),
          view(offs[0]!),
          view(offs[1]!),
          view(offs[2]!),
          f.o,
          f.lse,
          dims,
          { dq: target(offs[0]!, false), dk: target(offs[1]!, true), dv: target(offs[2]!, false), ...tiles },
        );
        expect(r.dq).toBe(g);
        return { o: await f.o.read(), g: await g.read() };
      });
      expectClose(got.o, want.o, { atol: 1e-5, rtol: 1e-4 }, 'o');
      const expected = Float64Array.from(init);
      for (let r = 0; r < rows; r++) {
        for (let c = 0; c < W; c++) {
          expected[r * stride + offs[0]! + c] = want.dq[r * W + c]!;
          expected[r * stride + offs[1]! + c] = init[r * stride + offs[1]! + c]! + want.dk[r * W + c]!;
          expected[r * stride + offs[2]! + c] = want.dv[r * W + c]!;
        }
      }
      expectClose(got.g, expected, { atol: 1e-5, rtol: 1e-4 }, 'dqkv', [rows, stride]);
    });
  }

  it('separate targets: accumulate adds, overwrite replaces', async () => {
    const ctx = await gpu();
    const p: Problem = { B: 2, Nq: 5, Nk: 9, H: 3, d: 4 };
    const W = p.H * p.d;
    const x = makeData(p, 41);
    const want = reference(p, x);
    const rng = new Rng(42);
    const init = { dq: rng.normals(p.B * p.Nq * W), dk: rng.normals(p.B * p.Nk * W), dv: rng.normals(p.B * p.Nk * W) };
    for (const accumulate of [true, false]) {
      const got = await ctx.scope(async () => {
        const view = (a: Float32Array, rows: number) => ({ tensor: ctx.upload(a, [rows, W]), stride: W, offset: 0 });
        const q = view(x.q, p.B * p.Nq);
        const k = view(x.k, p.B * p.Nk);
        const v = view(x.v, p.B * p.Nk);
        const dims = { batch: p.B, queries: p.Nq, keys: p.Nk, heads: p.H, headDim: p.d };
        const f = crossAttentionForward(ctx, q, k, v, dims);
        const t = (a: Float32Array, rows: number) => ({ tensor: ctx.upload(a, [rows, W]), accumulate });
        const r = crossAttentionBackward(ctx, ctx.upload(x.dO, [p.B * p.Nq, W]), q, k, v, f.o, f.lse, dims, {
          dq: t(init.dq, p.B * p.Nq),
          dk: t(init.dk, p.B * p.Nk),
          dv: t(init.dv, p.B * p.Nk),
        });
        return { dq: await r.dq.read(), dk: await r.dk.read(), dv: await r.dv.read() };
      });
      for (const name of ['dq', 'dk', 'dv'] as const) {
        const w = Float64Array.from(want[name], (g, i) => (accumulate ? init[name][i]! + g : g));
        expectClose(got[name], w, { atol: 1e-5, rtol: 1e-4 }, `${name} accumulate=${accumulate}`);
      }
    }
  });
});

describe('cross-attention: determinism', () => {
  for (const tile of [undefined, SHARED(1, 8, 1, 8)]) {
    it(`the same bits on every run (${tile ? crossAttentionTileName(tile) : 'default tile'})`, async () => {
      const ctx = await gpu();
      const p: Problem = { B: 2, Nq: 97, Nk: 257, H: 2, d: 16, shared: true };
      const x = makeData(p, 5);
      const W = p.H * p.d;
      const runs = await ctx.scope(async () => {
        const view = (a: Float32Array, rows: number) => ({ tensor: ctx.upload(a, [rows, W]), stride: W, offset: 0 });
        const q = view(x.q, p.Nq);
        const k = view(x.k, p.B * p.Nk);
        const v = view(x.v, p.B * p.Nk);
        const dO = ctx.upload(x.dO, [p.B * p.Nq, W]);
        const dims = { batch: p.B, queries: p.Nq, keys: p.Nk, heads: p.H, headDim: p.d, qBatchShared: true };
        const tiles = tile ? { tiles: all(tile) } : {};
        const out: Uint8Array[][] = [];
        for (let r = 0; r < 2; r++) {
          const f = crossAttentionForward(ctx, q, k, v, { ...dims, ...tiles });
          const g = crossAttentionBackward(ctx, dO, q, k, v, f.o, f.lse, dims, tiles);
          out.push(
            await Promise.all([f.o, f.lse, g.dq, g.dk, g.dv].map(async (t) => new Uint8Array(await t.readRaw()))),
          );
        }
        return out;
      });
      for (let i = 0; i < 5; i++) {
        expect(Buffer.compare(runs[0]![i]!, runs[1]![i]!), `output ${i}`).toBe(0);
      }
    });
  }
});

describe('cross-attention f16 storage, f32 math (ratio rule)', () => {
  for (const [p, tile] of [
    [{ B: 2, Nq: 7, Nk: 97, H: 2, d: 16 }, undefined],
    [{ B: 2, Nq: 1, Nk: 257, H: 1, d: 64 }, SHARED(1, 8, 1, 8)],
  ] as [Problem, CrossAttentionTile | undefined][]) {
    it(`B${p.B} Nq${p.Nq} Nk${p.Nk} H${p.H} d${p.d} ${tile ? crossAttentionTileName(tile) : 'default tile'}`, async (c) => {
      const ctx = await gpu();
      if (!ctx.caps.f16) {
        skipBecause(c, 'this adapter has no shader-f16');
      }
      const x = makeData(p, 9, true);
      const got = await runGpu(ctx, p, x, { dtype: 'f16', ...(tile ? { tiles: all(tile) } : {}) });
      // f64 from the f16 inputs; the reduced-precision computation rounds o (which the backward
      // reads) and every output to f16.
      const ref = reference(p, x);
      const low = reference(p, x, true);
      expectRatio(got.o, ref.o, roundToF16(ref.o), tolerance.f16.ratioToRef, 'o f16');
      expectClose(got.lse, ref.lse, { atol: 1e-5, rtol: 1e-5 }, 'lse (f32)');
      for (const name of ['dq', 'dk', 'dv'] as const) {
        const tiny = 1e-3 * maxAbs(ref[name]);
        expectRatio(got[name], ref[name], roundToF16(low[name]), tolerance.f16.ratioToRef, `${name} f16`, tiny);
      }
    });
  }
});

// The tiles the wrapper picks for the study's shapes on every adapter kind, each run in the pass
// it was picked for on a small problem of the same head dim (a tile's correctness does not depend
// on the problem's size). Loops are kept rolled here (opaque: the same mapping and arithmetic;
// llvmpipe compiles the unrolled storage accesses of GPU variants for 20–80 s each); the contract
// test compiles the GPU variants themselves.
describe('cross-attention: every tile the wrapper may pick', async () => {
  const ctx = await gpu();
  const study = [
    { what: 'depth', d: 256, Nq: 16384, Nk: 256, P: 2 },
    { what: 'tracking', d: 64, Nq: 64, Nk: 256, P: 136 * 8 },
    { what: 'readout', d: 64, Nq: 1, Nk: 4352, P: 8 * 16 },
    { what: 'camera readout', d: 32, Nq: 1, Nk: 4352, P: 8 * 12 },
  ];
  const items = adapterKinds(ctx).flatMap((kind) =>
    study.flatMap((s) =>
      (
        [
          ['forward', s.Nq, s.Nk],
          ['dq', s.Nq, s.Nk],
          ['dkv', s.Nk, s.Nq],
        ] as const
      ).map(([pass, owners, stream]) => ({
        what: `${kind.name} ${s.what}`,
        value: {
          d: s.d,
          pass,
          tile: { ...crossAttentionTileFor(s.d, { owners, stream, problems: s.P }, kind.caps), opaque: true },
        },
      })),
    ),
  );
  const tiles = distinct(items, (v) => `${v.d}_${v.pass}_${crossAttentionTileName(v.tile)}`);
  for (const { what, value } of tiles) {
    it(`d${value.d} ${value.pass} ${crossAttentionTileName(value.tile)} (${what})`, async () => {
      const p: Problem = { B: 2, Nq: 5, Nk: 37, H: 2, d: value.d };
      const x = makeData(p, value.d);
      const got = await runGpu(ctx, p, x, { tiles: { [value.pass]: value.tile } });
      expectF32(got, reference(p, x), `${value.pass} ${crossAttentionTileName(value.tile)}`);
    });
  }
});

describe('cross-attention: errors name the input and the fix', () => {
  it('rejects unsupported head dims, short views, bad lse', async () => {
    const ctx = await gpu();
    ctx.scope(() => {
      const t = ctx.zeros([6, 48]);
      const view = { tensor: t, stride: 48, offset: 0 };
      const dims = { batch: 2, queries: 3, keys: 3, heads: 2, headDim: 24 };
      expect(() => crossAttentionForward(ctx, view, view, view, { ...dims, headDim: 6 })).toThrow(
        /head dim 6 is not supported \(supported: multiples of 4 from 4 to 256, e\.g\. 4, 8, 16, 32, 64, 128, 256\)/,
      );
      expect(() => crossAttentionForward(ctx, view, view, view, { ...dims, headDim: 260, heads: 1 })).toThrow(
        /head dim 260/,
      );
      expect(() => crossAttentionForward(ctx, view, view, { ...view, offset: 4 }, dims)).toThrow(/v view/);
      expect(() => crossAttentionForward(ctx, view, view, view, { ...dims, queries: 4 })).toThrow(/q view/);
      const f = crossAttentionForward(ctx, view, view, view, dims);
      expect(() => crossAttentionBackward(ctx, f.o, view, view, view, f.o, ctx.zeros([2, 3]), dims)).toThrow(/lse/);
      expect(() =>
        crossAttentionForward(ctx, view, view, view, {
          ...dims,
          tiles: { forward: { kind: 'shared', R: 2, S: 3, QL: 1, KB: 3, opaque: false } },
        }),
      ).toThrow(/bad tile/);
    });
  });
});
