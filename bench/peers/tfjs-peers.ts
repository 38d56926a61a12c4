// tfjs peers: @tensorflow/tfjs-core 4.22 + @tensorflow/tfjs-backend-webgpu 4.22 on the caller's dawn.node `GPU`.
// Loaded only through dynamic import(); tfjs has no f16 tensors, so only dtype 'f32' runs.

import { DAWN_LIMIT_NOTICE } from '../../src/gpu/adapter.js';
import { withFilteredStderr } from '../../src/util/quiet-stderr.js';
import { timeRuns } from '../stats.js';
import { checkBinding, checkLength, checkScope, chunkSize } from './timing.js';
import type { AttentionPeer, AttentionProblem, MatmulPeer, PeerDtype, PeerRun, RunCount, Scope } from './types.js';

type Tf = typeof import('@tensorflow/tfjs-core');
type TfTensor = import('@tensorflow/tfjs-core').Tensor;
type TfWebgpu = typeof import('@tensorflow/tfjs-backend-webgpu');
type TfWebgpuBackend = InstanceType<TfWebgpu['WebGPUBackend']>;

const IMPL = 'tfjs-webgpu';
const F32_BYTES = 4;

interface TfState {
  tf: Tf;
  backend: TfWebgpuBackend;
  limitBytes: number;
}

let state: Promise<TfState> | undefined;
let users = 0;

/** Makes `navigator.gpu` the caller's GPU (tfjs-backend-webgpu registers itself only if it exists at import time). */
function installNavigator(gpu: GPU): void {
  const g = globalThis as { navigator?: { gpu?: GPU } };
  if (g.navigator === undefined) {
    Object.defineProperty(globalThis, 'navigator', {
      value: { gpu, userAgent: 'node' },
      configurable: true,
      writable: true,
    });
  } else if (g.navigator.gpu !== gpu) {
    Object.defineProperty(g.navigator, 'gpu', { value: gpu, configurable: true, writable: true });
  }
}

async function initTf(gpu: GPU): Promise<TfState> {
  installNavigator(gpu);
  const tf = await import('@tensorflow/tfjs-core');
  const webgpu = await import('@tensorflow/tfjs-backend-webgpu');
  if (tf.findBackendFactory('webgpu') === null) {
    // Imported earlier without navigator.gpu, or removed by a previous dispose(): register the same factory
    // tfjs-backend-webgpu's base.ts registers, on the caller's GPU.
    tf.registerBackend(
      'webgpu',
      async () => {
        const adapter = await withFilteredStderr(DAWN_LIMIT_NOTICE, () =>
          gpu.requestAdapter({ powerPreference: 'high-performance' }),
        );
        if (adapter === null) {
          throw new Error('no WebGPU adapter');
        }
        const l = adapter.limits;
        const device = await adapter.requestDevice({
          requiredFeatures: adapter.features.has('timestamp-query') ? ['timestamp-query'] : [],
          requiredLimits: {
            maxComputeWorkgroupStorageSize: l.maxComputeWorkgroupStorageSize,
            maxComputeWorkgroupsPerDimension: l.maxComputeWorkgroupsPerDimension,
            maxStorageBufferBindingSize: l.maxStorageBufferBindingSize,
            maxBufferSize: l.maxBufferSize,
            maxComputeWorkgroupSizeX: l.maxComputeWorkgroupSizeX,
            maxComputeInvocationsPerWorkgroup: l.maxComputeInvocationsPerWorkgroup,
          },
        });
        return new webgpu.WebGPUBackend(device, adapter.info);
      },
      3,
    );
  }
  // Small ops must not be forwarded to the CPU backend: the peer is the WebGPU path.
  tf.env().set('WEBGPU_CPU_FORWARD', false);
  if (!(await tf.setBackend('webgpu'))) {
    throw new Error('tf.setBackend("webgpu") failed');
  }
  await tf.ready();
  const backend = tf.backend() as TfWebgpuBackend;
  const limits = backend.device.limits;
  return { tf, backend, limitBytes: Math.min(limits.maxStorageBufferBindingSize, limits.maxBufferSize) };
}

async function acquire(gpu: GPU): Promise<TfState> {
  state ??= initTf(gpu);
  try {
    const s = await state;
    users += 1;
    return s;
  } catch (e) {
    state = undefined;
    throw e;
  }
}

/** Drops one user; the last one removes the backend and destroys its device (dawn.node spins until destroy). */
async function release(): Promise<void> {
  if (state === undefined || users === 0) {
    return;
  }
  users -= 1;
  if (users > 0) {
    return;
  }
  const s = await state;
  state = undefined;
  s.tf.removeBackend('webgpu');
  s.backend.device.destroy();
}

/** The first run is made inside a validation error scope, so that oversize bindings are not silently ignored. */
function withValidation<R>(s: TfState, run: () => Promise<R>): () => Promise<R> {
  let first = true;
  return async () => {
    if (!first) {
      return run();
    }
    first = false;
    const device = s.backend.device;
    device.pushErrorScope('validation');
    let result: { ok: true; value: R } | { ok: false; error: unknown };
    try {
      result = { ok: true, value: await run() };
    } catch (e) {
      result = { ok: false, error: e };
    }
    const err = await device.popErrorScope();
    if (err !== null) {
      throw new Error(`WebGPU validation error: ${err.message}`);
    }
    if (!result.ok) {
      throw result.error;
    }
    return result.value;
  };
}

function wrapError(e: unknown): Error {
  const msg = e instanceof Error ? e.message : String(e);
  return new Error(`${IMPL}: ${msg}`, { cause: e });
}

function needF32(dtype: PeerDtype): void {
  if (dtype !== 'f32') {
    throw new Error(`dtype ${dtype} not supported (tfjs has no f16 tensors)`);
  }
}

/** Both scopes: tfjs tensors live on tfjs's own GPUDevice (on the caller's Dawn instance) between ops. */
const TFJS_SCOPES: readonly Scope[] = ['host', 'device'];
const TFJS_NOTES: Partial<Record<Scope, string>> = {
  host: 'tf.tensor from the host arrays (uploaded at first use), the ops, await data() of the output, dispose',
  device:
    'inputs resident on its GPUDevice, the ops, submitQueue() + queue.onSubmittedWorkDone(); output left on the GPU',
};

/** Submits what tfjs has encoded and waits for the GPU: the end of a device-scope run. */
async function submitAndWait(s: TfState): Promise<void> {
  const b = s.backend;
  b.ensureCommandEncoderReady();
  b.endComputePassEncoder();
  b.submitQueue();
  await b.queue.onSubmittedWorkDone();
}

/**
 * Times `compute` (which returns the output tensor) on resident inputs made by `inputs`: in the host
 * scope the inputs are made, uploaded and disposed inside every run and the output is read back; in
 * the device scope they are made once and the output stays on the GPU (read after timing).
 */
async function timeTfjs(
  s: TfState,
  scope: Scope,
  t: RunCount,
  inputs: () => TfTensor[],
  compute: (xs: TfTensor[]) => TfTensor,
): Promise<PeerRun> {
  const { tf } = s;
  if (scope === 'host') {
    const run = async (): Promise<Float32Array> => {
      const xs = inputs();
      const o = compute(xs);
      try {
        return (await o.data()) as Float32Array;
      } finally {
        tf.dispose([...xs, o]);
      }
    };
    const r = await timeRuns(withValidation(s, run), t);
    return { out: r.last, times: r.times, firstMs: r.firstMs };
  }
  const xs = inputs();
  let prev: TfTensor | null = null;
  try {
    const run = async (): Promise<void> => {
      prev?.dispose();
      prev = compute(xs);
      await submitAndWait(s);
    };
    const r = await timeRuns(withValidation(s, run), t);
    const out = (await (prev as TfTensor | null)!.data()) as Float32Array;
    return { out, times: r.times, firstMs: r.firstMs };
  } finally {
    tf.dispose([...xs, ...(prev ? [prev] : [])]);
  }
}

class TfjsMatmulPeer implements MatmulPeer {
  readonly impl = IMPL;
  private disposed = false;

  constructor(private readonly s: TfState) {}

  readonly scopes = TFJS_SCOPES;
  readonly scopeNotes = TFJS_NOTES;

  /** `tf.matMul(A, B)`; timed per scope as in TFJS_NOTES. firstMs: first run, shader compilation included. */
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
      if (this.disposed) {
        throw new Error('peer disposed');
      }
      needF32(dtype);
      checkScope(IMPL, scope, this.scopes);
      const { tf, limitBytes } = this.s;
      checkLength('A', a, m * k);
      checkLength('B', b, k * n);
      checkBinding('A', m * k * F32_BYTES, limitBytes);
      checkBinding('B', k * n * F32_BYTES, limitBytes);
      checkBinding('C', m * n * F32_BYTES, limitBytes);
      return await timeTfjs(
        this.s,
        scope,
        t,
        () => [tf.tensor2d(a, [m, k], 'float32'), tf.tensor2d(b, [k, n], 'float32')],
        ([ta, tb]) => tf.matMul(ta!, tb!),
      );
    } catch (e) {
      throw wrapError(e);
    }
  }

  async dispose(): Promise<void> {
    if (!this.disposed) {
      this.disposed = true;
      await release();
    }
  }
}

class TfjsAttentionPeer implements AttentionPeer {
  readonly impl = IMPL;
  private disposed = false;

  constructor(private readonly s: TfState) {}

  readonly scopes = TFJS_SCOPES;
  readonly scopeNotes = TFJS_NOTES;

  /**
   * Composed of tfjs ops: q, k, v [B, N, NH, D] → transpose → [B·NH, N, D]; per chunk of rows:
   * S = matMul(q, k, false, true) · (1/√D), P = softmax(S), O = matMul(P, v); concat → transpose → [B, N, NH, D].
   * Rows are chunked so that S (chunk·N²·4 bytes) fits one storage binding. Timed per scope as in TFJS_NOTES.
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
      if (this.disposed) {
        throw new Error('peer disposed');
      }
      needF32(dtype);
      checkScope(IMPL, scope, this.scopes);
      const { tf, limitBytes } = this.s;
      const { batch: B, heads: NH, tokens: N, headDim: D } = p;
      const rows = B * NH;
      for (const [what, x] of [
        ['q', q],
        ['k', k],
        ['v', v],
      ] as const) {
        checkLength(what, x, rows * N * D);
      }
      checkBinding('q/k/v/o', rows * N * D * F32_BYTES, limitBytes);
      const chunk = chunkSize(rows, N * N * F32_BYTES, limitBytes);
      const scale = 1 / Math.sqrt(D);
      const shape: [number, number, number, number] = [B, N, NH, D];
      const compute = ([tq, tk, tv]: TfTensor[]): TfTensor => {
        const [qr, kr, vr] = tf.tidy(() =>
          [tq!, tk!, tv!].map((x) => tf.reshape(tf.transpose(x, [0, 2, 1, 3]), [rows, N, D])),
        ) as [TfTensor, TfTensor, TfTensor];
        const parts: TfTensor[] = [];
        for (let r0 = 0; r0 < rows; r0 += chunk) {
          parts.push(
            tf.tidy(() => {
              const take = (x: TfTensor) => (chunk === rows ? x : tf.slice(x, [r0, 0, 0], [chunk, N, D]));
              const s = tf.mul(tf.matMul(take(qr), take(kr), false, true), scale);
              return tf.matMul(tf.softmax(s), take(vr));
            }),
          );
        }
        const o = tf.tidy(() => {
          const all = parts.length === 1 ? (parts[0] as TfTensor) : tf.concat(parts, 0);
          return tf.transpose(tf.reshape(all, [B, NH, N, D]), [0, 2, 1, 3]);
        });
        tf.dispose([qr, kr, vr, ...parts]);
        return o;
      };
      return await timeTfjs(this.s, scope, t, () => [q, k, v].map((x) => tf.tensor4d(x, shape, 'float32')), compute);
    } catch (e) {
      throw wrapError(e);
    }
  }

  async dispose(): Promise<void> {
    if (!this.disposed) {
      this.disposed = true;
      await release();
    }
  }
}

/** A tiny matmul on the backend, so that a broken setup is reported at load time. */
async function smokeTest(s: TfState): Promise<void> {
  const { tf } = s;
  const x = tf.tensor2d([1, 2, 3, 4], [2, 2]);
  const y = tf.tensor2d([5, 6, 7, 8], [2, 2]);
  const c = tf.matMul(x, y);
  const got = Array.from(await c.data());
  tf.dispose([x, y, c]);
  if (got.join(',') !== '19,22,43,50') {
    throw new Error(`smoke test matmul gave [${got.join(',')}]`);
  }
}

export async function loadTfjsMatmul(gpu: GPU): Promise<MatmulPeer> {
  const s = await acquire(gpu);
  try {
    await smokeTest(s);
  } catch (e) {
    await release();
    throw e;
  }
  return new TfjsMatmulPeer(s);
}

export async function loadTfjsAttention(gpu: GPU): Promise<AttentionPeer> {
  const s = await acquire(gpu);
  try {
    await smokeTest(s);
  } catch (e) {
    await release();
    throw e;
  }
  return new TfjsAttentionPeer(s);
}
