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
import { linearBackward } from '../../src/ref/linear.js';
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
    // Every third tile adds into an existing C (the gradient path), the others overwrite.
    const accumulate = i % 3 === 0;
    it(`${tileName(tile)} (${what}) transA=${transA} transB=${transB} accumulate=${accumulate}`, async () => {
      const rng = new Rng(i);
      for (const [M, N, K] of shapes) {
        const a = rng.normals(M * K);
        const b = rng.normals(K * N);
        const old = rng.normals(M * N);
        const got = await ctx.scope(() =>
          matmul(ctx, ctx.upload(a, transA ? [K, M] : [M, K]), ctx.upload(b, transB ? [N, K] : [K, N]), {
            transA,
            transB,
            tile,
            ...(accumulate ? { out: ctx.upload(old, [M, N]), accumulate } : {}),
          }).read(),
        );
        const want = matmulRef({ a, b, m: M, n: N, k: K, transA, transB });
        if (accumulate) {
          want.forEach((v, j) => (want[j] = v + old[j]!));
        }
        expectClose(got, want, tolerance.f32, `C ${M}x${N}x${K}`, [M, N]);
      }
    });
  });
});

// Linear backward through matmul with a PyTorch weight W [OUT, IN], dY [R, OUT], X [R, IN]:
// dX = dY·W (no transpose), dW = dYᵀ·X (transA) written (=) or added (+=) into a gradient.
describe('matmul: linear backward, C += A·B', () => {
  // (R, IN, OUT): 1, odd, tile ± 1 of the small tiles, non-multiples of 4.
  const LINEAR: [number, number, number][] = [
    [1, 1, 1],
    [7, 5, 3],
    [97, 13, 33],
    [65, 64, 63],
    [33, 97, 9],
  ];
  LINEAR.forEach(([R, IN, OUT], s) => {
    const tile = TILES[s % TILES.length]!;
    for (const accumulate of [false, true]) {
      it(`R${R} IN${IN} OUT${OUT} ${tile.kind} TM${tile.TM} accumulate=${accumulate}`, async () => {
        const ctx = await gpu();
        const rng = new Rng(R * 7 + IN * 3 + OUT);
        const dy = rng.normals(R * OUT);
        const x = rng.normals(R * IN);
        const w = rng.normals(OUT * IN);
        const oldDw = rng.normals(OUT * IN);
        const oldDx = rng.normals(R * IN);
        const [dx, dw] = await ctx.scope(() => {
          const tdy = ctx.upload(dy, [R, OUT]);
          const dwT = ctx.upload(oldDw, [OUT, IN]);
          const dxT = ctx.upload(oldDx, [R, IN]);
          matmul(ctx, tdy, ctx.upload(w, [OUT, IN]), { tile, out: dxT, accumulate });
          const ret = matmul(ctx, tdy, ctx.upload(x, [R, IN]), { transA: true, tile, out: dwT, accumulate });
          expect(ret).toBe(dwT);
          return Promise.all([dxT.read(), dwT.read()]);
        });
        const ref = linearBackward(dy, x, w, R, IN, OUT, false);
        if (accumulate) {
          ref.dx.forEach((v, j) => (ref.dx[j] = v + oldDx[j]!));
          ref.dw.forEach((v, j) => (ref.dw[j] = v + oldDw[j]!));
        }
        expectClose(dx, ref.dx, tolerance.f32, 'dX', [R, IN]);
        expectClose(dw, ref.dw, tolerance.f32, 'dW', [OUT, IN]);
      });
    }
  });

  it('batched: dW per batch element accumulated over two row chunks, dX with a shared W', async () => {
    const ctx = await gpu();
    const [Z, R, IN, OUT] = [3, 41, 19, 10];
    const rng = new Rng(5);
    const dy = rng.normals(Z * R * OUT);
    const x = rng.normals(Z * R * IN);
    const w = rng.normals(OUT * IN);
    const [dx, dw] = await ctx.scope(() => {
      const dwT = ctx.zeros([Z, OUT, IN]);
      // Rows split as [0, 20) and [20, 41): dW = Σ over chunks, the first written, the second added.
      for (const [r0, r1] of [
        [0, 20],
        [20, R],
      ] as const) {
        const n = r1 - r0;
        const cdy = new Float32Array(Z * n * OUT);
        const cx = new Float32Array(Z * n * IN);
        for (let z = 0; z < Z; z++) {
          cdy.set(dy.subarray((z * R + r0) * OUT, (z * R + r1) * OUT), z * n * OUT);
          cx.set(x.subarray((z * R + r0) * IN, (z * R + r1) * IN), z * n * IN);
        }
        matmul(ctx, ctx.upload(cdy, [Z, n, OUT]), ctx.upload(cx, [Z, n, IN]), {
          transA: true,
          out: dwT,
          accumulate: r0 > 0,
        });
      }
      const dxT = matmul(ctx, ctx.upload(dy, [Z, R, OUT]), ctx.upload(w, [OUT, IN]));
      return Promise.all([dxT.read(), dwT.read()]);
    });
    for (let z = 0; z < Z; z++) {
      const ref = linearBackward(
        dy.subarray(z * R * OUT, (z + 1) * R * OUT),
        x.subarray(z * R * IN, (z + 1) * R * IN),
        w,
        R,
        IN,
        OUT,
        false,
      );
      expectClose(dx.subarray(z * R * IN, (z + 1) * R * IN), ref.dx, tolerance.f32, `dX[${z}]`, [R, IN]);
      expectClose(dw.subarray(z * OUT * IN, (z + 1) * OUT * IN), ref.dw, tolerance.f32, `dW[${z}]`, [OUT, IN]);
    }
  });

  it('f16 storage: C += A·B by the ratio rule', async () => {
    const ctx = await gpu();
    const [R, IN, OUT] = [37, 20, 11];
    const rng = new Rng(9);
    const dy = roundToF16(rng.normals(R * OUT));
    const x = roundToF16(rng.normals(R * IN));
    const old = roundToF16(rng.normals(OUT * IN));
    const got = await ctx.scope(() => {
      const dwT = ctx.upload(old, [OUT, IN], 'f16');
      matmul(ctx, ctx.upload(dy, [R, OUT], 'f16'), ctx.upload(x, [R, IN], 'f16'), {
        transA: true,
        out: dwT,
        accumulate: true,
      });
      return dwT.read();
    });
    const ref = linearBackward(dy, x, new Float32Array(OUT * IN), R, IN, OUT, false).dw;
    ref.forEach((v, j) => (ref[j] = v + old[j]!));
    expectRatio(got, ref, roundToF16(Float32Array.from(ref)), tolerance.f16.ratioToRef, 'dW f16');
  });

  it('the same gradient twice is bit-identical', async () => {
    const ctx = await gpu();
    const [R, IN, OUT] = [301, 24, 17];
    const rng = new Rng(11);
    const dy = rng.normals(R * OUT);
    const x = rng.normals(R * IN);
    const old = rng.normals(OUT * IN);
    const run = (): Promise<ArrayBuffer> =>
      ctx.scope(() => {
        const dwT = ctx.upload(old, [OUT, IN]);
        matmul(ctx, ctx.upload(dy, [R, OUT]), ctx.upload(x, [R, IN]), { transA: true, out: dwT, accumulate: true });
        return dwT.readRaw();
      });
    const [first, second] = [new Uint8Array(await run()), new Uint8Array(await run())];
    expect(Buffer.compare(first, second)).toBe(0);
  });

  // Operands above a (lowered) binding limit: dW by K chunks that add into C, dX and a forward
  // with every epilogue by M chunks.
  for (const accumulate of [false, true]) {
    it(`row chunks above the binding limit: dW by K chunks, dX by M chunks, accumulate=${accumulate}`, async () => {
      const ctx = await gpu();
      const [R, IN, OUT] = [97, 32, 64];
      const rng = new Rng(13);
      const dy = rng.normals(R * OUT);
      const x = rng.normals(R * IN);
      const w = rng.normals(OUT * IN);
      const oldDw = rng.normals(OUT * IN);
      const oldDx = rng.normals(R * IN);
      const before = ctx.stats.dispatches;
      const [dx, dw] = await ctx.scope(() => {
        const tdy = ctx.upload(dy, [R, OUT]);
        const dwT = ctx.upload(oldDw, [OUT, IN]);
        const dxT = ctx.upload(oldDx, [R, IN]);
        const limit = { maxBindingBytes: OUT * IN * 4 };
        matmul(ctx, tdy, ctx.upload(x, [R, IN]), { transA: true, out: dwT, accumulate, ...limit });
        matmul(ctx, tdy, ctx.upload(w, [OUT, IN]), { out: dxT, accumulate, ...limit });
        return Promise.all([dxT.read(), dwT.read()]);
      });
      // dY is 24.8 KB against 8 KiB: 4 K chunks of 32 rows (dW), 4 M chunks of 32 rows (dX).
      expect(ctx.stats.dispatches - before).toBe(4 + 4);
      const ref = linearBackward(dy, x, w, R, IN, OUT, false);
      if (accumulate) {
        ref.dx.forEach((v, j) => (ref.dx[j] = v + oldDx[j]!));
        ref.dw.forEach((v, j) => (ref.dw[j] = v + oldDw[j]!));
      }
      expectClose(dx, ref.dx, tolerance.f32, 'dX (M chunks)', [R, IN]);
      expectClose(dw, ref.dw, tolerance.f32, 'dW (K chunks)', [OUT, IN]);
    });
  }

  it('M chunks keep the bias, activation and residual epilogue', async () => {
    const ctx = await gpu();
    const [M, N, K] = [75, 24, 64];
    const rng = new Rng(17);
    const a = rng.normals(M * K);
    const w = rng.normals(N * K);
    const bias = rng.normals(N);
    const res = rng.normals(M * N);
    const got = await ctx.scope(() =>
      matmul(ctx, ctx.upload(a, [M, K]), ctx.upload(w, [N, K]), {
        transB: true,
        bias: ctx.upload(bias, [N]),
        act: 'gelu',
        residual: ctx.upload(res, [M, N]),
        maxBindingBytes: 8192,
      }).read(),
    );
    expectClose(
      got,
      matmulRef({ a, b: w, m: M, n: N, k: K, transB: true, bias, act: 'gelu', residual: res }),
      tolerance.f32,
      'chunked epilogue',
      [M, N],
    );
  });

  it('rejects accumulate without out, and with residual or gate', async () => {
    const ctx = await gpu();
    ctx.scope(() => {
      const a = ctx.zeros([4, 5]);
      const b = ctx.zeros([5, 3]);
      const c = ctx.zeros([4, 3]);
      expect(() => matmul(ctx, a, b, { accumulate: true })).toThrow(/accumulate needs `out`/);
      expect(() => matmul(ctx, a, b, { accumulate: true, out: c, residual: ctx.zeros([4, 3]) })).toThrow(
        /accumulate cannot be combined with residual or gate/,
      );
      expect(() =>
        matmul(ctx, a, b, { accumulate: true, out: c, residual: ctx.zeros([4, 3]), gate: ctx.zeros([3]) }),
      ).toThrow(/accumulate cannot be combined with residual or gate/);
      expect(() => matmul(ctx, a, b, { accumulate: true, out: ctx.zeros([4, 3], 'f16') })).toThrow(/must be f32/);
    });
  });
});
