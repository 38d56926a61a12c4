// GpuContext: the one object through which all GPU work goes, a thin facade over the device and
// its errors (device.ts), buffer lifetimes (memory.ts), pipelines (pipelines.ts), encoding and
// timestamps (encoder.ts) and transfers (transfer.ts). Tensors and scopes live here.

import { bytesPerElement, type DType } from '../tensor/dtype.js';
import { fromF16Array } from '../tensor/f16.js';
import { formatShape, numel, type Shape, ShapeError } from '../tensor/shape.js';
import { TensorRegistry } from '../tensor/scope.js';
import { type Allocation, Tensor, type TensorHost } from '../tensor/tensor.js';
import type { AdapterReport, AdapterRequest } from './adapter.js';
import { releaseInstance } from './adapter.js';
import { ErrorChannel, GpuError, openDevice } from './device.js';
import { CommandRecorder, type DispatchArgs, type ProfileRecord } from './encoder.js';
import { type DeviceCaps, type KernelFamily, resolveVariant } from '../wgsl/family.js';
import { BufferPool, type MemoryStats, OutOfMemoryError, poolCapFromEnv } from './memory.js';
import { PipelineCache } from './pipelines.js';
import { type HostData, Transfers } from './transfer.js';

export { GpuError } from './device.js';
export type { DispatchArgs, ProfileRecord } from './encoder.js';
export { OutOfMemoryError } from './memory.js';
export type { MemoryStats } from './memory.js';

const STORAGE_USAGE = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;

export type TuningTable = Record<string, Record<string, Record<string, number>>>;

export interface ContextOptions extends AdapterRequest {
  /** Record GPU timestamps for every dispatch (needs 'timestamp-query'). Off by default. */
  profile?: boolean;
  /** Dispatches encoded before an automatic submit (ggml uses 64). */
  maxDispatchesPerFlush?: number;
  /** Tuned values by family and tuning class (from the autotuner cache). */
  tuning?: TuningTable;
  /** Byte cap of free pooled buffers (default: WALT_POOL_MB, else 2 GiB; 0 = no pooling). */
  poolCapBytes?: number;
}

export interface ContextStats {
  dispatches: number;
  submits: number;
  uploads: number;
  readbacks: number;
  pipelines: number;
  pipelineCompileMs: number;
  /** Pipelines compiled at their first dispatch because nothing prepared them. */
  syncCompiles: number;
}

export class GpuContext implements TensorHost {
  readonly caps: DeviceCaps;
  readonly pool: BufferPool;
  readonly pipelines: PipelineCache;
  /** Grouping tag recorded with each dispatch's timestamp (model code sets it per layer). */
  tag = '';
  private tuning: TuningTable;
  private gpu: GPU | null;
  private readonly errors: ErrorChannel;
  private readonly recorder: CommandRecorder;
  private readonly transfers: Transfers;
  private readonly registry = new TensorRegistry();
  private readonly dummies = new Map<DType, Tensor>();
  private planned: { family: KernelFamily<unknown, string, string>; variant: unknown }[] | null = null;

  private constructor(
    gpu: GPU,
    readonly device: GPUDevice,
    readonly adapter: AdapterReport,
    opts: ContextOptions,
  ) {
    this.gpu = gpu;
    this.tuning = opts.tuning ?? {};
    this.caps = {
      limits: device.limits,
      f16: device.features.has('shader-f16'),
      subgroups: device.features.has('subgroups'),
      subgroupMinSize: adapter.subgroupMinSize,
      subgroupMaxSize: adapter.subgroupMaxSize,
      isSoftware: adapter.isSoftware,
      tuned: (family, cls) => this.tuning[family]?.[cls],
    };
    this.errors = new ErrorChannel(device);
    this.pool = new BufferPool(device, opts.poolCapBytes ?? poolCapFromEnv());
    const debug = process.env.WALT_DEBUG === '1' || process.env.WEBGPU_DEBUG === '1';
    this.pipelines = new PipelineCache(device, this.errors, this.caps, debug);
    this.recorder = new CommandRecorder(
      device,
      device.limits,
      opts.maxDispatchesPerFlush ?? 256,
      (b) => this.pool.idOf(b),
      () => this.pool.afterSubmit(),
    );
    this.transfers = new Transfers(device, this.recorder);
    if (opts.profile) {
      this.setProfiling(true);
    }
  }

  /** Opens the device on the best adapter (hardware first; see adapter.ts). */
  static async create(opts: ContextOptions = {}): Promise<GpuContext> {
    const { gpu, device, report } = await openDevice(opts);
    const ctx = new GpuContext(gpu, device, report, opts);
    ctx.dummy('f32');
    ctx.dummy('f16');
    return ctx;
  }

  get stats(): ContextStats {
    const p = this.pipelines.stats;
    return {
      dispatches: this.recorder.dispatches,
      submits: this.recorder.submits,
      uploads: this.transfers.uploads,
      readbacks: this.transfers.readbacks,
      pipelines: p.pipelines,
      pipelineCompileMs: p.compileMs,
      syncCompiles: p.syncCompiles,
    };
  }

  // ---------------------------------------------------------------- tensors

  private allocate(shape: Shape, dtype: DType, label: string, pooled: boolean): Tensor {
    this.errors.assertAlive();
    if (!shape.every((d) => Number.isInteger(d) && d >= 0)) {
      throw new ShapeError(`${label || 'tensor'}: bad shape ${formatShape(shape)}`);
    }
    const bytes = Math.max(4, Math.ceil((numel(shape) * bytesPerElement(dtype)) / 4) * 4);
    if (bytes > this.caps.limits.maxBufferSize) {
      throw new ShapeError(
        `${label || 'tensor'} ${formatShape(shape)} ${dtype} needs ${bytes} bytes, above this device's maxBufferSize ` +
          `(${this.caps.limits.maxBufferSize}); use a smaller batch or resolution`,
      );
    }
    const buffer = pooled
      ? this.pool.acquire(bytes, STORAGE_USAGE, label)
      : this.pool.createUnpooled(Math.ceil(bytes / 16) * 16, STORAGE_USAGE, label);
    const alloc: Allocation = { buffer, usage: STORAGE_USAGE, pooled, refs: 1 };
    return new Tensor(this, alloc, shape, dtype, 0, label);
  }

  /** An uninitialised pooled tensor. */
  empty(shape: Shape, dtype: DType = 'f32', label = ''): Tensor {
    return this.allocate(shape, dtype, label, true);
  }

  /** A pooled tensor filled with zeros (cleared on the GPU, in command order). */
  zeros(shape: Shape, dtype: DType = 'f32', label = ''): Tensor {
    const t = this.empty(shape, dtype, label);
    this.clear(t);
    return t;
  }

  /**
   * A persistent tensor that is never pooled (weights, parameters, optimiser state): its buffer
   * is its own, destroyed when it is disposed. Zero-filled.
   */
  persistent(shape: Shape, dtype: DType = 'f32', label = ''): Tensor {
    const t = this.allocate(shape, dtype, label, false);
    this.clear(t);
    return t;
  }

  /** Zero-fills a tensor's bytes, in command order. */
  clear(t: Tensor): void {
    const start = t.byteOffset - (t.byteOffset % 4);
    const end = Math.min(t.buffer.size, Math.ceil((t.byteOffset + t.byteLength) / 4) * 4);
    this.recorder.commandEncoder().clearBuffer(t.buffer, start, end - start);
  }

  /** Copies `src` into `dst`, in command order. */
  copy(src: Tensor, dst: Tensor, srcByteOffset = 0, dstByteOffset = 0, byteLength = src.byteLength): void {
    this.recorder
      .commandEncoder()
      .copyBufferToBuffer(
        src.buffer,
        src.byteOffset + srcByteOffset,
        dst.buffer,
        dst.byteOffset + dstByteOffset,
        byteLength,
      );
  }

  /** Uploads host values into a new pooled tensor (f16: converted on the CPU). */
  upload(data: HostData, shape: Shape, dtype: DType = 'f32', label = ''): Tensor {
    if (data.length !== numel(shape)) {
      throw new ShapeError(`upload ${label}: ${data.length} values for shape ${formatShape(shape)}`);
    }
    const t = this.empty(shape, dtype, label);
    this.writeTensor(t, data);
    return t;
  }

  /** Overwrites a tensor's contents from the host (after everything recorded before). */
  writeTensor(t: Tensor, data: HostData): void {
    this.errors.assertAlive();
    this.transfers.write(t, data);
  }

  /** A persistent tensor with these values (weights): see persistent(). */
  uploadWeight(data: Float32Array | Uint16Array, shape: Shape, dtype: DType, label: string): Tensor {
    const t = this.allocate(shape, dtype, label, false);
    this.writeTensor(t, data);
    return t;
  }

  /** A small zeroed tensor to bind where a variant does not use a binding. Owned by the context. */
  dummy(dtype: DType = 'f32'): Tensor {
    let d = this.dummies.get(dtype);
    if (!d) {
      d = this.zeros([4], dtype, `dummy-${dtype}`);
      this.trackTensor(d, -1);
      this.dummies.set(dtype, d);
    }
    return d;
  }

  async readTensor(t: Tensor): Promise<Float32Array> {
    const raw = await this.readTensorRaw(t);
    switch (t.dtype) {
      case 'f16':
        return fromF16Array(new Uint16Array(raw, 0, t.numel));
      case 'f32':
        return new Float32Array(raw, 0, t.numel);
      case 'u32':
        return Float32Array.from(new Uint32Array(raw, 0, t.numel));
      case 'i32':
        return Float32Array.from(new Int32Array(raw, 0, t.numel));
    }
  }

  async readTensorRaw(t: Tensor): Promise<ArrayBuffer> {
    this.errors.assertAlive();
    let out: ArrayBuffer;
    try {
      out = await this.transfers.read(t);
    } finally {
      await this.settle();
    }
    return out;
  }

  releaseAllocation(alloc: Allocation): void {
    if (!this.errors.closed) {
      this.pool.release(alloc.buffer, alloc.pooled, this.recorder.isOpen);
    }
  }

  trackTensor(t: Tensor, delta: 1 | -1): void {
    this.registry.track(t, delta);
    this.pool.stats.liveTensors += delta;
  }

  /**
   * Runs `fn`; disposes every tensor created inside it except those reachable from its result
   * (a tensor, or arrays/objects/Maps of tensors), which move to the enclosing scope.
   * Works with async functions too: await the returned promise before starting another scope.
   */
  scope<T>(fn: () => T): T {
    return this.registry.scope(fn);
  }

  /**
   * Runs `fn` (a unit of work that allocates, e.g. one batch); when the GPU runs out of memory it
   * trims the pool and runs it once more, then fails with the size that did not fit and the fix.
   */
  async retryOnOom<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await this.scope(fn);
    } catch (e) {
      if (!(e instanceof OutOfMemoryError)) {
        throw e;
      }
      this.pool.trim(0);
      return await this.scope(fn);
    }
  }

  /** Installs tuned values (src/gpu/autotune.ts); later pipelines use them. */
  setTuning(table: TuningTable): void {
    this.tuning = table;
  }

  /** Counters of the pool (bytes, live tensors, buffers created and reused). */
  memory(): MemoryStats {
    return { ...this.pool.stats };
  }

  // ---------------------------------------------------------------- pipelines and dispatch

  /** Creates the pipelines of these variants ahead of use, in parallel. */
  prepare<V>(family: KernelFamily<V, string, string>, variants: readonly V[]): Promise<void> {
    return this.pipelines.prepare(family, variants);
  }

  /**
   * Creates ahead, in parallel, every pipeline that `fn` would dispatch: fn runs once with its
   * dispatches recorded instead of encoded (allocations, uploads and reads still happen; the data
   * is meaningless), so the set is exactly what the real run needs. Returns the pipeline count.
   */
  async prepareFor(fn: () => Promise<unknown>): Promise<number> {
    const planned: { family: KernelFamily<unknown, string, string>; variant: unknown }[] = [];
    this.planned = planned;
    try {
      await this.scope(fn);
    } finally {
      this.planned = null;
    }
    const byFamily = new Map<KernelFamily<unknown, string, string>, unknown[]>();
    for (const p of planned) {
      byFamily.set(p.family, [...(byFamily.get(p.family) ?? []), p.variant]);
    }
    await Promise.all([...byFamily].map(([f, vs]) => this.pipelines.prepare(f, vs)));
    return new Set(planned.map((p) => resolveVariant(p.family, p.variant, this.caps).pipelineKey)).size;
  }

  /** The preprocessed source of a variant (wgsl-dump, contract tests). */
  sourceOf<V>(family: KernelFamily<V, string, string>, variant: V): string {
    return this.pipelines.sourceOf(family, variant);
  }

  /**
   * Encodes one dispatch of `family` with `variant`. Bindings and params are checked by name at
   * compile time and against the device's limits (sizes, offsets, aliasing, workgroup counts)
   * before encoding; errors name the family, the variant and the tensors.
   */
  dispatch<V, B extends string, P extends string>(
    family: KernelFamily<V, B, P>,
    variant: V,
    args: DispatchArgs<B, P>,
  ): void {
    this.errors.assertAlive();
    const fam = family as unknown as KernelFamily<unknown, string, string>;
    if (this.planned) {
      this.planned.push({ family: fam, variant });
      return;
    }
    const r = resolveVariant(fam, variant, this.caps);
    const label = args.label ? `${r.label} ${args.label}` : r.label;
    const pipe = this.pipelines.get(fam, r);
    this.recorder.dispatch(fam, label, pipe, this.pipelines.layoutFor(fam).bgl, args, this.tag);
  }

  /** Submits everything encoded so far. */
  flush(): void {
    this.recorder.flush();
  }

  private async settle(): Promise<void> {
    await this.recorder.settle();
    try {
      await this.pool.settle();
    } catch (e) {
      this.errors.clear();
      throw e;
    }
    this.errors.throwIfAny();
  }

  /** Flushes and waits until the GPU has finished everything submitted; surfaces GPU errors. */
  async sync(): Promise<void> {
    this.errors.assertAlive();
    this.recorder.flush();
    await this.device.queue.onSubmittedWorkDone();
    await this.settle();
  }

  // ---------------------------------------------------------------- profiling

  /** Turns per-dispatch GPU timestamps on or off (each dispatch then gets its own pass). */
  setProfiling(on: boolean): void {
    this.recorder.setProfiling(on, this.adapter.name);
  }

  get isProfiling(): boolean {
    return this.recorder.isProfiling;
  }

  /** Waits for outstanding timestamp reads and returns (and clears) the records. */
  async takeProfile(): Promise<ProfileRecord[]> {
    await this.sync();
    return this.recorder.takeRecords();
  }

  // ---------------------------------------------------------------- lifetime

  get isClosed(): boolean {
    return this.errors.closed;
  }

  /** Tensors currently alive (created and not disposed), for leak checks. */
  liveTensors(): Tensor[] {
    return [...this.registry.live];
  }

  /** Waits for the GPU, destroys the device and drops the Dawn instance so the process can exit. */
  async close(): Promise<void> {
    if (this.errors.closed) {
      return;
    }
    try {
      this.recorder.flush();
      await this.device.queue.onSubmittedWorkDone();
      await this.recorder.settle();
    } finally {
      this.errors.closed = true;
      this.pool.trim(0);
      this.device.destroy();
      if (this.gpu) {
        releaseInstance(this.gpu);
        this.gpu = null;
      }
    }
  }

  /** The Dawn instance (for benchmarks that run peers on the same adapter). */
  get gpuInstance(): GPU {
    if (!this.gpu) {
      throw new GpuError('the GPU context is closed');
    }
    return this.gpu;
  }
}
