// Shared bench plumbing: environment stamp, GPU timestamps in runs of their own, progress, the
// scope notes and same-scope ratios of result files, markdown output, and the sampled CPU
// references (thin wrappers that run src/ref on a sliced problem). The timing loop and the stats
// are in stats.ts. Benches call the production wrappers unchanged and add no synchronisation
// inside the timed region beyond one wait per timed run.
import { execFileSync } from 'node:child_process';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { GpuContext } from '../src/gpu/context.js';
import type { Dims3 } from '../src/model/config.js';
import { attentionRef } from '../src/ref/attention.js';
import { matmulRef } from '../src/ref/matmul.js';
import { Rng } from '../src/util/rng.js';
import pkg from '../package.json';
import { SCOPES, type Scope } from './stats.js';

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

/**
 * The git commit of the checkout the CLI runs from; outside a checkout (a copy of the tree on a lent
 * GPU machine) the value of WALT_COMMIT, else 'unknown'.
 */
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
      commitCache = process.env.WALT_COMMIT || 'unknown';
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

export { median, summarize, timeRuns, repsFor, SCOPES, type Scope, type RunCount, type TimeStats } from './stats.js';

/** How our rows ('walt', 'walt-naive') time each scope, for result files. */
export const WALT_SCOPE_NOTES: Readonly<Record<Scope, string>> = {
  host: 'ctx.upload of the inputs, the kernels, readRaw of the output (f16 stays f16 bits), dispose',
  device: 'inputs resident, output left on the GPU, flush + queue.onSubmittedWorkDone (ctx.sync)',
};

/**
 * GPU time (sum of the per-dispatch timestamps) of each of `reps` runs of `encode`, in runs of their
 * own: the wall-clock runs of a row are never profiled (profiling puts every dispatch in a pass of
 * its own, which changes the wall time). Empty when the adapter has no 'timestamp-query'.
 */
export async function gpuTimes(ctx: GpuContext, encode: () => void, reps: number): Promise<number[]> {
  if (!ctx.device.features.has('timestamp-query')) {
    return [];
  }
  const was = ctx.isProfiling;
  ctx.setProfiling(true);
  try {
    await ctx.takeProfile();
    const out: number[] = [];
    for (let i = 0; i < reps; i++) {
      encode();
      const recs = await ctx.takeProfile();
      out.push(recs.reduce((a, r) => a + r.ms, 0));
    }
    return out;
  } finally {
    ctx.setProfiling(was);
  }
}

/** A row of a result file: one implementation, one scope, one case. */
export type Row = Record<string, string | number | boolean | null>;

/**
 * Progress of a long bench on stderr: `[i/n] what (elapsed, about T left)`, the time left estimated
 * from the mean time per step so far.
 */
export class Progress {
  private done = 0;
  private readonly t0 = performance.now();

  constructor(
    private readonly total: number,
    private readonly log: (s: string) => void,
  ) {}

  /** Announces the start of the next step. */
  step(what: string): void {
    this.done = Math.min(this.total, this.done + 1);
    const elapsed = (performance.now() - this.t0) / 1000;
    const left = this.done > 1 ? (elapsed / (this.done - 1)) * (this.total - this.done + 1) : null;
    this.log(
      `[${this.done}/${this.total}] ${what} (${formatSeconds(elapsed)} elapsed${
        left !== null ? `, about ${formatSeconds(left)} left` : ''
      })`,
    );
  }
}

function formatSeconds(s: number): string {
  return s < 90 ? `${s.toFixed(0)} s` : `${(s / 60).toFixed(1)} min`;
}

/**
 * For every row, `walt_x` = row.ms / ms of the 'walt' row of the same case and scope (how many times
 * as fast ours is; 1 for ours) and `walt_x_min` the same by best runs. `caseKeys` name the fields that
 * make a case (e.g. m, n, k, dtype). Rows of another scope are never compared; a row whose case has
 * no 'walt' row gets null. Accuracy does not enter: a peer that fails its check still counts for speed.
 */
export function addWaltRatios(rows: Row[], caseKeys: readonly string[]): void {
  const key = (r: Row): string => [...caseKeys, 'scope'].map((k) => String(r[k])).join('|');
  const ours = new Map(rows.filter((r) => r.impl === 'walt').map((r) => [key(r), r]));
  for (const r of rows) {
    const w = ours.get(key(r));
    r.walt_x = w ? (r.ms as number) / (w.ms as number) : null;
    r.walt_x_min = w ? (r.ms_min as number) / (w.ms_min as number) : null;
  }
}

/** Host-scope rows first (the headline), then device-scope rows; otherwise in measured order. */
export function byScope(rows: readonly Row[]): Row[] {
  return [...rows.filter((r) => r.scope === 'host'), ...rows.filter((r) => r.scope !== 'host')];
}

/**
 * A markdown header for a result file: date, adapter, commit, and how each implementation times each
 * scope (`notes`: impl → scope → how), with the rule that ratios compare rows of one scope.
 */
export function scopeHeader(env: BenchEnv, notes: ReadonlyMap<string, Partial<Record<Scope, string>>>): string {
  const lines = [
    `${env.date} · ${env.adapter}${env.software ? ' (software adapter)' : ''} · commit ${env.commit} · ${env.dawn} · node ${env.node}`,
    '',
    "Scopes (`scope` column): **host** = upload of the inputs + compute + download of the output, as a caller of the library sees it; **device** = inputs resident, output left on the GPU, submit to completion. `walt_x` = this row's median ms / walt's, same case and same scope only (`walt_x_min`: by best runs). `ms` median and `ms_min` best of `reps` timed runs, the same count for every implementation of a case. Per-dispatch GPU timestamps (`gpu_ms`) come from separate runs. A row that fails its accuracy check (`ok` false) still counts for speed.",
    '',
  ];
  for (const [impl, n] of notes) {
    for (const sc of SCOPES) {
      lines.push(`- ${impl} ${sc}: ${n[sc] ?? 'not available'}`);
    }
  }
  return lines.join('\n');
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

/**
 * float64 C = A·B at the rows `rows` of C (every column), by src/ref/matmul.ts on the slice of A that
 * holds those rows. A [m,k], B [k,n] row-major. Keys: flat index i·n + j of C.
 */
export function matmulRefRows(
  a: Float32Array,
  b: Float32Array,
  m: number,
  n: number,
  k: number,
  rows: readonly number[],
): Map<number, number> {
  const sliced = new Float32Array(rows.length * k);
  rows.forEach((i, r) => {
    if (i < 0 || i >= m) {
      throw new RangeError(`matmulRefRows: row ${i} outside [0, ${m})`);
    }
    sliced.set(a.subarray(i * k, (i + 1) * k), r * k);
  });
  const c = matmulRef({ a: sliced, b, m: rows.length, n, k });
  const out = new Map<number, number>();
  rows.forEach((i, r) => {
    for (let j = 0; j < n; j++) {
      out.set(i * n + j, c[r * n + j]!);
    }
  });
  return out;
}

/** Rows of C that matmulRefRows checks: first, last and `count − 2` more drawn with a fixed seed. */
export function sampleRows(m: number, count: number, seed: number): number[] {
  const rng = new Rng(seed, 99);
  const picks = new Set<number>([0, m - 1]);
  while (picks.size < Math.min(m, count)) {
    picks.add(rng.int(m));
  }
  return [...picks].sort((x, y) => x - y);
}

/** Windowed attention values in the peers' partitioned layout [windows, nw, heads, headDim]. */
export interface PartitionedAttention {
  q: Float32Array;
  k: Float32Array;
  v: Float32Array;
  windows: number;
  /** Tokens per window. */
  nw: number;
  heads: number;
  headDim: number;
}

/**
 * float64 softmax(q·kᵀ/√d)·v for the (window, head) pairs `pairs`, every query row of each, by
 * src/ref/attention.ts on the sliced problem (that window's tokens, that head's columns, as a latent
 * of one window). Keys: flat indices into the partitioned layout, ((w·nw + n)·heads + h)·headDim + d.
 */
export function attentionRefSampled(
  p: PartitionedAttention,
  pairs: readonly (readonly [number, number])[],
): Map<number, number> {
  const { nw, heads, headDim: dh } = p;
  const width = heads * dh;
  const out = new Map<number, number>();
  const slice = (x: Float32Array, w: number, h: number): Float32Array => {
    const s = new Float32Array(nw * dh);
    for (let n = 0; n < nw; n++) {
      const o = (w * nw + n) * width + h * dh;
      s.set(x.subarray(o, o + dh), n * dh);
    }
    return s;
  };
  for (const [w, h] of pairs) {
    if (w < 0 || w >= p.windows || h < 0 || h >= heads) {
      throw new RangeError(`attentionRefSampled: (window ${w}, head ${h}) outside ${p.windows} × ${heads}`);
    }
    const o = attentionRef({
      q: slice(p.q, w, h),
      k: slice(p.k, w, h),
      v: slice(p.v, w, h),
      latent: [1, 1, nw],
      window: [1, 1, nw],
      heads: 1,
      headDim: dh,
    });
    for (let n = 0; n < nw; n++) {
      for (let d = 0; d < dh; d++) {
        out.set((w * nw + n) * width + h * dh + d, o[n * dh + d]!);
      }
    }
  }
  return out;
}

/**
 * (window, head) pairs whose every row attentionRefSampled checks: the first and the last, then more
 * drawn with a fixed seed while the reference costs under `budget` multiply-adds (2·nw²·headDim each).
 */
export function samplePairs(
  windows: number,
  heads: number,
  nw: number,
  headDim: number,
  seed: number,
  budget = 1.5e8,
): [number, number][] {
  const total = windows * heads;
  const want = Math.min(total, Math.max(2, Math.floor(budget / (2 * nw * nw * headDim))), 16);
  const rng = new Rng(seed, 7);
  const picks = new Set<number>([0, total - 1]);
  while (picks.size < want) {
    picks.add(rng.int(total));
  }
  return [...picks].sort((x, y) => x - y).map((i) => [Math.floor(i / heads), i % heads]);
}
