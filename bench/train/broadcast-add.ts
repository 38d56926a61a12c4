// Bench cases of the broadcast-add family (GB/s: x read, y written, pe read once). `full`: the
// temporal position embedding of a K400 batch of 32 clips' features [32, 5, 256, 1024]; small
// otherwise.
import type { GpuContext } from '../../src/gpu/context.js';
import { addTemporalPosenc } from '../../src/kernels/broadcast-add.js';
import type { Tensor } from '../../src/tensor/tensor.js';
import { Rng } from '../../src/util/rng.js';

type TrainBenchCase = { family: string; name: string; flops?: number; bytes?: number; run: () => Tensor };

export function trainBenchCases(ctx: GpuContext, full: boolean): TrainBenchCase[] {
  const [B, T, N, C] = full ? [32, 5, 256, 1024] : [2, 5, 64, 256];
  const rng = new Rng(23);
  const n = B * T * N * C;
  const cases: TrainBenchCase[] = [];
  for (const dtype of ['f32', 'f16'] as const) {
    if (dtype === 'f16' && !ctx.caps.f16) {
      continue;
    }
    const x = ctx.upload(rng.normals(n), [B, T, N, C], dtype);
    const pe = ctx.upload(rng.normals(T * C, 0.02), [T, C], dtype);
    const bytes = dtype === 'f16' ? 2 : 4;
    cases.push({
      family: 'broadcast-add',
      name: `posenc ${dtype} [${B},${T},${N},${C}]`,
      bytes: (2 * n + T * C) * bytes,
      run: () => addTemporalPosenc(ctx, x, pe),
    });
  }
  return cases;
}
