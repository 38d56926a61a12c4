// onnxruntime-node 1.30 peers. 'webgpu' runs ORT's own statically linked Dawn (on the same Vulkan device as
// dawn.node, not on the caller's GPUDevice); 'cpu' is ORT's CPU EP with its default thread count.
// Models are built in memory (onnx-models.ts); ORT is loaded only through dynamic import().

import { fromF16Array, toF16Array } from './f16.js';
import { attentionOpsModel, matmulModel, mhaModel } from './onnx-models.js';
import { checkBinding, checkLength, chunkSize, timeRuns } from './timing.js';
import type { AttentionPeer, AttentionProblem, MatmulPeer, PeerDtype, PeerRun, TimingOptions } from './types.js';

type Ort = typeof import('onnxruntime-node');
type OrtSession = import('onnxruntime-node').InferenceSession;
type OrtTensor = import('onnxruntime-node').Tensor;

export type OrtEp = 'webgpu' | 'cpu';

/** Which attention graph an attention peer runs. */
export type OrtAttentionGraph = 'mha' | 'ops';

interface OrtContext {
  ort: Ort;
  ep: OrtEp;
  impl: string;
  /** Largest tensor a WebGPU peer may touch (peers give wrong numbers past it); Infinity on the CPU EP. */
  limitBytes: number;
}

let ortModule: Promise<Ort> | undefined;

async function importOrt(): Promise<Ort> {
  ortModule ??= import('onnxruntime-node').then((ort) => {
    ort.env.logLevel = 'error';
    return ort;
  });
  try {
    return await ortModule;
  } catch (e) {
    ortModule = undefined;
    throw e;
  }
}

function elemBytes(dtype: PeerDtype): number {
  return dtype === 'f16' ? 2 : 4;
}

function elemType(dtype: PeerDtype): 'float16' | 'float32' {
  return dtype === 'f16' ? 'float16' : 'float32';
}

async function createSession(c: OrtContext, model: Uint8Array): Promise<OrtSession> {
  return c.ort.InferenceSession.create(model, {
    executionProviders: [c.ep],
    logSeverityLevel: 3,
    // On WebGPU, fail instead of silently placing a node on the CPU EP: the peer must be what its name says.
    extra: c.ep === 'webgpu' ? { session: { disable_cpu_ep_fallback: '1' } } : {},
  });
}

function makeTensor(ort: Ort, data: Float32Array, dtype: PeerDtype, dims: readonly number[]): OrtTensor {
  return dtype === 'f16'
    ? new ort.Tensor('float16', toF16Array(data), dims)
    : new ort.Tensor('float32', Float32Array.from(data), dims);
}

function outputOf(results: Awaited<ReturnType<OrtSession['run']>>, name: string): OrtTensor {
  const t = results[name];
  if (t === undefined) {
    throw new Error(`session returned no output '${name}'`);
  }
  return t;
}

function toF32(t: OrtTensor): Float32Array {
  const d = t.data;
  if (d instanceof Float32Array) {
    return d;
  }
  if (d instanceof Uint16Array) {
    return fromF16Array(d);
  }
  if (typeof d !== 'string' && !(d instanceof BigInt64Array) && !(d instanceof BigUint64Array)) {
    return Float32Array.from(d as ArrayLike<number>); // Float16Array on runtimes that have it
  }
  throw new Error(`unexpected output type ${t.type}`);
}

function wrapError(impl: string, e: unknown): Error {
  const msg = e instanceof Error ? e.message : String(e);
  return new Error(`${impl}: ${msg}`, { cause: e });
}

class OrtMatmulPeer implements MatmulPeer {
  constructor(private readonly c: OrtContext) {}

  get impl(): string {
    return this.c.impl;
  }

  /**
   * One ORT session (a single MatMul node) per call, created before timing; firstMs = session creation (model
   * parse, graph optimisation, EP setup) + first run (shader compilation on WebGPU).
   * Timed region (ms): `session.run({a, b})` = copy of A and B into ORT (upload to the GPU on WebGPU), the MatMul,
   * and copy of C back into a JS typed array. Input f16 casts are made once before timing; the f16 → f32 decode of
   * the last output is made after timing.
   */
  async matmul(
    a: Float32Array,
    b: Float32Array,
    m: number,
    n: number,
    k: number,
    dtype: PeerDtype,
    t: TimingOptions,
  ): Promise<PeerRun> {
    try {
      const { ort, limitBytes } = this.c;
      const eb = elemBytes(dtype);
      checkLength('A', a, m * k);
      checkLength('B', b, k * n);
      checkBinding('A', m * k * eb, limitBytes);
      checkBinding('B', k * n * eb, limitBytes);
      checkBinding('C', m * n * eb, limitBytes);
      const feeds = { a: makeTensor(ort, a, dtype, [m, k]), b: makeTensor(ort, b, dtype, [k, n]) };
      const t0 = performance.now();
      const session = await createSession(this.c, matmulModel(m, n, k, elemType(dtype)));
      const setupMs = performance.now() - t0;
      try {
        const r = await timeRuns(async () => outputOf(await session.run(feeds), 'c'), t, setupMs);
        return { out: toF32(r.last), ms: r.ms, firstMs: r.firstMs, reps: r.reps };
      } finally {
        await session.release();
      }
    } catch (e) {
      throw wrapError(this.c.impl, e);
    }
  }

  async dispose(): Promise<void> {
    // Sessions are released at the end of each call; ORT keeps its Dawn instance for the life of the process.
  }
}

class OrtAttentionPeer implements AttentionPeer {
  constructor(
    private readonly c: OrtContext,
    private readonly graph: OrtAttentionGraph,
  ) {}

  get impl(): string {
    return this.c.impl;
  }

  /**
   * graph 'mha': com.microsoft MultiHeadAttention(num_heads, scale 1/√D) on q, k, v [B, N, NH·D] (FlashAttention
   * program on WebGPU). graph 'ops': Transpose → MatMul → Mul(1/√D) → Softmax → MatMul → Transpose.
   * The batch is split into equal chunks so that every tensor, the [chunk, NH, N, N] scores included, fits one
   * storage binding (the flash path does not need it for 'mha'; it is kept as a guard); one session serves all chunks.
   * firstMs = session creation + first run. Timed region (ms): one `session.run` per chunk, each = upload of the
   * chunk's q, k, v + the graph + download of its output. f16 casts are made before timing, the decode after.
   */
  async attention(
    q: Float32Array,
    k: Float32Array,
    v: Float32Array,
    p: AttentionProblem,
    dtype: PeerDtype,
    t: TimingOptions,
  ): Promise<PeerRun> {
    try {
      const { ort, limitBytes } = this.c;
      const { batch: B, heads: NH, tokens: N, headDim: D } = p;
      const eb = elemBytes(dtype);
      const itemElems = N * NH * D;
      for (const [what, x] of [
        ['q', q],
        ['k', k],
        ['v', v],
      ] as const) {
        checkLength(what, x, B * itemElems);
      }
      const chunk = chunkSize(B, Math.max(NH * N * N, itemElems) * eb, limitBytes);
      checkBinding('q chunk', chunk * itemElems * eb, limitBytes);
      const dims = this.graph === 'mha' ? [chunk, N, NH * D] : [chunk, N, NH, D];
      const feeds: Record<string, OrtTensor>[] = [];
      for (let b0 = 0; b0 < B; b0 += chunk) {
        const part = (x: Float32Array) => x.subarray(b0 * itemElems, (b0 + chunk) * itemElems);
        feeds.push({
          q: makeTensor(ort, part(q), dtype, dims),
          k: makeTensor(ort, part(k), dtype, dims),
          v: makeTensor(ort, part(v), dtype, dims),
        });
      }
      const model =
        this.graph === 'mha'
          ? mhaModel(chunk, N, NH, D, elemType(dtype))
          : attentionOpsModel(chunk, N, NH, D, elemType(dtype));
      const t0 = performance.now();
      const session = await createSession(this.c, model);
      const setupMs = performance.now() - t0;
      try {
        const run = async (): Promise<OrtTensor[]> => {
          const outs: OrtTensor[] = [];
          for (const f of feeds) {
            outs.push(outputOf(await session.run(f), 'o'));
          }
          return outs;
        };
        const r = await timeRuns(run, t, setupMs);
        const out = new Float32Array(B * itemElems);
        r.last.forEach((o, i) => out.set(toF32(o), i * chunk * itemElems));
        return { out, ms: r.ms, firstMs: r.firstMs, reps: r.reps };
      } finally {
        await session.release();
      }
    } catch (e) {
      throw wrapError(this.c.impl, e);
    }
  }

  async dispose(): Promise<void> {
    // Nothing held between calls.
  }
}

async function context(impl: string, ep: OrtEp, limitBytes: number): Promise<OrtContext> {
  const ort = await importOrt();
  if (!ort.listSupportedBackends().some((b) => b.name === ep)) {
    throw new Error(`this onnxruntime-node build has no '${ep}' execution provider`);
  }
  return { ort, ep, impl, limitBytes: ep === 'cpu' ? Infinity : limitBytes };
}

const PROBE_TIMING: TimingOptions = { warmup: 0, minTimeMs: 0, maxReps: 1 };

/**
 * Loads an ORT matmul peer and runs a 3×4·4×2 product in `probeDtype` (f32 when not given), so that an EP or dtype
 * that cannot run is reported at load time.
 */
export async function loadOrtMatmul(
  impl: string,
  ep: OrtEp,
  limitBytes: number,
  probeDtype: PeerDtype = 'f32',
): Promise<MatmulPeer> {
  const peer = new OrtMatmulPeer(await context(impl, ep, limitBytes));
  const a = Float32Array.from({ length: 12 }, (_, i) => i - 5);
  const b = Float32Array.from({ length: 8 }, (_, i) => 0.5 * i - 2);
  const r = await peer.matmul(a, b, 3, 2, 4, probeDtype, PROBE_TIMING);
  for (let i = 0; i < 3; i++) {
    for (let j = 0; j < 2; j++) {
      let want = 0;
      for (let l = 0; l < 4; l++) {
        want += (a[i * 4 + l] ?? 0) * (b[l * 2 + j] ?? 0);
      }
      if (r.out[i * 2 + j] !== want) {
        throw new Error(`${impl}: probe matmul gave ${r.out[i * 2 + j]} at [${i},${j}], want ${want}`);
      }
    }
  }
  return peer;
}

/** Loads an ORT attention peer and runs a tiny problem in `probeDtype` (f32 when not given), checking it is finite. */
export async function loadOrtAttention(
  impl: string,
  ep: OrtEp,
  graph: OrtAttentionGraph,
  limitBytes: number,
  probeDtype: PeerDtype = 'f32',
): Promise<AttentionPeer> {
  const peer = new OrtAttentionPeer(await context(impl, ep, limitBytes), graph);
  const p: AttentionProblem = { batch: 1, heads: 2, tokens: 3, headDim: 4 };
  const x = Float32Array.from({ length: 24 }, (_, i) => Math.sin(i) * 0.5);
  const r = await peer.attention(x, x, x, p, probeDtype, PROBE_TIMING);
  if (!r.out.every((y) => Number.isFinite(y) && Math.abs(y) <= 0.5)) {
    throw new Error(`${impl}: probe attention gave values outside the range of v`);
  }
  return peer;
}
