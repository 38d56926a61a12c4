// walt bench kernels: per-family microbenchmarks (benny), reported in GFLOP/s (compute-bound
// families) or GB/s (memory-bound ones, bytes read + written once). Each case runs the
// production wrapper and waits for the GPU.
import type { GpuContext } from '../src/gpu/context.js';
import { adalnLora } from '../src/kernels/adaln.js';
import { attention, attentionFlops } from '../src/kernels/attention.js';
import { conv3d } from '../src/kernels/conv3d.js';
import { add, gelu } from '../src/kernels/elementwise.js';
import { groupnorm } from '../src/kernels/groupnorm.js';
import { layernorm } from '../src/kernels/layernorm.js';
import { matmul } from '../src/kernels/matmul.js';
import { patchify } from '../src/kernels/patchify.js';
import { reduceAxis } from '../src/kernels/reduce.js';
import { softmax } from '../src/kernels/softmax.js';
import type { Tensor } from '../src/tensor/tensor.js';
import { Rng } from '../src/util/rng.js';
import { benchEnv, type Row } from './harness.js';
import { trainBenchCases as activationGrad } from './train/activation-grad.js';
import { trainBenchCases as adamw } from './train/adamw.js';
import { trainBenchCases as broadcastAdd } from './train/broadcast-add.js';
import { trainBenchCases as colsum } from './train/colsum.js';
import { trainBenchCases as crossAttention } from './train/cross-attention.js';
import { trainBenchCases as fourier } from './train/fourier.js';
import { trainBenchCases as linear } from './train/linear.js';
import { trainBenchCases as loss } from './train/loss.js';
import { trainBenchCases as normTrain } from './train/norm-train.js';
import { trainBenchCases as softmaxTrain } from './train/softmax.js';

const TRAIN_FAMILIES = [
  linear,
  colsum,
  normTrain,
  softmaxTrain,
  crossAttention,
  activationGrad,
  loss,
  broadcastAdd,
  fourier,
  adamw,
];

interface Case {
  family: string;
  name: string;
  /** FLOPs per run (compute-bound) … */
  flops?: number;
  /** … or bytes moved per run (memory-bound). */
  bytes?: number;
  run: () => Tensor;
}

export const KERNELS_COLUMNS = ['family', 'case', 'ms', 'gflops', 'gb_s', 'margin_pct', 'samples'];

/** Cases at sizes of the L model (`full`) or small ones that finish quickly on a software adapter. */
function cases(ctx: GpuContext, full: boolean): Case[] {
  const rng = new Rng(3);
  const t = (shape: number[], std = 1): Tensor =>
    ctx.upload(
      rng.normals(
        shape.reduce((a, c) => a * c),
        std,
      ),
      shape,
    );
  const N = full ? 1280 : 320;
  const D = full ? 1024 : 256;
  const out: Case[] = [];
  // matmul: the denoiser's MLP fc1 shape.
  {
    const a = t([N, D]);
    const w = t([D, 4 * D], 0.05);
    out.push({ family: 'matmul', name: `${N}x${4 * D}x${D}`, flops: 2 * N * 4 * D * D, run: () => matmul(ctx, a, w) });
  }
  // conv3d: an encoder level-0 ResBlock conv at a reduced resolution.
  {
    const [T, H, C] = full ? [3, 64, 128] : [2, 16, 64];
    const x = t([T, H, H, C]);
    const w = t([3, 3, 3, C, C], 0.05);
    out.push({
      family: 'conv3d',
      name: `${T}x${H}x${H}x${C}->${C} k3`,
      flops: 2 * T * H * H * C * 27 * C,
      run: () => conv3d(ctx, x, w),
    });
  }
  // attention: one spatiotemporal layer (5x8x8 windows of a 5x16x16 latent), head dim 64.
  {
    const heads = D / 64;
    const tokens = full ? 1280 : 320;
    const latent: [number, number, number] = full ? [5, 16, 16] : [5, 8, 8];
    const qkv = t([tokens, 3 * D]);
    const v = (o: number) => ({ tensor: qkv, stride: 3 * D, offset: o });
    out.push({
      family: 'attention',
      name: `${latent.join('x')} win 5x8x8 ${heads}h d64`,
      flops: attentionFlops(tokens, full ? 320 : 320, 64, heads),
      run: () =>
        attention(ctx, v(0), v(D), v(2 * D), { latent, window: full ? [5, 8, 8] : [5, 8, 8], heads, headDim: 64 }),
    });
  }
  // Memory-bound families.
  {
    const x = t([N, D]);
    const mod = t([1, 6 * D]);
    out.push({
      family: 'layernorm',
      name: `${N}x${D} modulated`,
      bytes: 2 * N * D * 4,
      run: () =>
        layernorm(ctx, x, D, {
          modulation: { table: mod, stride: 6 * D, gammaOffset: 0, betaOffset: 2 * D, rowsPerSample: N },
        }),
    });
    out.push({ family: 'elementwise', name: `add ${N}x${D}`, bytes: 3 * N * D * 4, run: () => add(ctx, x, x) });
    out.push({ family: 'elementwise', name: `gelu ${N}x${D}`, bytes: 2 * N * D * 4, run: () => gelu(ctx, x) });
    out.push({ family: 'softmax', name: `${N}x${D}`, bytes: 2 * N * D * 4, run: () => softmax(ctx, x) });
    out.push({ family: 'reduce', name: `mean (${N},${D})`, bytes: N * D * 4, run: () => reduceAxis(ctx, x, 1, N, D) });
  }
  {
    const [T, H, C] = full ? [5, 64, 128] : [5, 16, 32];
    const x = t([T, H, H, C]);
    const g = t([C]);
    out.push({
      family: 'groupnorm',
      name: `${T}x${H}x${H}x${C} +swish`,
      bytes: 3 * T * H * H * C * 4,
      run: () => groupnorm(ctx, x, g, g, 32, { swish: true }),
    });
  }
  {
    const z = t([1, 5, 16, 16, 8]);
    out.push({
      family: 'patchify',
      name: '5x16x16x8 -> 1280x16',
      bytes: (1280 * 8 + 1280 * 16) * 4,
      run: () => patchify(ctx, z, 1, 16),
    });
    const L = 24;
    const base = t([1, 6 * D]);
    const dv = t([1, L * 2]);
    const up = t([L, 6 * D, 2]);
    out.push({
      family: 'adaln',
      name: `${L} layers x 6x${D}`,
      bytes: (L * 6 * D * 2 + L * 6 * D + 6 * D) * 4,
      run: () => adalnLora(ctx, base, dv, up),
    });
  }
  return out;
}

export async function benchKernels(
  ctx: GpuContext,
  o: { full: boolean; maxTimeS: number; train?: boolean; onRow: (r: Row) => void; log: (s: string) => void },
): Promise<Row[]> {
  const env = benchEnv(ctx);
  // The training kernels (bench/train/*.ts) at the study's head sizes (full) or small ones.
  const list = o.train ? TRAIN_FAMILIES.flatMap((f) => f(ctx, o.full)) : cases(ctx, o.full);
  // Warm every case (pipeline compilation) before timing.
  for (const c of list) {
    c.run().dispose();
    await ctx.sync();
  }
  const rows: Row[] = [];
  // benny is a devDependency: loaded only here, so the CLI runs where it is not installed (a GPU kit).
  const b = (await import('benny')).default;
  // benny prints through console.log; keep stdout for our rows.
  const log = console.log;
  console.log = (...args: unknown[]) => o.log(args.map(String).join(' '));
  try {
    const summary = await b.suite(
      'walt kernels',
      ...list.map((c) =>
        b.add(
          `${c.family}: ${c.name}`,
          async () => {
            c.run().dispose();
            await ctx.sync();
          },
          { minSamples: 3, maxTime: o.maxTimeS, initCount: 1 },
        ),
      ),
    );
    summary.results.forEach((r, i) => {
      const c = list[i]!;
      const ms = 1000 / r.ops;
      const row: Row = {
        impl: 'walt',
        family: c.family,
        case: c.name,
        ms,
        gflops: c.flops ? c.flops / ms / 1e6 : null,
        gb_s: c.bytes ? c.bytes / ms / 1e6 : null,
        margin_pct: r.margin,
        samples: r.samples,
        adapter: env.adapter,
        software: env.software,
        date: env.date,
        commit: env.commit,
      };
      rows.push(row);
      o.onRow(row);
    });
  } finally {
    console.log = log;
  }
  return rows;
}
