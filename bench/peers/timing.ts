// Size checks shared by the peers (their timing loop is bench/stats.ts timeRuns, shared with ours).

import type { Scope } from '../stats.js';

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

/** Throws unless the peer can time `scope`. */
export function checkScope(impl: string, scope: Scope, scopes: readonly Scope[]): void {
  if (!scopes.includes(scope)) {
    throw new Error(`${impl} cannot time the '${scope}' scope (it can: ${scopes.join(', ')})`);
  }
}
