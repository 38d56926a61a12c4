// Per-adapter tuning of a kernel's tile. The kernel is an argument (a Tunable); each candidate's
// result is checked against the kernel's reference before it is timed (a tile that computes
// garbage fast never wins), and the choice is cached in a JSON file per adapter whose key covers
// the kernel file and every file it includes, so a changed lib/*.wgsl re-tunes.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { writeBytesAtomic } from '../util/atomic.js';
import { kernelFiles } from '../wgsl/kernel-files.js';
import { includeClosure } from '../wgsl/preprocess.js';
import type { GpuContext, TuningTable } from '../gpu/context.js';

/** One tuning problem: run a candidate (returns its output), and check an output. */
export interface TrialProblem<C> {
  run(candidate: C): { read(): Promise<Float32Array>; dispose(): void };
  /** null when the output matches the reference, else why not. */
  check(out: Float32Array): string | null;
  flops: number;
  dispose(): void;
}

export interface Tunable<C> {
  /** Key of the tuning table (the family name). */
  family: string;
  /** Kernel file whose include closure keys the cache. */
  file: string;
  /** Tuning classes (e.g. dtypes) on this adapter. */
  classes(ctx: GpuContext): string[];
  /** Candidates, likeliest winner first. */
  candidates(ctx: GpuContext, cls: string): C[];
  name(c: C): string;
  toRecord(c: C): Record<string, number>;
  problem(ctx: GpuContext, cls: string): TrialProblem<C>;
}

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

/** One cache file per adapter and per version of the tuned kernels' sources (includes too). */
export function tuningPath(ctx: GpuContext, tunables: readonly Tunable<unknown>[]): string {
  const a = ctx.adapter;
  const h = createHash('sha1').update(
    [a.vendor, a.architecture, a.device, a.description, a.dawnFlags.join(' ')].join('|'),
  );
  for (const t of tunables) {
    for (const f of includeClosure(t.file, kernelFiles)) {
      h.update(`${f}\n${kernelFiles[f] ?? ''}`);
    }
  }
  const name = `${a.vendor || 'gpu'}-${a.architecture || 'x'}`.replace(/[^A-Za-z0-9_-]/g, '_');
  return join(cacheDir(), 'tuning', `${name}-${h.digest('hex').slice(0, 16)}.json`);
}

async function timeCandidate<C>(ctx: GpuContext, p: TrialProblem<C>, c: C, reps: number): Promise<number> {
  const times: number[] = [];
  for (let r = 0; r < reps; r++) {
    const t0 = performance.now();
    p.run(c).dispose();
    await ctx.sync();
    times.push(performance.now() - t0);
  }
  return times.sort((x, y) => x - y)[Math.floor(times.length / 2)]!;
}

/**
 * Loads this adapter's tuning from the cache, or tunes now (writing the cache), and installs it
 * in the context. `budgetMs` caps the tuning time: later candidates are skipped when it runs out.
 */
export async function loadOrTune(
  ctx: GpuContext,
  tunables: readonly Tunable<never>[],
  opts: { force?: boolean; budgetMs?: number; log?: (s: string) => void } = {},
): Promise<TuningResult> {
  const tuns = tunables as readonly Tunable<unknown>[];
  const path = tuningPath(ctx, tuns);
  const log: string[] = [];
  const say = (s: string): void => {
    log.push(s);
    opts.log?.(s);
  };
  if (!opts.force && existsSync(path)) {
    try {
      const table = (JSON.parse(readFileSync(path, 'utf8')) as { table: TuningTable }).table;
      ctx.tuning = table;
      return { table, path, tuned: false, log };
    } catch {
      say(`tuning cache ${path} is unreadable; tuning again`);
    }
  }
  const t0 = performance.now();
  const budget = opts.budgetMs ?? 20_000;
  const table: TuningTable = {};
  for (const tun of tuns) {
    const fam: Record<string, Record<string, number>> = (table[tun.family] = {});
    for (const cls of tun.classes(ctx)) {
      const problem = tun.problem(ctx, cls);
      let best: { c: unknown; ms: number } | null = null;
      for (const c of tun.candidates(ctx, cls)) {
        if (best && performance.now() - t0 > budget) {
          say(`tuning budget used up: skipping ${tun.family} ${cls} ${tun.name(c)}`);
          continue;
        }
        try {
          const out = problem.run(c);
          const bad = problem.check(await out.read());
          out.dispose();
          if (bad) {
            say(`${tun.family} ${cls} ${tun.name(c)}: wrong result (${bad}); not a candidate`);
            continue;
          }
          const ms = await timeCandidate(ctx, problem, c, 3);
          say(
            `${tun.family} ${cls} ${tun.name(c)}: ${ms.toFixed(1)} ms (${(problem.flops / ms / 1e6).toFixed(2)} GFLOP/s)`,
          );
          if (!best || ms < best.ms) {
            best = { c, ms };
          }
        } catch (e) {
          say(
            `${tun.family} ${cls} ${tun.name(c)} failed: ${e instanceof Error ? e.message.split('\n')[0] : String(e)}`,
          );
        }
      }
      problem.dispose();
      if (best) {
        fam[cls] = tun.toRecord(best.c);
        say(`${tun.family} ${cls}: chose ${tun.name(best.c)}`);
      }
    }
  }
  ctx.tuning = table;
  mkdirSync(join(cacheDir(), 'tuning'), { recursive: true });
  await writeBytesAtomic(
    path,
    `${JSON.stringify({ adapter: ctx.adapter.name, tunedMs: Math.round(performance.now() - t0), table, log }, null, 2)}\n`,
  );
  return { table, path, tuned: true, log };
}
