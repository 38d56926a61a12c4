// Timing loop and size checks shared by the peers.

import type { TimingOptions } from './types.js';

export interface Timed<R> {
  last: R;
  ms: number;
  firstMs: number;
  reps: number;
}

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((x, y) => x - y);
  const mid = s.length >> 1;
  if (s.length === 0) {
    return NaN;
  }
  return s.length % 2 === 1 ? (s[mid] ?? NaN) : ((s[mid - 1] ?? NaN) + (s[mid] ?? NaN)) / 2;
}

/**
 * Runs `run` once (timed as firstMs, plus `setupMs` measured by the caller), `t.warmup` more times untimed, then
 * repeatedly until `t.minTimeMs` of timed runs have elapsed or `t.maxReps` runs were made (at least one).
 * Returns the median wall time of the timed runs and the result of the last run.
 */
export async function timeRuns<R>(run: () => Promise<R>, t: TimingOptions, setupMs = 0): Promise<Timed<R>> {
  const t0 = performance.now();
  let last = await run();
  const firstMs = setupMs + (performance.now() - t0);
  for (let i = 0; i < t.warmup; i++) {
    last = await run();
  }
  const times: number[] = [];
  const start = performance.now();
  do {
    const s = performance.now();
    last = await run();
    times.push(performance.now() - s);
  } while (times.length < t.maxReps && performance.now() - start < t.minTimeMs);
  return { last, ms: median(times), firstMs, reps: times.length };
}

/**
 * Largest divisor c of `count` with c·itemBytes ≤ limitBytes, so that every chunk has the same shape (one ORT session,
 * one set of tfjs shaders). Throws when a single item already exceeds the limit.
 */
export function chunkSize(count: number, itemBytes: number, limitBytes: number): number {
  if (itemBytes > limitBytes) {
    throw new Error(`one item of ${itemBytes} bytes exceeds the ${limitBytes}-byte storage binding limit`);
  }
  const maxChunk = Math.min(count, Math.floor(limitBytes / itemBytes));
  for (let c = maxChunk; c > 1; c--) {
    if (count % c === 0) {
      return c;
    }
  }
  return 1;
}

/** Throws when a tensor of `bytes` would not fit one storage binding (peers fail silently past it). */
export function checkBinding(what: string, bytes: number, limitBytes: number): void {
  if (bytes > limitBytes) {
    throw new Error(`${what} is ${bytes} bytes, over the ${limitBytes}-byte storage binding limit`);
  }
}

/** Throws unless `x` holds exactly `n` values (a wrong shape would otherwise read out of bounds or be reshaped). */
export function checkLength(what: string, x: ArrayLike<number>, n: number): void {
  if (x.length !== n) {
    throw new Error(`${what} has ${x.length} values, want ${n}`);
  }
}
