import { describe, expect, it } from 'vitest';
import { gradcheck } from '../../src/ref/gradcheck.js';
import { layerNormBackward, layerNormForward, rmsNormBackward, rmsNormForward } from '../../src/ref/layernorm.js';
import { layernormRef } from '../../src/ref/norms.js';
import { expectGrad, maxDiff, randn } from './helpers.js';

const variants = [
  { name: 'full', weight: true, bias: true },
  { name: 'scale-only', weight: true, bias: false },
  { name: 'no-affine', weight: false, bias: false },
  { name: 'bias-only', weight: false, bias: true },
] as const;

describe('layernorm reference', () => {
  for (const [R, C] of [
    [1, 1],
    [3, 7],
    [7, 3],
    [2, 13],
  ] as const) {
    for (const v of variants) {
      for (const eps of [1e-6, 1e-4]) {
        it(`${v.name} ${R}x${C} eps ${eps}: gradients; forward = layernormRef`, () => {
          const s = R * 31 + C;
          const inputs: Record<string, Float64Array> = { x: randn(s, R * C, 2, 3) };
          if (v.weight) {
            inputs.weight = randn(s + 1, C, 0.5, 1);
          }
          if (v.bias) {
            inputs.bias = randn(s + 2, C);
          }
          const w = (t: Record<string, Float64Array>): Float64Array | null => (v.weight ? t.weight! : null);
          const b = (t: Record<string, Float64Array>): Float64Array | null => (v.bias ? t.bias! : null);
          const fwd = layerNormForward(inputs.x!, R, C, w(inputs), b(inputs), eps);
          const want = layernormRef(inputs.x!, C, { eps, weight: inputs.weight, bias: inputs.bias });
          expect(maxDiff(fwd.y, want)).toBeLessThan(1e-12);
          const rep = gradcheck({
            inputs,
            forward: (t) => layerNormForward(t.x!, R, C, w(t), b(t), eps).y,
            backward: (t, [dy]) => {
              const f = layerNormForward(t.x!, R, C, w(t), b(t), eps);
              const g = layerNormBackward(dy!, t.x!, f.mean, f.rstd, R, C, w(t), v.bias);
              return { x: g.dx, weight: g.dweight, bias: g.dbias };
            },
          });
          expectGrad(rep);
        });
      }
    }
  }

  it('saves mean and rstd (biased variance) and normalises rows', () => {
    const x = randn(9, 3 * 97, 4, -2);
    const { y, mean, rstd } = layerNormForward(x, 3, 97, null, null, 1e-6);
    for (let r = 0; r < 3; r++) {
      const row = x.subarray(r * 97, (r + 1) * 97);
      const m = row.reduce((s, a) => s + a, 0) / 97;
      const v = row.reduce((s, a) => s + (a - m) ** 2, 0) / 97;
      expect(mean[r]).toBeCloseTo(m, 12);
      expect(rstd[r]).toBeCloseTo(1 / Math.sqrt(v + 1e-6), 12);
      const yr = y.subarray(r * 97, (r + 1) * 97);
      expect(Math.abs(yr.reduce((s, a) => s + a, 0) / 97)).toBeLessThan(1e-12);
      expect(yr.reduce((s, a) => s + a * a, 0) / 97).toBeCloseTo(v / (v + 1e-6), 12);
    }
  });
});

describe('rmsnorm reference', () => {
  for (const [R, H, d] of [
    [1, 1, 1],
    [3, 2, 7],
    [5, 3, 4],
    [2, 1, 9],
  ] as const) {
    for (const scaled of [true, false]) {
      it(`${R}x${H}x${d}${scaled ? ' scaled' : ''}: forward and gradients`, () => {
        const s = R * 53 + H * 7 + d;
        const inputs: Record<string, Float64Array> = { x: randn(s, R * H * d, 1.5, 0.3) };
        if (scaled) {
          inputs.scale = randn(s + 1, d, 0.5, 1);
        }
        const sc = (t: Record<string, Float64Array>): Float64Array | null => (scaled ? t.scale! : null);
        // d = 1 makes y ≈ sign(x)·scale, whose x-gradient is O(eps): use a large eps there.
        const eps = d === 1 ? 0.3 : 1e-6;
        const { y, rstd } = rmsNormForward(inputs.x!, R, H, d, sc(inputs), eps);
        for (let r = 0; r < R * H; r++) {
          let ss = 0;
          for (let k = 0; k < d; k++) {
            ss += inputs.x![r * d + k]! ** 2;
          }
          const rs = 1 / Math.sqrt(ss / d + eps);
          expect(rstd[r]).toBeCloseTo(rs, 12);
          for (let k = 0; k < d; k++) {
            const want = inputs.x![r * d + k]! * rs * (scaled ? inputs.scale![k]! : 1);
            expect(Math.abs(y[r * d + k]! - want)).toBeLessThan(1e-12);
          }
        }
        const rep = gradcheck({
          inputs,
          forward: (t) => rmsNormForward(t.x!, R, H, d, sc(t), eps).y,
          backward: (t, [dy]) => {
            const f = rmsNormForward(t.x!, R, H, d, sc(t), eps);
            const g = rmsNormBackward(dy!, t.x!, f.rstd, R, H, d, sc(t));
            return { x: g.dx, scale: g.dscale };
          },
        });
        expectGrad(rep);
      });
    }
  }
});
