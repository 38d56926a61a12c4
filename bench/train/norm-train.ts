// Training-kernel benchmarks of the norm-train family at the study's K400 readout batch (`full`:
// 8 clips × 4352 tokens = 34,816 rows × 1024) or small shapes, in GB/s counting each tensor read
// or written once: LayerNorm forward (x → y, mean, rstd) in f32 and f16, LayerNorm backward
// (dy, x → dx, dweight, dbias; the column-sum pass re-reads dy and x, which is not counted),
// the depth head's width 1088, and RMSNorm over 16 heads of 64 (forward, backward with dscale).
import type { GpuContext } from '../../src/gpu/context.js';
import { layerNormBackward, layerNormForward, rmsNormBackward, rmsNormForward } from '../../src/kernels/norm-train.js';
import { bytesPerElement, type FloatDType } from '../../src/tensor/dtype.js';
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
  const rng = new Rng(31);
  const R = full ? 8 * 17 * 256 : 2 * 17 * 32;
  const C = full ? 1024 : 256;
  const input = (shape: number[], dtype: FloatDType = 'f32', std = 1, mean = 0): Tensor =>
    ctx.upload(
      rng.normals(
        shape.reduce((a, b) => a * b),
        std,
        mean,
      ),
      shape,
      dtype,
    );
  const out: Case[] = [];
  const layerNorm = (rows: number, cols: number, dtype: FloatDType): void => {
    const x = input([rows, cols], dtype, 1, 3);
    const dy = input([rows, cols]);
    const w = input([cols], 'f32', 0.1, 1);
    const b = input([cols]);
    const bx = bytesPerElement(dtype);
    const stats = ctx.scope(() => {
      const f = layerNormForward(ctx, x, { weight: w, bias: b });
      f.y.dispose();
      return { mean: f.mean, rstd: f.rstd };
    });
    const dw = ctx.persistent([cols], 'f32', 'bench-dweight');
    const db = ctx.persistent([cols], 'f32', 'bench-dbias');
    out.push({
      family: 'norm-train',
      name: `layernorm fwd ${rows}x${cols} ${dtype}`,
      bytes: rows * cols * 2 * bx + rows * 8 + cols * 8,
      run: () => ctx.scope(() => layerNormForward(ctx, x, { weight: w, bias: b }).y),
    });
    out.push({
      family: 'norm-train',
      name: `layernorm bwd ${rows}x${cols} ${dtype} (dx, dw, db)`,
      bytes: rows * cols * (4 + bx + 4) + rows * 8 + cols * 12,
      run: () =>
        ctx.scope(
          () =>
            layerNormBackward(ctx, dy, x, stats.mean, stats.rstd, {
              weight: w,
              dweight: { tensor: dw, accumulate: false },
              dbias: { tensor: db, accumulate: false },
            }).dx!,
        ),
    });
  };
  layerNorm(R, C, 'f32');
  layerNorm(R, C, 'f16');
  layerNorm(full ? 4352 : 1088, 1088, 'f32');
  // RMSNorm over 16 (4) heads of 64, as norm_query / norm_key.
  {
    const heads = C / 64;
    const x = input([R, C]);
    const dy = input([R, C]);
    const s = input([64], 'f32', 0.1, 1);
    const rstd = ctx.scope(() => {
      const f = rmsNormForward(ctx, x, { heads, dim: 64, scale: s });
      f.y.dispose();
      return f.rstd;
    });
    const ds = ctx.persistent([64], 'f32', 'bench-dscale');
    out.push({
      family: 'norm-train',
      name: `rmsnorm fwd ${R}x${heads}x64 f32`,
      bytes: R * C * 8 + R * heads * 4,
      run: () => ctx.scope(() => rmsNormForward(ctx, x, { heads, dim: 64, scale: s }).y),
    });
    out.push({
      family: 'norm-train',
      name: `rmsnorm bwd ${R}x${heads}x64 f32 (dx, dscale)`,
      bytes: R * C * 12 + R * heads * 4,
      run: () =>
        ctx.scope(
          () =>
            rmsNormBackward(ctx, dy, x, rstd, {
              heads,
              dim: 64,
              scale: s,
              dscale: { tensor: ds, accumulate: false },
            }).dx!,
        ),
    });
  }
  return out;
}
