// Interfaces shared by the benchmark peers (tfjs, onnxruntime) and the harness that drives them.
//
// Timing protocol of every peer (bench/stats.ts timeRuns, the same loop ours runs): one first run, timed as
// `firstMs` (plus the peer's per-shape setup such as ORT session creation, when the peer says so); then `warmup`
// untimed runs; then exactly `reps` timed runs. The peer returns every timed run's wall time (`times`); median and
// best are computed by the harness, for ours and every peer alike (bench/stats.ts summarize). `out` comes from the
// last run, read back after timing where the scope leaves it on the device.

import type { RunCount, Scope } from '../stats.js';

export type { RunCount, Scope } from '../stats.js';

export type PeerDtype = 'f32' | 'f16';

export interface PeerRun {
  out: Float32Array;
  /** Wall time of each timed run, ms. */
  times: number[];
  firstMs: number;
}

/** What a peer can time, and how (one line per scope, for result files). */
export interface PeerScopes {
  /** The scopes this peer can time ('host' always; 'device' where its tensors can stay on its device). */
  readonly scopes: readonly Scope[];
  /** How each of those scopes is timed by this peer. */
  readonly scopeNotes: Readonly<Partial<Record<Scope, string>>>;
}

export interface MatmulPeer extends PeerScopes {
  readonly impl: string; // 'tfjs-webgpu' | 'ort-webgpu' | 'ort-cpu'
  /**
   * C = A·B, A [m,k], B [k,n] row-major f32 values (cast to f16 before timing when dtype is f16); out is C as f32.
   * `scope` must be one of `scopes`.
   */
  matmul(
    a: Float32Array,
    b: Float32Array,
    m: number,
    n: number,
    k: number,
    dtype: PeerDtype,
    scope: Scope,
    t: RunCount,
  ): Promise<PeerRun>;
  dispose(): Promise<void>;
}

export interface AttentionProblem {
  batch: number;
  heads: number;
  tokens: number;
  headDim: number;
} // windows are folded into batch

export interface AttentionPeer extends PeerScopes {
  readonly impl: string; // 'tfjs-webgpu' | 'ort-webgpu' (com.microsoft MultiHeadAttention) | 'ort-webgpu-ops' (plain-op graph)
  /** O = softmax(Q·Kᵀ/√d)·V per (batch, head); q,k,v,out laid out [batch, tokens, heads, headDim] row-major f32. */
  attention(
    q: Float32Array,
    k: Float32Array,
    v: Float32Array,
    p: AttentionProblem,
    dtype: PeerDtype,
    scope: Scope,
    t: RunCount,
  ): Promise<PeerRun>;
  dispose(): Promise<void>;
}

export interface PeerLoadResult<T> {
  peer?: T;
  skipped?: string;
}
