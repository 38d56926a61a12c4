import { describe, expect, it } from 'vitest';
import {
  candidateTiles,
  defaultTile,
  matmul,
  tileFor,
  tileName,
  tolerance,
  type Activation,
  type MatmulTile,
} from '../../src/kernels/matmul.js';
import { matmulRef } from '../../src/ref/matmul.js';
import { roundToF16 } from '../../src/tensor/f16.js';
import { Rng } from '../../src/util/rng.js';
import { expectClose, expectRatio } from '../helpers/compare.js';
import { adapterKinds, distinct } from '../helpers/adapter-kinds.js';
import { gpu } from '../helpers/gpu.js';

// (M, N, K): 1, primes, tile ± 1, non-multiples of 4.
const SHAPES: [number, number, number][] = [
  [1, 1, 1],
  [7, 13, 5],
  [97, 33, 64],
  [64, 64, 64],
  [17, 96, 40],
  [65, 63, 97],
  [3, 130, 257],
];

// Both thread mappings, with small tiles so that tiles and their tails are exercised.
// (llvmpipe's rolled loops and GPUs' constant bounds; one and two subgroups per workgroup).
const TILES: MatmulTile[] = [
  { kind: 'subgroup', TM: 4, CV: 1, WG: 8, opaque: true },
  { kind: 'subgroup', TM: 3, CV: 2, WG: 16, opaque: false },
  { kind: 'portable', TM: 4, TN: 2, WG: 8 },
];

describe('matmul f32', () => {
  for (const [M, N, K] of SHAPES) {
    for (const [transA, transB, tile] of [
      [false, false, TILES[0]!],
      [false, true, TILES[1]!],
      [true, false, TILES[2]!],
      [true, true, TILES[0]!],
      [false, false, TILES[2]!],
      [false, false, TILES[1]!],
    ] as const) {
      it(`${M}x${N}x${K} transA=${transA} transB=${transB} ${tile.kind} TM${tile.TM}`, async () => {
        const ctx = await gpu();
        const rng = new Rng(M * 1000 + N * 10 + K);
        const a = rng.normals(M * K);
        const b = rng.normals(K * N);
        const got = await ctx.scope(() => {
          const ta = ctx.upload(a, transA ? [K, M] : [M, K]);
          const tb = ctx.upload(b, transB ? [N, K] : [K, N]);
          return matmul(ctx, ta, tb, { transA, transB, tile }).read();
        });
        expectClose(got, matmulRef({ a, b, m: M, n: N, k: K, transA, transB }), tolerance.f32, 'C', [M, N]);
      });
    }
  }

  for (const act of ['none', 'gelu', 'silu'] as Activation[]) {
    it(`bias + ${act} + residual epilogues, batched with a shared weight`, async () => {
      const ctx = await gpu();
      const [Z, M, N, K] = [3, 9, 20, 12];
      const rng = new Rng(42);
      const a = rng.normals(Z * M * K);
      const w = rng.normals(N * K);
      const bias = rng.normals(N);
      const res = rng.normals(Z * M * N);
      const gate = rng.normals(Z * N);
      const [plain, withRes, gated] = await ctx.scope(() => {
        const ta = ctx.upload(a, [Z, M, K]);
        const tw = ctx.upload(w, [N, K]);
        const tb = ctx.upload(bias, [N]);
        const tr = ctx.upload(res, [Z, M, N]);
        const tg = ctx.upload(gate, [Z, N]);
        return Promise.all([
          matmul(ctx, ta, tw, { transB: true, bias: tb, act }).read(),
          matmul(ctx, ta, tw, { transB: true, bias: tb, act, residual: tr }).read(),
          matmul(ctx, ta, tw, { transB: true, bias: tb, act, residual: tr, gate: tg, rowsPerGate: M }).read(),
        ]);
      });
      const base = { a, b: w, m: M, n: N, k: K, batch: Z, transB: true, sharedB: true, bias, act };
      expectClose(plain, matmulRef(base), tolerance.f32, 'bias+act');
      expectClose(withRes, matmulRef({ ...base, residual: res }), tolerance.f32, 'residual');
      expectClose(gated, matmulRef({ ...base, residual: res, gate, rowsPerGate: M }), tolerance.f32, 'gated');
    });
  }

  it('rejects mismatched inner dimensions', async () => {
    const ctx = await gpu();
    ctx.scope(() => {
      expect(() => matmul(ctx, ctx.zeros([4, 5]), ctx.zeros([6, 7]))).toThrow(/inner dimensions differ/);
    });
  });
});

describe('matmul f16 storage, f32 accumulation', () => {
  for (const [M, N, K] of [
    [7, 13, 5],
    [64, 64, 64],
    [33, 20, 257],
  ] as [number, number, number][]) {
    it(`${M}x${N}x${K}`, async () => {
      const ctx = await gpu();
      const rng = new Rng(7 + K);
      const a = roundToF16(rng.normals(M * K));
      const w = roundToF16(rng.normals(N * K));
      const got = await ctx.scope(() =>
        matmul(ctx, ctx.upload(a, [M, K], 'f16'), ctx.upload(w, [N, K], 'f16'), { transB: true }).read(),
      );
      const ref = matmulRef({ a, b: w, m: M, n: N, k: K, transB: true });
      expectRatio(got, ref, roundToF16(Float32Array.from(ref)), tolerance.f16.ratioToRef, 'C f16');
    });
  }
});

// The tiles the CLI dispatches: this context's choice, the defaults and autotuner candidates of
// every adapter kind, on odd shapes and every transpose combination in turn.
describe('matmul: every shipped tile', async () => {
  const ctx = await gpu();
  const tiles = distinct(
    [
      { what: 'in use here', value: tileFor({ dtype: 'f32' }, ctx.caps) },
      ...adapterKinds(ctx).flatMap((k) => [
        { what: `${k.name} default`, value: defaultTile(k.caps) },
        ...candidateTiles(k.caps).map((t) => ({ what: `${k.name} candidate`, value: t })),
      ]),
    ],
    tileName,
  );
  const shapes: [number, number, number][] = [
    [97, 33, 64],
    [65, 130, 97],
  ];
  tiles.forEach(({ what, value: tile }, i) => {
    const transA = i % 2 === 1;
    const transB = i % 4 >= 2;
    it(`${tileName(tile)} (${what}) transA=${transA} transB=${transB}`, async () => {
      const rng = new Rng(i);
      for (const [M, N, K] of shapes) {
        const a = rng.normals(M * K);
        const b = rng.normals(K * N);
        const got = await ctx.scope(() =>
          matmul(ctx, ctx.upload(a, transA ? [K, M] : [M, K]), ctx.upload(b, transB ? [N, K] : [K, N]), {
            transA,
            transB,
            tile,
          }).read(),
        );
        expectClose(got, matmulRef({ a, b, m: M, n: N, k: K, transA, transB }), tolerance.f32, `C ${M}x${N}x${K}`, [
          M,
          N,
        ]);
      }
    });
  });
});
