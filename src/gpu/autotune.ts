// Per-adapter tuning of the matmul/conv register tiles. The choice is cached in a JSON file per
// adapter (and per kernel source), so a real GPU never pays for what won on a software adapter,
// and the tuner runs only when its cache is missing (≤ ~30 s on a 2-core software adapter).
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { matmul, tileName, tileToRecord, type MatmulTile } from '../kernels/matmul.js';
import type { FloatDType } from '../tensor/dtype.js';
import { writeBytesAtomic } from '../util/atomic.js';
import { Rng } from '../util/rng.js';
import type { GpuContext } from './context.js';
import { kernelFiles } from './kernel-files.js';

export type TuningTable = Record<string, Record<string, Record<string, number>>>;

export interface TuningResult {
  table: TuningTable;
  path: string;
  /** True when the tuner ran now (no cache). */
  tuned: boolean;
  log: string[];
}

/** Where caches live: $WALT_CACHE_DIR, else $XDG_CACHE_HOME/walt-webgpu, else ~/.cache/walt-webgpu. */
export function cacheDir(): string {
  return process.env.WALT_CACHE_DIR ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'walt-webgpu');
}

/** One cache file per adapter and kernel source version. */
export function tuningPath(ctx: GpuContext): string {
  const a = ctx.adapter;
  const key = createHash('sha1')
    .update([a.vendor, a.architecture, a.device, a.description, a.dawnFlags.join(' ')].join('|'))
    .update(kernelFiles['matmul.wgsl'] ?? '')
    .update(kernelFiles['conv3d.wgsl'] ?? '')
    .digest('hex')
    .slice(0, 16);
  const name = `${a.vendor || 'gpu'}-${a.architecture || 'x'}`.replace(/[^A-Za-z0-9_-]/g, '_');
  return join(cacheDir(), 'tuning', `${name}-${key}.json`);
}

/** Candidate tiles for this adapter, best guess first. */
export function candidateTiles(ctx: GpuContext): MatmulTile[] {
  const out: MatmulTile[] = [];
  if (ctx.caps.subgroups) {
    const sg = Math.min(ctx.caps.subgroupSize, 32);
    const shapes: [number, number][] = ctx.caps.isSoftware
      ? [
          [24, 2],
          [32, 2],
          [16, 2],
          [32, 1],
        ]
      : [
          [16, 2],
          [8, 4],
          [32, 2],
          [16, 4],
        ];
    for (const [TM, CV] of shapes) {
      out.push({ kind: 'subgroup', TM, CV, SG: sg });
    }
  }
  // The portable tile is 4–5× slower than the subgroup tile on llvmpipe (measured): only try it
  // where there are no subgroups, or on hardware where it may win.
  if (!ctx.caps.subgroups || !ctx.caps.isSoftware) {
    out.push({ kind: 'portable', TM: 8, TN: 4, WG: ctx.caps.isSoftware ? 8 : 64 });
  }
  return out;
}

/** Times one tile on an (n × n × n) product: median of `reps` after a warm-up (which compiles). */
async function timeTile(
  ctx: GpuContext,
  tile: MatmulTile,
  dtype: FloatDType,
  n: number,
  reps: number,
): Promise<number> {
  const rng = new Rng(7);
  return ctx.scope(async () => {
    const a = ctx.upload(rng.normals(n * n), [n, n], dtype);
    const b = ctx.upload(rng.normals(n * n), [n, n], dtype);
    matmul(ctx, a, b, { tile }).dispose();
    await ctx.sync();
    const times: number[] = [];
    for (let r = 0; r < reps; r++) {
      const t0 = performance.now();
      matmul(ctx, a, b, { tile }).dispose();
      await ctx.sync();
      times.push(performance.now() - t0);
    }
    times.sort((x, y) => x - y);
    return times[Math.floor(times.length / 2)]!;
  });
}

/**
 * Loads this adapter's tuning from the cache, or tunes now (writing the cache), and installs it
 * in the context. `budgetMs` caps the tuning time: later candidates are skipped when it runs out.
 */
export async function loadOrTune(
  ctx: GpuContext,
  opts: { force?: boolean; budgetMs?: number; log?: (s: string) => void } = {},
): Promise<TuningResult> {
  const path = tuningPath(ctx);
  const log: string[] = [];
  const say = (s: string): void => {
    log.push(s);
    opts.log?.(s);
  };
  if (!opts.force && existsSync(path)) {
    try {
      const table = (JSON.parse(readFileSync(path, 'utf8')) as { table: TuningTable }).table;
      ctx.setTuning(table);
      return { table, path, tuned: false, log };
    } catch {
      say(`tuning cache ${path} is unreadable; tuning again`);
    }
  }
  const t0 = performance.now();
  // The whole tuning must stay under ~30 s on a 2-core software adapter with a cold shader cache
  // (each candidate's first dispatch compiles it): stop starting new candidates after 20 s.
  const budget = opts.budgetMs ?? 20_000;
  const n = ctx.caps.isSoftware ? 512 : 2048;
  const table: TuningTable = { matmul: {} };
  const dtypes: FloatDType[] = ctx.caps.f16 ? ['f32', 'f16'] : ['f32'];
  for (const dtype of dtypes) {
    let best: { tile: MatmulTile; ms: number } | null = null;
    const candidates = candidateTiles(ctx);
    for (const tile of dtype === 'f32' ? candidates : candidates.slice(0, 2)) {
      if (best && performance.now() - t0 > budget) {
        say(`tuning budget used up: skipping ${tileName(tile)} (${dtype})`);
        continue;
      }
      try {
        const ms = await timeTile(ctx, tile, dtype, n, 3);
        say(
          `matmul ${dtype} ${n}³ ${tileName(tile)}: ${ms.toFixed(1)} ms (${((2 * n ** 3) / ms / 1e6).toFixed(2)} GFLOP/s)`,
        );
        if (!best || ms < best.ms) {
          best = { tile, ms };
        }
      } catch (e) {
        say(`matmul ${dtype} ${tileName(tile)} failed: ${e instanceof Error ? e.message.split('\n')[0] : String(e)}`);
      }
    }
    if (best) {
      table.matmul![dtype] = tileToRecord(best.tile);
      say(`matmul ${dtype}: chose ${tileName(best.tile)}`);
    }
  }
  ctx.setTuning(table);
  mkdirSync(join(cacheDir(), 'tuning'), { recursive: true });
  await writeBytesAtomic(
    path,
    `${JSON.stringify({ adapter: ctx.adapter.name, tunedMs: Math.round(performance.now() - t0), table, log }, null, 2)}\n`,
  );
  return { table, path, tuned: true, log };
}
