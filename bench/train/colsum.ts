// Training-kernel benchmarks of the colsum family (deterministic two-pass column sums) at the
// study's K400 readout batch (`full`: 8 clips × 4352 tokens = 34,816 rows × 1024) or small
// shapes, in GB/s (x read once, the sums written once): the bias gradient db = colsum(dY) in f32
// and f16, narrow columns (1 and 16), and the temporal positional-embedding gradient
// dpe [T, C] = Σ_b Σ_n dy[b, t, n, c] (sumOverAxes: two calls).
import type { GpuContext } from '../../src/gpu/context.js';
import { colSum, sumOverAxes } from '../../src/kernels/colsum.js';
import type { FloatDType } from '../../src/tensor/dtype.js';
import type { Tensor } from '../../src/tensor/tensor.js';
import { Rng } from '../../src/util/rng.js';

interface Case {
  family: string;
  name: string;
  flops?: number;
  bytes?: number;
  run: () => Tensor;
}

/** Cases at the study's sizes (`full`) or small ones that finish quickly on a software adapter. */
export function trainBenchCases(ctx: GpuContext, full: boolean): Case[] {
  const rng = new Rng(21);
  const [B, T, N, C] = full ? [8, 17, 256, 1024] : [2, 17, 32, 256];
  const R = B * T * N;
  const input = (shape: number[], dtype: FloatDType = 'f32'): Tensor =>
    ctx.upload(rng.normals(shape.reduce((a, b) => a * b)), shape, dtype);
  const out: Case[] = [];
  const dy = input([R, C]);
  const dy16 = input([R, C], 'f16');
  out.push({ family: 'colsum', name: `db ${R}x${C} f32`, bytes: R * C * 4 + C * 4, run: () => colSum(ctx, dy) });
  out.push({ family: 'colsum', name: `db ${R}x${C} f16`, bytes: R * C * 2 + C * 4, run: () => colSum(ctx, dy16) });
  for (const c of [16, 1]) {
    const narrow = input([R, c]);
    out.push({ family: 'colsum', name: `${R}x${c} f32`, bytes: R * c * 4 + c * 4, run: () => colSum(ctx, narrow) });
  }
  const dy4 = dy.reshape([B, T, N, C]);
  out.push({
    family: 'colsum',
    name: `dpe [${B},${T},${N},${C}] -> [${T},${C}]`,
    bytes: R * C * 4 + B * T * C * 8 + T * C * 4,
    run: () => sumOverAxes(ctx, dy4, [0, 2]),
  });
  return out;
}
