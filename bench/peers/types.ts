// Interfaces shared by the benchmark peers (tfjs, onnxruntime) and the harness that drives them.
//
// Timing protocol of every peer (see timing.ts): one first run, timed as `firstMs` (plus the peer's per-shape setup
// such as ORT session creation, when the peer says so); then `warmup` untimed runs; then timed runs until
// `minTimeMs` has elapsed or `maxReps` runs were made (at least one). `ms` is the median of the timed runs and `out`
// comes from the last one.

export type PeerDtype = 'f32' | 'f16';

export interface PeerRun {
  out: Float32Array;
  ms: number;
  firstMs: number;
  reps: number;
}

export interface TimingOptions {
  warmup: number;
  minTimeMs: number;
  maxReps: number;
}

export interface MatmulPeer {
  readonly impl: string; // 'tfjs-webgpu' | 'ort-webgpu' | 'ort-cpu'
  /** C = A·B, A [m,k], B [k,n] row-major f32 values (cast to f16 inside when dtype is f16); out is C as f32. ms = median wall time per run after warm-up, including what the peer needs to produce the result on the device (say in a comment exactly what is included). */
  matmul(
    a: Float32Array,
    b: Float32Array,
    m: number,
    n: number,
    k: number,
    dtype: PeerDtype,
    t: TimingOptions,
  ): Promise<PeerRun>;
  dispose(): Promise<void>;
}

export interface AttentionProblem {
  batch: number;
  heads: number;
  tokens: number;
  headDim: number;
} // windows are folded into batch

export interface AttentionPeer {
  readonly impl: string; // 'tfjs-webgpu' | 'ort-webgpu' (com.microsoft MultiHeadAttention) | 'ort-webgpu-ops' (plain-op graph)
  /** O = softmax(Q·Kᵀ/√d)·V per (batch, head); q,k,v,out laid out [batch, tokens, heads, headDim] row-major f32. */
  attention(
    q: Float32Array,
    k: Float32Array,
    v: Float32Array,
    p: AttentionProblem,
    dtype: PeerDtype,
    t: TimingOptions,
  ): Promise<PeerRun>;
  dispose(): Promise<void>;
}

export interface PeerLoadResult<T> {
  peer?: T;
  skipped?: string;
}
