// Tensor ownership: the set of live tensors (leak checks) and nested scopes. scope(fn) disposes
// every tensor created inside fn except those reachable from its result, which move to the
// enclosing scope (tfjs tidy, with the semantics written down); persistent tensors (weights,
// parameters, optimiser state) are detached: no scope disposes them. Never relies on GC.

import { Tensor } from './tensor.js';

export class TensorRegistry {
  readonly live = new Set<Tensor>();
  private readonly scopes: Set<Tensor>[] = [];

  track(t: Tensor, delta: 1 | -1): void {
    if (delta === 1) {
      this.live.add(t);
      this.scopes[this.scopes.length - 1]?.add(t);
    } else {
      this.live.delete(t);
      for (const s of this.scopes) {
        s.delete(t);
      }
    }
  }

  /** Removes t from every open scope: its owner disposes it (persistent tensors, long-lived views). */
  detach(t: Tensor): void {
    for (const s of this.scopes) {
      s.delete(t);
    }
  }

  /** See GpuContext.scope. */
  scope<T>(fn: () => T): T {
    const s = new Set<Tensor>();
    this.scopes.push(s);
    const close = (keep: unknown): void => {
      const idx = this.scopes.lastIndexOf(s);
      if (idx >= 0) {
        this.scopes.splice(idx, 1);
      }
      const kept = new Set<Tensor>();
      collectTensors(keep, kept, 0);
      for (const t of s) {
        if (kept.has(t)) {
          this.scopes[this.scopes.length - 1]?.add(t);
        } else {
          t.dispose();
        }
      }
    };
    let result: T;
    try {
      result = fn();
    } catch (e) {
      close(undefined);
      throw e;
    }
    if (result instanceof Promise) {
      return result.then(
        (r: unknown) => (close(r), r),
        (e: unknown) => {
          close(undefined);
          throw e;
        },
      ) as T;
    }
    close(result);
    return result;
  }
}

/** Tensors reachable from v: a tensor, or arrays, Maps and plain objects of them (4 levels). */
export function collectTensors(v: unknown, out: Set<Tensor>, depth = 0): void {
  if (depth > 4 || v === null || typeof v !== 'object') {
    return;
  }
  if (v instanceof Tensor) {
    out.add(v);
  } else if (Array.isArray(v) || v instanceof Map) {
    for (const x of v.values()) {
      collectTensors(x, out, depth + 1);
    }
  } else if (Object.getPrototypeOf(v) === Object.prototype) {
    for (const x of Object.values(v)) {
      collectTensors(x, out, depth + 1);
    }
  }
}
