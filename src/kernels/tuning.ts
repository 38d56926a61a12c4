// What the autotuner (src/tune/autotune.ts) tunes: the matmul tile (conv3d shares it). Each
// candidate's product is checked against the float64 reference before it is timed.
import type { GpuContext } from '../gpu/context.js';
import { matmulRef } from '../ref/matmul.js';
import type { FloatDType } from '../tensor/dtype.js';
import { loadOrTune as tune, type Tunable, type TuningResult } from '../tune/autotune.js';
import { Rng } from '../util/rng.js';
import { candidateTiles, matmul, type MatmulTile, tileName, tileToRecord } from './matmul.js';

/** The matmul tile per dtype, on an n³ product (512 on software adapters, 2048 on GPUs). */
export const matmulTunable: Tunable<MatmulTile> = {
  family: 'matmul',
  file: 'matmul.wgsl',
  classes: (ctx) => (ctx.caps.f16 ? ['f32', 'f16'] : ['f32']),
  candidates: (ctx, cls) => {
    const all = candidateTiles(ctx.caps);
    return cls === 'f32' ? all : all.slice(0, 2);
  },
  name: tileName,
  toRecord: tileToRecord,
  problem: (ctx, cls) => {
    const n = ctx.caps.isSoftware ? 512 : 2048;
    const dtype = cls as FloatDType;
    const rng = new Rng(7);
    const av = rng.normals(n * n);
    const bv = rng.normals(n * n);
    const a = ctx.upload(av, [n, n], dtype);
    const b = ctx.upload(bv, [n, n], dtype);
    // Rows spread over the matrix, checked against f64 (f16 storage: 2e-2 of the largest value).
    const rows = [0, 1, n >> 1, n - 1];
    const want = rows.map((r) => matmulRef({ a: av.subarray(r * n, (r + 1) * n), b: bv, m: 1, n, k: n }));
    const tol = dtype === 'f32' ? 1e-4 : 2e-2;
    return {
      run: (tile) => matmul(ctx, a, b, { tile }),
      check: (out) => {
        for (let i = 0; i < rows.length; i++) {
          let err = 0;
          let ref = 0;
          for (let j = 0; j < n; j++) {
            err = Math.max(err, Math.abs(out[rows[i]! * n + j]! - want[i]![j]!));
            ref = Math.max(ref, Math.abs(want[i]![j]!));
          }
          if (!(err <= tol * ref)) {
            return `row ${rows[i]}: max|Δ| ${err.toExponential(2)} vs max|ref| ${ref.toExponential(2)}`;
          }
        }
        return null;
      },
      flops: 2 * n ** 3,
      dispose: () => {
        a.dispose();
        b.dispose();
      },
    };
  },
};

/** Every tunable kernel. */
export const tunables = [matmulTunable] as const;

/** Loads this adapter's tuning from the cache, or tunes now (see src/tune/autotune.ts). */
export function loadOrTune(
  ctx: GpuContext,
  opts: { force?: boolean; budgetMs?: number; log?: (s: string) => void } = {},
): Promise<TuningResult> {
  return tune(ctx, tunables as unknown as Tunable<never>[], opts);
}
