// headwise (a Linear per head) against the float64 reference, whose backward is checked against
// central differences; odd sizes; accumulate; bit-identical reruns.
import { describe, expect, it } from 'vitest';
import {
  headwiseLinear,
  headwiseLinearT,
  headwiseWeightGrad,
  padHeads,
  tolerance,
  unpadHeads,
} from '../../src/kernels/headwise.js';
import { numericalGradient } from '../../src/ref/gradcheck.js';
import { headwiseLinearBackwardRef, headwiseLinearRef } from '../../src/ref/headwise.js';
import { Rng } from '../../src/util/rng.js';
import { expectClose } from '../helpers/compare.js';
import { gpu } from '../helpers/gpu.js';

const SHAPES: [number, number, number, number][] = [
  [1, 1, 1, 1],
  [3, 2, 4, 7],
  [8, 16, 4, 97],
  [2, 3, 5, 33],
];

describe('headwise', () => {
  it('the reference backward matches central differences', () => {
    const [z, h, d, c] = [2, 3, 2, 5];
    const rng = new Rng(1);
    const x = rng.normals(z * h * c);
    const w = rng.normals(h * d * c);
    const dy = rng.normals(z * h * d);
    const loss = (xx: ArrayLike<number>, ww: ArrayLike<number>): number =>
      headwiseLinearRef(xx, ww, null, z, h, d, c).reduce((s, v, i) => s + v * dy[i]!, 0);
    const g = headwiseLinearBackwardRef(dy, x, w, z, h, d, c);
    expectClose(
      g.dx,
      numericalGradient((xx) => loss(xx, w), Float64Array.from(x)),
      { atol: 1e-7, rtol: 1e-6 },
      'dx',
    );
    expectClose(
      g.dw,
      numericalGradient((ww) => loss(x, ww), Float64Array.from(w)),
      { atol: 1e-7, rtol: 1e-6 },
      'dw',
    );
  });

  for (const [z, h, d, c] of SHAPES) {
    it(`Z ${z} H ${h} d ${d} C ${c}: forward, both backward maps, accumulate`, async () => {
      const ctx = await gpu();
      const rng = new Rng(z + 10 * h + 100 * c);
      const x = rng.normals(z * h * c);
      const w = rng.normals(h * d * c);
      const b = rng.normals(h * d);
      const dy = rng.normals(z * h * d);
      const prior = rng.normals(h * d * c);
      const ref = headwiseLinearRef(x, w, b, z, h, d, c);
      const g = headwiseLinearBackwardRef(dy, x, w, z, h, d, c);
      const [y, dx, dw, dwAcc, dw2] = await ctx.scope(() => {
        const tx = ctx.upload(x, [z, h, c]);
        const tw = ctx.upload(w, [h * d, c]);
        const tdy = ctx.upload(dy, [z, h * d]);
        const acc = ctx.upload(prior, [h * d, c]);
        headwiseWeightGrad(ctx, tdy, tx, h, { out: { tensor: acc, accumulate: true } });
        return Promise.all([
          headwiseLinear(ctx, tx, tw, h, { bias: ctx.upload(b, [h * d]) }).read(),
          headwiseLinearT(ctx, tdy, tw, h).read(),
          headwiseWeightGrad(ctx, tdy, tx, h).read(),
          acc.read(),
          headwiseWeightGrad(ctx, tdy, tx, h).read(),
        ]);
      });
      expectClose(y, ref, tolerance.f32, 'y');
      expectClose(dx, g.dx, tolerance.f32, 'dx');
      expectClose(dw, g.dw, tolerance.f32, 'dW');
      expectClose(
        dwAcc,
        g.dw.map((v, i) => v + prior[i]!),
        tolerance.f32,
        'dW +=',
      );
      expect(Array.from(dw2)).toEqual(Array.from(dw));
    });
  }
});

describe('padHeads / unpadHeads', () => {
  it('pads each head with zero columns and back, accumulating on request', async () => {
    const ctx = await gpu();
    const [R, H, d, p] = [5, 3, 3, 4];
    const x = new Rng(2).normals(R * H * d);
    const [padded, back, acc] = await ctx.scope(() => {
      const t = ctx.upload(x, [R, H * d]);
      const pd = padHeads(ctx, t, H, d, p);
      const prior = ctx.upload(new Float32Array(R * H * d).fill(1), [R, H * d]);
      unpadHeads(ctx, pd, H, d, p, { out: { tensor: prior, accumulate: true } });
      return Promise.all([pd.read(), unpadHeads(ctx, pd, H, d, p).read(), prior.read()]);
    });
    for (let r = 0; r < R; r++) {
      for (let h = 0; h < H; h++) {
        for (let i = 0; i < p; i++) {
          expect(padded[(r * H + h) * p + i]).toBe(i < d ? x[(r * H + h) * d + i] : 0);
        }
      }
    }
    expect(Array.from(back)).toEqual(Array.from(x));
    expect(Array.from(acc)).toEqual(Array.from(x, (v) => Math.fround(v + 1)));
  });
});
