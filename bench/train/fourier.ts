// Bench cases of the fourier family (GB/s: the features written once). `full`: the depth query
// grid 128×128 with 16 bands and the point queries of a batch (32 clips × 256 tracks, 16 bands);
// small otherwise.
import type { GpuContext } from '../../src/gpu/context.js';
import { fourierFeatures, fourierGrid } from '../../src/kernels/fourier.js';
import type { Tensor } from '../../src/tensor/tensor.js';
import { Rng } from '../../src/util/rng.js';

type TrainBenchCase = { family: string; name: string; flops?: number; bytes?: number; run: () => Tensor };

export function trainBenchCases(ctx: GpuContext, full: boolean): TrainBenchCase[] {
  const g = full ? 128 : 32;
  const rows = full ? 32 * 256 : 256;
  const bands = 16;
  const rng = new Rng(24);
  const coords = ctx.upload(
    Float32Array.from({ length: rows * 2 }, () => 2 * rng.uniform() - 1),
    [rows, 2],
  );
  return [
    {
      family: 'fourier',
      name: `grid ${g}x${g} ${bands} bands`,
      bytes: g * g * 4 * bands * 4,
      run: () => fourierGrid(ctx, g, g, { bands }),
    },
    {
      family: 'fourier',
      name: `features [${rows}, 2] ${bands} bands`,
      bytes: rows * (2 + 4 * bands) * 4,
      run: () => fourierFeatures(ctx, coords, { bands }),
    },
  ];
}
