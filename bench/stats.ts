// The one timing loop and the one set of statistics every bench row comes from: ours and every
// peer run the same protocol (one cold run, `warmup` untimed runs, exactly `reps` timed runs)
// and their rows get median and best from the same function, over the same number of runs.

/**
 * What a row's time covers.
 * - 'host': as a caller of the library sees it: upload of the inputs, the compute, download of the
 *   output into a typed array (f16 stays f16 bits: no CPU conversion is timed for anybody).
 * - 'device': inputs already resident on the GPU, output left there, from submit to completion.
 */
export type Scope = 'host' | 'device';

export const SCOPES: readonly Scope[] = ['host', 'device'];

export interface RunCount {
  /** Untimed runs after the first (cold) one. */
  warmup: number;
  /** Timed runs, exactly (at least 1). */
  reps: number;
}

export interface Samples<R> {
  /** Wall time of each timed run, ms. */
  times: number[];
  /** The first (cold) run, compilation and per-shape setup included, ms. */
  firstMs: number;
  /** The result of the last run. */
  last: R;
}

/**
 * Runs `run` once cold (timed as firstMs, plus `setupMs` measured by the caller), `t.warmup` times
 * untimed, then exactly `t.reps` (≥ 1) timed runs; each run is awaited before the next starts.
 */
export async function timeRuns<R>(run: () => Promise<R>, t: RunCount, setupMs = 0): Promise<Samples<R>> {
  const t0 = performance.now();
  let last = await run();
  const firstMs = setupMs + (performance.now() - t0);
  for (let i = 0; i < t.warmup; i++) {
    last = await run();
  }
  const times: number[] = [];
  for (let i = 0; i < Math.max(1, t.reps); i++) {
    const s = performance.now();
    last = await run();
    times.push(performance.now() - s);
  }
  return { times, firstMs, last };
}

/** The median of `xs` (mean of the two middle values for an even count); NaN when empty. */
export function median(xs: readonly number[]): number {
  if (xs.length === 0) {
    return NaN;
  }
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export interface TimeStats {
  /** Median wall time of the timed runs, ms. */
  ms: number;
  /** Best (least disturbed) timed run, ms. */
  ms_min: number;
  /** Number of timed runs both come from. */
  reps: number;
}

/** Median and best of a row's timed runs: the only place `ms` and `ms_min` are computed. */
export function summarize(times: readonly number[]): TimeStats {
  return { ms: median(times), ms_min: times.length ? Math.min(...times) : NaN, reps: times.length };
}

/**
 * Timed runs per implementation for a case whose warm run of ours took `warmMs`: enough for
 * `minTimeMs` of ours, at least 3 and at most `maxReps`. Every implementation and scope of the case
 * then makes this many runs, so that median and best come from the same number of runs.
 */
export function repsFor(warmMs: number, minTimeMs: number, maxReps = 30): number {
  const n = warmMs > 0 ? Math.ceil(minTimeMs / warmMs) : maxReps;
  return Math.max(3, Math.min(maxReps, n));
}
