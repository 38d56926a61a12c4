// Training-kernel benchmarks of the linear backward through matmul at the K400 readout head's
// shapes (`full`: dY, X [34,816 × 1024], W [1024, 1024]) or small ones, in GFLOP/s:
// dW += dYᵀ·X (transA, accumulate into a persistent gradient; operands above a storage binding
// are summed in K chunks) and dX = dY·W (a PyTorch [out, in] weight, no transpose).
import type { GpuContext } from '../../src/gpu/context.js';
import { matmul, matmulFlops } from '../../src/kernels/matmul.js';
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
  const rng = new Rng(22);
  const [R, IN, OUT] = full ? [34816, 1024, 1024] : [1088, 256, 256];
  const input = (shape: number[]): Tensor => ctx.upload(rng.normals(shape.reduce((a, b) => a * b)), shape);
  const dy = input([R, OUT]);
  const x = input([R, IN]);
  const w = input([OUT, IN]);
  const dw = ctx.persistent([OUT, IN], 'f32', 'bench.dW');
  return [
    {
      family: 'matmul',
      name: `dW += dYᵀ·X [${OUT},${IN}] from R=${R}`,
      flops: matmulFlops(OUT, IN, R),
      // The gradient is persistent: hand back a view, which the caller may dispose.
      run: () => matmul(ctx, dy, x, { transA: true, out: dw, accumulate: true }).view(0, [OUT, IN]),
    },
    {
      family: 'matmul',
      name: `dX = dY·W [${R},${IN}]`,
      flops: matmulFlops(R, IN, OUT),
      run: () => matmul(ctx, dy, w),
    },
  ];
}
