// Training-kernel benchmarks of the softmax family: forward and backward over the single-query
// readout's rows (heads × T·N keys per clip, `full`: batch 8, 16 heads, 4,352 keys), in GB/s
// (forward: x read and y written once; backward: dy and y read, dx written).
import type { GpuContext } from '../../src/gpu/context.js';
import { softmax, softmaxBackward } from '../../src/kernels/softmax.js';
import type { Tensor } from '../../src/tensor/tensor.js';
import { Rng } from '../../src/util/rng.js';

interface Case {
  family: string;
  name: string;
  flops?: number;
  bytes?: number;
  run: () => Tensor;
}

export function trainBenchCases(ctx: GpuContext, full: boolean): Case[] {
  const rng = new Rng(13);
  const [rows, cols] = full ? [8 * 16, 4352] : [2 * 16, 1088];
  const x = ctx.upload(rng.normals(rows * cols), [rows, cols]);
  const dy = ctx.upload(rng.normals(rows * cols), [rows, cols]);
  const y = softmax(ctx, x);
  const bytes = rows * cols * 4;
  return [
    { family: 'softmax', name: `forward ${rows}x${cols}`, bytes: 2 * bytes, run: () => softmax(ctx, x) },
    {
      family: 'softmax',
      name: `backward ${rows}x${cols}`,
      bytes: 3 * bytes,
      run: () => softmaxBackward(ctx, dy, y),
    },
  ];
}
