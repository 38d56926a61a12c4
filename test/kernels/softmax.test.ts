import { describe, expect, it } from 'vitest';
import { softmax, softmaxBackward, tolerance } from '../../src/kernels/softmax.js';
import { softmaxBackward as refBackward, softmaxForward as refForward } from '../../src/ref/softmax.js';
import { roundToF16 } from '../../src/tensor/f16.js';
import { Rng } from '../../src/util/rng.js';
import { expectClose, expectRatio } from '../helpers/compare.js';
import { gpu } from '../helpers/gpu.js';
import { skipBecause } from '../helpers/skip.js';

// Rows of 1, 7, 97 and 4352 columns (the single-query readout's T·N keys), odd row counts.
const SHAPES: [number, number][] = [
  [3, 1],
  [5, 7],
  [7, 97],
  [2, 4352],
];

/** f64 softmax(scale·x) per row. */
function forwardRef(x: Float32Array, rows: number, cols: number, scale: number): Float64Array {
  return refForward(
    x.map((v) => v * scale),
    rows,
    cols,
  ).y;
}

/** f64 dx = scale·y⊙(dy − rowsum(dy⊙y)), from the reference's unscaled backward. */
function backwardRef(dy: ArrayLike<number>, y: ArrayLike<number>, rows: number, cols: number, scale: number) {
  return refBackward(dy, y, rows, cols).dx.map((v) => v * scale);
}

describe('softmax forward', () => {
  for (const [rows, cols] of SHAPES) {
    it(`f32 ${rows}x${cols}`, async () => {
      const ctx = await gpu();
      const x = new Rng(rows * cols).normals(rows * cols, 3);
      const got = await ctx.scope(() => softmax(ctx, ctx.upload(x, [rows, cols]), { scale: 0.7 }).read());
      expectClose(got, forwardRef(x, rows, cols, 0.7), tolerance.f32, 'y', [rows, cols]);
    });

    it(`f16 storage ${rows}x${cols} (ratio rule)`, async (t) => {
      const ctx = await gpu();
      if (!ctx.caps.f16) {
        skipBecause(t, 'this adapter has no shader-f16');
      }
      const x = roundToF16(new Rng(rows + cols).normals(rows * cols, 3));
      const got = await ctx.scope(() => softmax(ctx, ctx.upload(x, [rows, cols], 'f16'), { scale: 0.7 }).read());
      const ref = forwardRef(x, rows, cols, 0.7);
      expectRatio(got, ref, roundToF16(ref), tolerance.f16.ratioToRef, 'y f16');
    });
  }
});

describe('softmax backward', () => {
  for (const [rows, cols] of SHAPES) {
    it(`f32 ${rows}x${cols}, overwrite and accumulate`, async () => {
      const ctx = await gpu();
      const rng = new Rng(7 * rows + cols);
      const x = rng.normals(rows * cols, 2);
      const dy = rng.normals(rows * cols);
      const init = rng.normals(rows * cols);
      const y = Float32Array.from(forwardRef(x, rows, cols, 1.3));
      const [fresh, over, acc] = await ctx.scope(async () => {
        const ty = ctx.upload(y, [rows, cols]);
        const tdy = ctx.upload(dy, [rows, cols]);
        const a = ctx.upload(init, [rows, cols]);
        const b = ctx.upload(init, [rows, cols]);
        softmaxBackward(ctx, tdy, ty, { scale: 1.3, dx: { tensor: a, accumulate: false } });
        softmaxBackward(ctx, tdy, ty, { scale: 1.3, dx: { tensor: b, accumulate: true } });
        return [await softmaxBackward(ctx, tdy, ty, { scale: 1.3 }).read(), await a.read(), await b.read()];
      });
      const ref = backwardRef(dy, y, rows, cols, 1.3);
      // atol relative to the gradient's size: dx is a difference of O(1) terms times y.
      const tol = { atol: 1e-6, rtol: 1e-5 };
      expectClose(fresh, ref, tol, 'dx', [rows, cols]);
      expectClose(over, ref, tol, 'dx (=)', [rows, cols]);
      expectClose(
        acc,
        ref.map((v, i) => v + init[i]!),
        tol,
        'dx (+=)',
        [rows, cols],
      );
    });

    it(`f16 storage ${rows}x${cols} (ratio rule)`, async (t) => {
      const ctx = await gpu();
      if (!ctx.caps.f16) {
        skipBecause(t, 'this adapter has no shader-f16');
      }
      const rng = new Rng(rows * 3 + cols);
      const y = roundToF16(forwardRef(rng.normals(rows * cols, 2), rows, cols, 1));
      const dy = roundToF16(rng.normals(rows * cols));
      const got = await ctx.scope(() =>
        softmaxBackward(ctx, ctx.upload(dy, [rows, cols], 'f16'), ctx.upload(y, [rows, cols], 'f16')).read(),
      );
      const ref = backwardRef(dy, y, rows, cols, 1);
      expectRatio(got, ref, roundToF16(ref), tolerance.f16.ratioToRef, 'dx f16');
    });
  }

  it('the same bits on every run', async () => {
    const ctx = await gpu();
    const [rows, cols] = [5, 4352];
    const rng = new Rng(99);
    const y = Float32Array.from(forwardRef(rng.normals(rows * cols, 2), rows, cols, 1));
    const dy = rng.normals(rows * cols);
    const [a, b] = await ctx.scope(async () => {
      const ty = ctx.upload(y, [rows, cols]);
      const tdy = ctx.upload(dy, [rows, cols]);
      const run = async () => new Uint8Array(await softmaxBackward(ctx, tdy, ty).readRaw());
      return [await run(), await run()];
    });
    expect(Buffer.compare(a, b)).toBe(0);
  });

  it('rejects mismatched shapes and targets', async () => {
    const ctx = await gpu();
    ctx.scope(() => {
      const y = ctx.zeros([3, 5]);
      expect(() => softmaxBackward(ctx, ctx.zeros([3, 4]), y)).toThrow(/softmaxBackward dy/);
      expect(() => softmaxBackward(ctx, y, y, { dx: { tensor: ctx.zeros([5, 3]), accumulate: false } })).toThrow(
        /softmaxBackward dx/,
      );
      expect(() => softmax(ctx, y, { out: ctx.zeros([15]) })).toThrow(/softmax/);
    });
  });
});
