// GpuContext, through which all GPU work goes: a facade over the device and errors (device.ts),
// lifetimes (memory.ts), pipelines, encoding and timestamps (encoder.ts), transfers; and tensors.

import { bytesPerElement, bytesToFloat32, type DType } from '../tensor/dtype.js';
import { TensorRegistry } from '../tensor/scope.js';
import { formatShape, numel, type Shape, ShapeError } from '../tensor/shape.js';
import { type Allocation, Tensor, type TensorHost } from '../tensor/tensor.js';
import { type DeviceCaps, type KernelFamily, resolveVariant } from '../wgsl/family.js';
import { type AdapterReport, type AdapterRequest, releaseInstance } from './adapter.js';
import { ErrorChannel, GpuError, openDevice } from './device.js';
import { CommandRecorder, type DispatchArgs, type ProfileRecord } from './encoder.js';
import { BufferPool, type MemoryStats, OutOfMemoryError, poolCapFromEnv } from './memory.js';
import { PipelineCache } from './pipelines.js';
import { type HostData, Transfers } from './transfer.js';

export { GpuError } from './device.js';
export type { DispatchArgs, ProfileRecord } from './encoder.js';
export { OutOfMemoryError, type MemoryStats } from './memory.js';

const STORAGE_USAGE = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;

export type TuningTable = Record<string, Record<string, Record<string, number>>>;
type Family = KernelFamily<unknown, string, string>;

export interface ContextOptions extends AdapterRequest {
  maxDispatchesPerFlush?: number; // dispatches encoded before an automatic submit (ggml: 64)
  /** Tuned values by family and tuning class (from the autotuner cache). */
  tuning?: TuningTable;
  /** Byte cap of free pooled buffers (default: WALT_POOL_MB, else 2 GiB; 0 = no pooling). */
  poolCapBytes?: number;
}

export class GpuContext implements TensorHost {
  readonly caps: DeviceCaps;
  readonly pool: BufferPool;
  readonly pipelines: PipelineCache;
  /** Grouping tag recorded with each dispatch's timestamp (model code sets it per layer). */
  tag = '';
  /** Tuned values by family and class (src/tune/autotune.ts installs them); later pipelines use them. */
  tuning: TuningTable;
  private readonly errors: ErrorChannel;
  private readonly recorder: CommandRecorder;
  private readonly transfers: Transfers;
  private readonly registry = new TensorRegistry();
  private readonly dummies = new Map<DType, Tensor>();
  private planned: { family: Family; variant: unknown }[] | null = null;

  private constructor(
    private gpu: GPU | null,
    readonly device: GPUDevice,
    readonly adapter: AdapterReport,
    opts: ContextOptions,
  ) {
    this.tuning = opts.tuning ?? {};
    const { subgroupMinSize, subgroupMaxSize, isSoftware } = adapter;
    const has = (f: GPUFeatureName): boolean => device.features.has(f);
    const [f16, subgroups, limits] = [has('shader-f16'), has('subgroups'), device.limits];
    const tuned = (family: string, cls: string): Record<string, number> | undefined => this.tuning[family]?.[cls];
    this.caps = { limits, f16, subgroups, subgroupMinSize, subgroupMaxSize, isSoftware, tuned };
    this.errors = new ErrorChannel(device);
    this.pool = new BufferPool(device, opts.poolCapBytes ?? poolCapFromEnv());
    const debug = process.env.WALT_DEBUG === '1' || process.env.WEBGPU_DEBUG === '1';
    this.pipelines = new PipelineCache(device, this.errors, this.caps, debug);
    const idOf = (b: GPUBuffer): number => this.pool.idOf(b);
    this.recorder = new CommandRecorder(device, opts.maxDispatchesPerFlush ?? 256, idOf, () => this.pool.afterSubmit());
    this.transfers = new Transfers(device, this.recorder);
  }

  /** Opens the device on the best adapter (hardware first; see adapter.ts). */
  static async create(opts: ContextOptions = {}): Promise<GpuContext> {
    const { gpu, device, report } = await openDevice(opts);
    const ctx = new GpuContext(gpu, device, report, opts);
    ctx.dummy('f32');
    ctx.dummy('f16');
    return ctx;
  }

  /** Counters: dispatches, submits, transfers, pipelines (syncCompiles: compiled at a dispatch). */
  get stats() {
    const { pipelines, compileMs, syncCompiles } = this.pipelines.stats;
    const { dispatches, submits } = this.recorder;
    const { uploads, readbacks } = this.transfers;
    return { dispatches, submits, uploads, readbacks, pipelines, pipelineCompileMs: compileMs, syncCompiles };
  }

  // ---------------------------------------------------------------- tensors

  private allocate(shape: Shape, dtype: DType, label: string, pooled: boolean): Tensor {
    this.errors.assertAlive();
    const what = `${label || 'tensor'} ${formatShape(shape)} ${dtype}`;
    if (!shape.every((d) => Number.isInteger(d) && d >= 0)) {
      throw new ShapeError(`${what}: bad shape`);
    }
    const bytes = Math.max(4, Math.ceil((numel(shape) * bytesPerElement(dtype)) / 4) * 4);
    if (bytes > this.caps.limits.maxBufferSize) {
      throw new ShapeError(
        `${what} needs ${bytes} bytes, above this device's maxBufferSize (${this.caps.limits.maxBufferSize}); use a smaller batch or resolution`,
      );
    }
    const buffer = pooled
      ? this.pool.acquire(bytes, STORAGE_USAGE, label)
      : this.pool.createUnpooled(Math.ceil(bytes / 16) * 16, STORAGE_USAGE, label);
    const alloc: Allocation = { buffer, usage: STORAGE_USAGE, pooled, refs: 1 };
    const t = new Tensor(this, alloc, shape, dtype, 0, label);
    if (!pooled) {
      this.detach(t);
    }
    return t;
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

  /** A zeroed tensor that is never pooled (parameters, optimiser state); dispose() destroys it. */
  persistent(shape: Shape, dtype: DType = 'f32', label = ''): Tensor {
    const t = this.allocate(shape, dtype, label, false);
    this.clear(t);
    return t;
  }

  /** A persistent tensor with these values (weights). */
  uploadWeight(data: Float32Array | Uint16Array, shape: Shape, dtype: DType, label: string): Tensor {
    const t = this.allocate(shape, dtype, label, false);
    this.writeTensor(t, data);
    return t;
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

  /** Zero-fills a tensor's bytes, in command order. */
  clear(t: Tensor): void {
    const start = t.byteOffset - (t.byteOffset % 4);
    const end = Math.min(t.buffer.size, Math.ceil((t.byteOffset + t.byteLength) / 4) * 4);
    this.recorder.commandEncoder().clearBuffer(t.buffer, start, end - start);
  }

  /** Copies `src` into `dst`, in command order. */
  copy(src: Tensor, dst: Tensor, srcByteOffset = 0, dstByteOffset = 0, byteLength = src.byteLength): void {
    const [s, d] = [src.byteOffset + srcByteOffset, dst.byteOffset + dstByteOffset];
    this.recorder.commandEncoder().copyBufferToBuffer(src.buffer, s, dst.buffer, d, byteLength);
  }

  /** A small zeroed tensor for bindings a variant does not use (owned by the context). */
  dummy(dtype: DType = 'f32'): Tensor {
    let d = this.dummies.get(dtype);
    if (!d) {
      this.dummies.set(dtype, (d = this.zeros([4], dtype, `dummy-${dtype}`)));
      this.trackTensor(d, -1);
    }
    return d;
  }

  async readTensor(t: Tensor): Promise<Float32Array> {
    return bytesToFloat32(t.dtype, await this.readTensorRaw(t), t.numel);
  }

  async readTensorRaw(t: Tensor): Promise<ArrayBuffer> {
    this.errors.assertAlive();
    try {
      return await this.transfers.read(t);
    } finally {
      await this.settle();
    }
  }

  releaseAllocation(alloc: Allocation): void {
    if (!this.errors.closed) {
      this.pool.release(alloc.buffer, alloc.pooled, this.recorder.isOpen);
    }
  }

  /** Takes t out of every open scope (persistent tensors, long-lived views): its owner disposes it. */
  detach(t: Tensor): Tensor {
    this.registry.detach(t);
    return t;
  }

  trackTensor(t: Tensor, delta: 1 | -1): void {
    this.registry.track(t, delta);
    this.pool.stats.liveTensors += delta;
  }

  /**
   * Runs `fn`; disposes every tensor created inside it except those reachable from its result
   * (a tensor, or arrays/objects/Maps of tensors), which move to the enclosing scope; persistent
   * tensors and detached ones stay.
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

  /** Counters of the pool (bytes, live tensors, buffers created and reused). */
  memory(): MemoryStats {
    return { ...this.pool.stats };
  }

  // ---------------------------------------------------------------- pipelines and dispatch

  /**
   * Creates ahead, in parallel, every pipeline that `fn` would dispatch: fn runs once with its
   * dispatches recorded instead of encoded (allocations, uploads and reads still happen; the data
   * is meaningless), so the set is exactly what the real run needs. Returns the pipeline count.
   */
  async prepareFor(fn: () => Promise<unknown>): Promise<number> {
    const planned: { family: Family; variant: unknown }[] = (this.planned = []);
    try {
      await this.scope(fn);
    } finally {
      this.planned = null;
    }
    const families = new Set(planned.map((p) => p.family));
    const variants = (f: Family): unknown[] => planned.filter((p) => p.family === f).map((p) => p.variant);
    await Promise.all([...families].map((f) => this.pipelines.prepare(f, variants(f))));
    return new Set(planned.map((p) => resolveVariant(p.family, p.variant, this.caps).pipelineKey)).size;
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
    const fam = family as unknown as Family;
    if (this.planned) {
      this.planned.push({ family: fam, variant });
      return;
    }
    const r = resolveVariant(fam, variant, this.caps);
    const label = args.label ? `${r.label} ${args.label}` : r.label;
    this.recorder.dispatch(fam, label, [this.pipelines.get(fam, r), this.pipelines.layoutFor(fam).bgl], args, this.tag);
  }

  private async settle(): Promise<void> {
    await this.recorder.settle();
    try {
      await this.pool.settle();
    } catch (e) {
      this.errors.clear(); // the validation errors an out-of-memory buffer caused
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

  // ---------------------------------------------------------------- profiling and lifetime

  /** Turns per-dispatch GPU timestamps on or off (each dispatch then gets its own pass). */
  setProfiling(on: boolean): void {
    this.recorder.setProfiling(on, this.adapter.name);
  }

  get isProfiling(): boolean {
    return this.recorder.isProfiling;
  }

  /** Waits for outstanding timestamp reads; returns (and clears) the records. */
  async takeProfile(): Promise<ProfileRecord[]> {
    await this.sync();
    return this.recorder.takeRecords();
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
