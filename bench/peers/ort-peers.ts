// onnxruntime-node 1.30 peers. 'webgpu' runs ORT's own statically linked Dawn (on the same Vulkan device as
// dawn.node, not on the caller's GPUDevice); 'cpu' is ORT's CPU EP with its default thread count.
// Models are built in memory (onnx-models.ts); ORT is loaded only through dynamic import().
//
// Scopes. 'host': session.run on host tensors (ORT uploads the inputs, runs, downloads the output). 'device' (WebGPU
// only): onnxruntime-node 1.30 binds GPU tensors (IO binding): inputs are moved to ORT's device once by an Identity
// session with preferredOutputLocation 'gpu-buffer', the graph's output stays there ('gpu-buffer'), and since
// session.run returns before the GPU has finished (it only submits), each timed run ends by reading back one element
// of the output through a Slice session: queue order makes that wait for the graph, at the cost of one tiny dispatch
// and a one-element readback. (Tensor.getData() on a 'gpu-buffer' tensor aborts the process in 1.30, so results are
// read back through an Identity session with a host output.)

import { fromF16Array, toF16Array } from '../../src/tensor/f16.js';
import { timeRuns } from '../stats.js';
import { attentionOpsModel, firstElementModel, identityModel, matmulModel, mhaModel } from './onnx-models.js';
import { checkBinding, checkLength, checkScope, chunkSize } from './timing.js';
import type { AttentionPeer, AttentionProblem, MatmulPeer, PeerDtype, PeerRun, RunCount, Scope } from './types.js';

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

async function createSession(
  c: OrtContext,
  model: Uint8Array,
  output: 'cpu' | 'gpu-buffer' = 'cpu',
): Promise<OrtSession> {
  return c.ort.InferenceSession.create(model, {
    executionProviders: [c.ep],
    logSeverityLevel: 3,
    preferredOutputLocation: output,
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

const HOST_NOTE = 'session.run on host tensors: upload of the inputs, the graph, download of the output';
const DEVICE_NOTE =
  "IO binding: inputs resident in ORT's GPU buffers, output left there ('gpu-buffer'); completion awaited by a one-element readback of the output (Slice session)";

/** The scopes an ORT peer can time on its EP. */
function scopesOf(ep: OrtEp): { scopes: readonly Scope[]; scopeNotes: Partial<Record<Scope, string>> } {
  return ep === 'webgpu'
    ? { scopes: ['host', 'device'], scopeNotes: { host: HOST_NOTE, device: DEVICE_NOTE } }
    : {
        scopes: ['host'],
        scopeNotes: { host: `${HOST_NOTE} (CPU EP: host memory is its device memory, so there is no device scope)` },
      };
}

interface OrtTimed {
  /** Host copies of the outputs of the last run, one per feed. */
  outs: OrtTensor[];
  times: number[];
  firstMs: number;
}

/**
 * Times one graph over `feeds` (one session.run per feed, in order) in `scope`. firstMs = session creation (model
 * parse, graph optimisation, EP setup; in the device scope also the uploads of the inputs) + the first run (shader
 * compilation on WebGPU).
 */
async function timeOrt(
  c: OrtContext,
  model: Uint8Array,
  feeds: readonly Record<string, OrtTensor>[],
  out: { name: string; dims: readonly number[]; elem: 'float16' | 'float32' },
  scope: Scope,
  t: RunCount,
): Promise<OrtTimed> {
  const t0 = performance.now();
  if (scope === 'host') {
    const session = await createSession(c, model);
    const setupMs = performance.now() - t0;
    try {
      const run = async (): Promise<OrtTensor[]> => {
        const outs: OrtTensor[] = [];
        for (const f of feeds) {
          outs.push(outputOf(await session.run(f), out.name));
        }
        return outs;
      };
      const r = await timeRuns(run, t, setupMs);
      return { outs: r.last, times: r.times, firstMs: r.firstMs };
    } finally {
      await session.release();
    }
  }
  const sessions: OrtSession[] = [];
  const open = async (m: Uint8Array, where: 'cpu' | 'gpu-buffer'): Promise<OrtSession> => {
    const s = await createSession(c, m, where);
    sessions.push(s);
    return s;
  };
  const resident: OrtTensor[] = [];
  let prev: OrtTensor[] = [];
  try {
    const session = await open(model, 'gpu-buffer');
    const uploaders = new Map<string, OrtSession>();
    const gpuFeeds: Record<string, OrtTensor>[] = [];
    for (const f of feeds) {
      const g: Record<string, OrtTensor> = {};
      for (const [name, x] of Object.entries(f)) {
        const key = `${x.type}:${x.dims.join('x')}`;
        let up = uploaders.get(key);
        if (!up) {
          up = await open(identityModel(x.dims, x.type as 'float16' | 'float32'), 'gpu-buffer');
          uploaders.set(key, up);
        }
        const y = outputOf(await up.run({ x }), 'y');
        resident.push(y);
        g[name] = y;
      }
      gpuFeeds.push(g);
    }
    const probe = await open(firstElementModel(out.dims, out.elem), 'cpu');
    const download = await open(identityModel(out.dims, out.elem), 'cpu');
    const setupMs = performance.now() - t0;
    const run = async (): Promise<void> => {
      for (const p of prev.splice(0)) {
        p.dispose();
      }
      for (const g of gpuFeeds) {
        prev.push(outputOf(await session.run(g), out.name));
      }
      await probe.run({ x: prev[prev.length - 1]! });
    };
    const r = await timeRuns(run, t, setupMs);
    const outs: OrtTensor[] = [];
    for (const p of prev) {
      outs.push(outputOf(await download.run({ x: p }), 'y'));
    }
    return { outs, times: r.times, firstMs: r.firstMs };
  } finally {
    for (const x of [...prev, ...resident]) {
      x.dispose();
    }
    prev = [];
    for (const s of sessions) {
      await s.release();
    }
  }
}

class OrtMatmulPeer implements MatmulPeer {
  readonly scopes: readonly Scope[];
  readonly scopeNotes: Partial<Record<Scope, string>>;

  constructor(private readonly c: OrtContext) {
    ({ scopes: this.scopes, scopeNotes: this.scopeNotes } = scopesOf(c.ep));
  }

  get impl(): string {
    return this.c.impl;
  }

  /**
   * One ORT session (a single MatMul node) per call, created before timing (see timeOrt for firstMs and the
   * scopes). Input f16 casts are made once before timing; the f16 → f32 decode of the last output after timing.
   */
  async matmul(
    a: Float32Array,
    b: Float32Array,
    m: number,
    n: number,
    k: number,
    dtype: PeerDtype,
    scope: Scope,
    t: RunCount,
  ): Promise<PeerRun> {
    try {
      const { ort, limitBytes } = this.c;
      checkScope(this.c.impl, scope, this.scopes);
      const eb = elemBytes(dtype);
      checkLength('A', a, m * k);
      checkLength('B', b, k * n);
      checkBinding('A', m * k * eb, limitBytes);
      checkBinding('B', k * n * eb, limitBytes);
      checkBinding('C', m * n * eb, limitBytes);
      const feeds = { a: makeTensor(ort, a, dtype, [m, k]), b: makeTensor(ort, b, dtype, [k, n]) };
      const elem = elemType(dtype);
      const r = await timeOrt(this.c, matmulModel(m, n, k, elem), [feeds], { name: 'c', dims: [m, n], elem }, scope, t);
      return { out: toF32(r.outs[0]!), times: r.times, firstMs: r.firstMs };
    } catch (e) {
      throw wrapError(this.c.impl, e);
    }
  }

  async dispose(): Promise<void> {
    // Sessions are released at the end of each call; ORT keeps its Dawn instance for the life of the process.
  }
}

class OrtAttentionPeer implements AttentionPeer {
  readonly scopes: readonly Scope[];
  readonly scopeNotes: Partial<Record<Scope, string>>;

  constructor(
    private readonly c: OrtContext,
    private readonly graph: OrtAttentionGraph,
  ) {
    ({ scopes: this.scopes, scopeNotes: this.scopeNotes } = scopesOf(c.ep));
  }

  get impl(): string {
    return this.c.impl;
  }

  /**
   * graph 'mha': com.microsoft MultiHeadAttention(num_heads, scale 1/√D) on q, k, v [B, N, NH·D] (FlashAttention
   * program on WebGPU). graph 'ops': Transpose → MatMul → Mul(1/√D) → Softmax → MatMul → Transpose.
   * The batch is split into equal chunks so that every tensor, the [chunk, NH, N, N] scores included, fits one
   * storage binding (the flash path does not need it for 'mha'; it is kept as a guard); one session serves all chunks,
   * one session.run per chunk (see timeOrt for firstMs and the scopes). f16 casts are made before timing, the
   * decode after.
   */
  async attention(
    q: Float32Array,
    k: Float32Array,
    v: Float32Array,
    p: AttentionProblem,
    dtype: PeerDtype,
    scope: Scope,
    t: RunCount,
  ): Promise<PeerRun> {
    try {
      const { ort, limitBytes } = this.c;
      checkScope(this.c.impl, scope, this.scopes);
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
      const elem = elemType(dtype);
      const model = this.graph === 'mha' ? mhaModel(chunk, N, NH, D, elem) : attentionOpsModel(chunk, N, NH, D, elem);
      const r = await timeOrt(this.c, model, feeds, { name: 'o', dims, elem }, scope, t);
      const out = new Float32Array(B * itemElems);
      r.outs.forEach((o, i) => out.set(toF32(o), i * chunk * itemElems));
      return { out, times: r.times, firstMs: r.firstMs };
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

const PROBE_TIMING: RunCount = { warmup: 0, reps: 1 };

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
  const r = await peer.matmul(a, b, 3, 2, 4, probeDtype, 'host', PROBE_TIMING);
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
  const r = await peer.attention(x, x, x, p, probeDtype, 'host', PROBE_TIMING);
  if (!r.out.every((y) => Number.isFinite(y) && Math.abs(y) <= 0.5)) {
    throw new Error(`${impl}: probe attention gave values outside the range of v`);
  }
  return peer;
}
