// Bench cases of the activation-grad family (GB/s: bytes read + written once). `full`: the MLP
// hidden activation of the study's heads over a batch, 34,816 tokens × 4,096 (the sizes the
// lead's `walt bench kernels` wiring runs on a GPU); small otherwise.
import type { GpuContext } from '../../src/gpu/context.js';
import { geluBackward, sigmoidForward } from '../../src/kernels/activation-grad.js';
import type { Tensor } from '../../src/tensor/tensor.js';
import { Rng } from '../../src/util/rng.js';

type TrainBenchCase = { family: string; name: string; flops?: number; bytes?: number; run: () => Tensor };

export function trainBenchCases(ctx: GpuContext, full: boolean): TrainBenchCase[] {
  const [R, C] = full ? [34816, 4096] : [1024, 1024];
  const n = R * C;
  const rng = new Rng(21);
  // Random rows, a block of them written repeatedly (host memory stays small at full size).
  const blockRows = Math.min(R, 256);
  const fill = (dtype: 'f32' | 'f16', std: number): Tensor => {
    const t = ctx.persistent([R, C], dtype, 'bench');
    const block = rng.normals(blockRows * C, std);
    for (let r = 0; r < R; r += blockRows) {
      const rows = Math.min(blockRows, R - r);
      const view = t.view(r * C, [rows, C]);
      ctx.writeTensor(view, block.subarray(0, rows * C));
      view.dispose();
    }
    return t;
  };
  const x = fill('f32', 2);
  const dy = fill('f32', 1);
  const x16 = fill('f16', 2);
  const dx = ctx.persistent([R, C], 'f32', 'bench-dx');
  const into = { dx: { tensor: dx, accumulate: false } };
  return [
    {
      family: 'activation-grad',
      name: `gelu_bwd f32 ${R}x${C}`,
      bytes: 3 * n * 4,
      run: () => geluBackward(ctx, dy, x, into).view(0, [1]),
    },
    {
      family: 'activation-grad',
      name: `gelu_bwd x f16, grad f32 ${R}x${C}`,
      bytes: n * (4 + 2 + 4),
      run: () => geluBackward(ctx, dy, x16, into).view(0, [1]),
    },
    {
      family: 'activation-grad',
      name: `gelu_bwd f32 += ${R}x${C}`,
      bytes: 4 * n * 4,
      run: () => geluBackward(ctx, dy, x, { dx: { tensor: dx, accumulate: true } }).view(0, [1]),
    },
    {
      family: 'activation-grad',
      name: `sigmoid_fwd f32 ${R}x${C}`,
      bytes: 2 * n * 4,
      run: () => sigmoidForward(ctx, x, { out: dx }).view(0, [1]),
    },
  ];
}
