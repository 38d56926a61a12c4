// walt bench readout: one training step of a readout head (forward, backward, AdamW) on a batch
// of random features and targets of the head's sizes, in ms, samples/s and GFLOP/s. Single-query
// heads (attention, camera) run twice in the same process on the same batch and weights: `walt`
// (the fast form, no keys or values materialised) and `walt-direct` (the generic cross-attention
// path); their loss and grad_norm agree, which shows they compute the same step.
import type { GpuContext } from '../src/gpu/context.js';
import { gradNormSquared } from '../src/kernels/adamw.js';
import type { HostBatch } from '../src/readout/batch.js';
import { initHeadWeights } from '../src/readout/init.js';
import type { AttentionForm } from '../src/readout/heads.js';
import { ReadoutRunner } from '../src/readout/runner.js';
import { type HeadConfig, paramCount, resolveHead } from '../src/readout/spec.js';
import { Rng } from '../src/util/rng.js';
import { benchEnv, type Row } from './harness.js';
import { median } from './stats.js';

export const READOUT_COLUMNS = [
  'impl',
  'head',
  'batch',
  'ms',
  'ms_min',
  'reps',
  'samples_s',
  'gflops',
  'loss',
  'grad_norm',
  'params',
  'first_ms',
];

/** Random features [B, T, N, C] and targets of the head's kind (T 17, N 256 unless given). */
export function syntheticBatch(
  cfg: HeadConfig,
  B: number,
  o: { T?: number; N?: number; M?: number; seed?: number } = {},
): HostBatch {
  const rng = new Rng(o.seed ?? 1);
  const T = cfg.kind === 'attention' ? cfg.T : (o.T ?? 17);
  const N = o.N ?? 256;
  const C = cfg.kind === 'camera' ? cfg.C / 2 : cfg.C;
  const b: HostBatch = { B, T, N, C, features: rng.normals(B * T * N * C) };
  switch (cfg.kind) {
    case 'attention':
      b.labels = Int32Array.from({ length: B }, () => Math.floor(rng.uniform() * cfg.K));
      break;
    case 'camera':
      b.pose = rng.normals(B * 12, 0.5);
      break;
    case 'depth': {
      const [H, W] = [32, 32];
      b.depth = { H, W, data: Float32Array.from({ length: B * T * H * W }, () => 0.5 + 4 * rng.uniform()) };
      break;
    }
    case 'points':
    case 'boxes': {
      const M = o.M ?? (cfg.kind === 'points' ? 64 : 25);
      b.M = M;
      b.queries = Float32Array.from({ length: B * M * cfg.n_coords }, () => 2 * rng.uniform() - 1);
      b.queryFrames = new Int32Array(B * M);
      b.tracks = Float32Array.from({ length: B * T * M * cfg.n_values }, () => rng.uniform());
      b.visible = Float32Array.from({ length: B * T * M }, () => (rng.uniform() < 0.8 ? 1 : 0));
      break;
    }
  }
  return b;
}

/**
 * FLOPs of one step's dominant products (2 per multiply-add; forward + backward). Single-query
 * heads: fast = 4 passes of (B·T·N)·C·heads over the normalised features (scores, pooling, and
 * their two backward products); direct = the key and value projections, forward and backward
 * (input and weight gradients): 6 · 2·(B·T·N)·C·P. Other heads: 3× their forward matmuls.
 */
export function stepFlops(cfg: HeadConfig, b: HostBatch, form: AttentionForm, grid: readonly [number, number]): number {
  switch (cfg.kind) {
    case 'attention':
    case 'camera': {
      const keys = b.B * (cfg.kind === 'camera' ? 1 : cfg.T) * b.N;
      return form === 'fast' ? 4 * 2 * keys * cfg.C * cfg.heads : 6 * 2 * keys * cfg.C * cfg.P;
    }
    case 'depth': {
      const w = cfg.C + 4 * cfg.nfb;
      const q = b.B * b.T * grid[0] * grid[1];
      const kv = b.B * b.T * b.N;
      const perLayer =
        2 * q * w * cfg.qkv * 2 +
        2 * kv * cfg.C * cfg.qkv * 2 +
        ((2 * q * kv) / (b.B * b.T)) * cfg.qkv * 2 +
        2 * q * w * cfg.mlp * 2;
      return 3 * cfg.layers * perLayer;
    }
    case 'points':
    case 'boxes': {
      const rows = b.B * (b.M ?? 1);
      const kv = b.B * b.N;
      const perLayer =
        2 * rows * cfg.width * cfg.qkv * 2 +
        2 * kv * cfg.C * cfg.qkv * 2 +
        2 * rows * b.N * cfg.qkv * 2 +
        2 * rows * cfg.width * cfg.mlp * 2;
      const perFrame = cfg.layers * perLayer + 2 * rows * cfg.width * cfg.width * 8;
      return 3 * b.T * perFrame;
    }
  }
}

export interface ReadoutBenchOptions {
  head: string;
  batch: number;
  reps: number;
  grid?: [number, number];
  /** Which forms (single-query heads); default both. */
  forms?: AttentionForm[];
  signal?: AbortSignal;
  onRow?: (r: Row) => void;
  log?: (s: string) => void;
}

/** Times `reps` full training steps per implementation after one untimed (compiling) step. */
export async function benchReadout(ctx: GpuContext, o: ReadoutBenchOptions): Promise<Row[]> {
  const cfg = resolveHead(o.head);
  const grid = o.grid ?? [32, 32];
  const batch = syntheticBatch(cfg, o.batch);
  const weights = initHeadWeights(cfg, 'flax', 0);
  const single = cfg.kind === 'attention' || cfg.kind === 'camera';
  const forms: AttentionForm[] = single ? (o.forms ?? ['fast', 'direct']) : ['fast'];
  const env = benchEnv(ctx);
  const rows: Row[] = [];
  for (const form of forms) {
    if (o.signal?.aborted) {
      break;
    }
    const impl = form === 'fast' ? 'walt' : 'walt-direct';
    const r = new ReadoutRunner(ctx, cfg, weights, { form, grid });
    try {
      // The first step compiles the pipelines (cold start, reported apart); its loss and gradient
      // norm, from the initial weights, are the row's.
      const t0 = performance.now();
      const loss = await r.lossAndGrad(batch);
      const g2 = gradNormSquared(ctx, r.params.grads);
      const gradNorm = Math.sqrt((await g2.read())[0]!);
      g2.dispose();
      r.update(0, { lr: 1e-4, weightDecay: 1e-4 });
      await ctx.sync();
      const firstMs = performance.now() - t0;
      o.log?.(
        `${impl} ${o.head} batch ${o.batch}: first step ${(firstMs / 1000).toFixed(2)} s (compiles), loss ${loss.toFixed(5)}`,
      );
      const times: number[] = [];
      for (let i = 0; i < o.reps && !o.signal?.aborted; i++) {
        const t = performance.now();
        await r.lossAndGrad(batch);
        r.update(i + 1, { lr: 1e-4, weightDecay: 1e-4 });
        await ctx.sync();
        times.push(performance.now() - t);
        o.log?.(`${impl} step ${i + 1}/${o.reps}: ${times.at(-1)!.toFixed(0)} ms`);
      }
      if (times.length === 0) {
        break;
      }
      const ms = median(times);
      const row: Row = {
        impl,
        head: o.head,
        batch: o.batch,
        ms,
        ms_min: Math.min(...times),
        reps: times.length,
        samples_s: o.batch / (ms / 1000),
        gflops: stepFlops(cfg, batch, form, grid) / (ms * 1e6),
        loss,
        grad_norm: gradNorm,
        params: paramCount(cfg),
        first_ms: firstMs,
        adapter: env.adapter,
        software: env.software,
        date: env.date,
        commit: env.commit,
      };
      rows.push(row);
      o.onRow?.(row);
    } finally {
      r.dispose();
    }
  }
  const fast = rows.find((x) => x.impl === 'walt');
  const direct = rows.find((x) => x.impl === 'walt-direct');
  if (fast && direct) {
    o.log?.(
      `one step: walt ${(fast.ms as number).toFixed(0)} ms vs walt-direct ${(direct.ms as number).toFixed(0)} ms = ${((direct.ms as number) / (fast.ms as number)).toFixed(1)}× faster`,
    );
  }
  return rows;
}
