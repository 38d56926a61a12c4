// Shared bench plumbing: environment stamp, timing loops (GPU timestamps + wall clock after a
// warm-up), stats, JSON-lines / markdown output. Benches call the production wrappers unchanged
// and add no synchronisation inside the timed region beyond one wait per timed run.
import { execFileSync } from 'node:child_process';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { GpuContext } from '../src/gpu/context.js';
import type { Dims3 } from '../src/model/config.js';
import pkg from '../package.json';

export interface BenchEnv {
  adapter: string;
  software: boolean;
  date: string;
  commit: string;
  walt: string;
  node: string;
  dawn: string;
}

let commitCache: string | null = null;

/** The git commit of the checkout the CLI runs from ('unknown' outside a checkout). */
export function gitCommit(): string {
  if (commitCache === null) {
    try {
      const here = dirname(fileURLToPath(import.meta.url));
      commitCache = execFileSync('git', ['rev-parse', '--short=12', 'HEAD'], {
        cwd: here,
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'ignore'],
      }).trim();
      const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], {
        cwd: here,
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'ignore'],
      }).trim();
      if (dirty) {
        commitCache += '-dirty';
      }
    } catch {
      commitCache = 'unknown';
    }
  }
  return commitCache;
}

export function benchEnv(ctx: GpuContext): BenchEnv {
  return {
    adapter: ctx.adapter.name,
    software: ctx.adapter.isSoftware,
    date: new Date().toISOString(),
    commit: gitCommit(),
    walt: pkg.version,
    node: process.version,
    dawn: `webgpu@${pkg.dependencies.webgpu}`,
  };
}

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export function quantile(xs: readonly number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
}

export interface TimingOptions {
  warmup: number;
  minTimeMs: number;
  minReps: number;
  maxReps: number;
}

export interface Timing {
  /** Wall time of each timed run (submit → all work done), ms. */
  wallMs: number[];
  /** GPU time of each timed run (sum of its dispatches' timestamps), ms, when available. */
  gpuMs: number[];
  /** The first (cold) run, pipeline compilation included, ms. */
  firstMs: number;
}

/**
 * Runs `encode` (which encodes the work and may dispose its outputs) once cold, `warmup` more
 * times, then until minTimeMs has passed (at least minReps, at most maxReps), waiting for the GPU
 * after each run. GPU timestamps are recorded when the adapter has 'timestamp-query'.
 */
export async function timeRuns(ctx: GpuContext, encode: () => void, t: TimingOptions): Promise<Timing> {
  const t0 = performance.now();
  encode();
  await ctx.sync();
  const firstMs = performance.now() - t0;
  for (let i = 0; i < t.warmup; i++) {
    encode();
    await ctx.sync();
  }
  const useTs = ctx.device.features.has('timestamp-query');
  const wasProfiling = ctx.isProfiling;
  if (useTs && !wasProfiling) {
    ctx.setProfiling(true);
  }
  await ctx.takeProfile();
  const wallMs: number[] = [];
  const gpuMs: number[] = [];
  const start = performance.now();
  while (wallMs.length < t.minReps || (performance.now() - start < t.minTimeMs && wallMs.length < t.maxReps)) {
    const r0 = performance.now();
    encode();
    await ctx.sync();
    wallMs.push(performance.now() - r0);
    if (useTs) {
      const recs = await ctx.takeProfile();
      gpuMs.push(recs.reduce((a, r) => a + r.ms, 0));
    }
  }
  if (useTs && !wasProfiling) {
    ctx.setProfiling(false);
  }
  return { wallMs, gpuMs, firstMs };
}

export type Row = Record<string, string | number | boolean | null>;

/** One JSON object per line on stdout (nothing else there starts with '{'). */
export function printJsonRow(row: Row): void {
  process.stdout.write(`${JSON.stringify(row)}\n`);
}

export function markdownTable(rows: readonly Row[], columns: readonly string[]): string {
  const fmt = (v: Row[string] | undefined): string =>
    v === undefined || v === null
      ? ''
      : typeof v === 'number'
        ? Number.isInteger(v)
          ? String(v)
          : v.toPrecision(4)
        : String(v);
  const lines = [`| ${columns.join(' | ')} |`, `|${columns.map(() => '---').join('|')}|`];
  for (const r of rows) {
    lines.push(`| ${columns.map((c) => fmt(r[c])).join(' | ')} |`);
  }
  return `${lines.join('\n')}\n`;
}

/** max |got − ref| / max |ref| over the sampled positions. */
export function relErrorAt(got: ArrayLike<number>, ref: ReadonlyMap<number, number>): number {
  let e = 0;
  let m = 0;
  for (const [i, v] of ref) {
    e = Math.max(e, Math.abs(got[i]! - v));
    m = Math.max(m, Math.abs(v));
  }
  return Number.isNaN(e) ? Infinity : e / Math.max(m, 1e-30);
}

/** Parses a window 'TxHxW' or 'full' (the latent itself); throws unless it tiles the latent. */
export function parseWindow(name: string, latent: Readonly<Dims3>): Dims3 {
  if (name === 'full') {
    return [...latent];
  }
  const m = /^(\d+)x(\d+)x(\d+)$/.exec(name);
  if (!m) {
    throw new Error(`window '${name}': use TxHxW (e.g. 5x8x8) or 'full'`);
  }
  const w: Dims3 = [Number(m[1]), Number(m[2]), Number(m[3])];
  if (w.some((x, i) => x < 1 || latent[i]! % x !== 0)) {
    throw new Error(`window ${name} does not tile the latent ${latent.join('x')}`);
  }
  return w;
}
