// GpuContext: the device, its limits and features, the buffer pool, the pipeline cache, batched
// command encoding with a uniform arena, explicit upload/readback, per-dispatch GPU timestamps,
// error surfacing with kernel labels, scopes for tensor lifetimes, and close().

import type { AdapterRequest, AdapterReport } from './adapter.js';
import { releaseInstance, requestAdapter } from './adapter.js';
import { BufferPool, type MemoryStats } from './buffer-pool.js';
import type { DeviceCaps, KernelFamily, ResolvedVariant } from './family.js';
import { paramsByteSize, resolveVariant } from './family.js';
import { kernelFiles } from './kernel-files.js';
import { preprocess, type Preprocessed } from './wgsl.js';
import { bytesPerElement, type DType } from '../tensor/dtype.js';
import { fromF16Array, toF16Array } from '../tensor/f16.js';
import { formatShape, numel, type Shape, ShapeError } from '../tensor/shape.js';
import { type Allocation, Tensor, type TensorHost } from '../tensor/tensor.js';

const STORAGE_USAGE = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;
/** Uniform slots are 256 bytes: the largest minUniformBufferOffsetAlignment in the wild. */
const UNIFORM_SLOT = 256;

export interface ContextOptions extends AdapterRequest {
  /** Record GPU timestamps for every dispatch (needs 'timestamp-query'). Off by default. */
  profile?: boolean;
  /** Dispatches encoded before an automatic submit (ggml uses 64). */
  maxDispatchesPerFlush?: number;
  /** Tuned override values, by family and tuning class (from the autotuner cache). */
  tuning?: Record<string, Record<string, Record<string, number>>>;
  /** Byte cap of free pooled buffers. */
  poolCapBytes?: number;
}

export interface DispatchArgs {
  /** Tensors in the family's binding order. */
  bindings: readonly Tensor[];
  params: Readonly<Record<string, number>>;
  workgroups: readonly [number, number?, number?];
  /** Extra detail appended to the label (e.g. the layer). */
  label?: string;
}

export interface ProfileRecord {
  /** 'family:variant' (+ ' detail'). */
  label: string;
  family: string;
  /** Free-form grouping tag set with ctx.tag (e.g. 'blocks.3/spatiotemporal'). */
  tag: string;
  ms: number;
}

export interface ContextStats {
  dispatches: number;
  submits: number;
  uploads: number;
  readbacks: number;
  pipelines: number;
  pipelineCompileMs: number;
}

export class GpuError extends Error {
  override name = 'GpuError';
}

interface PendingDispatch {
  label: string;
  family: string;
  tag: string;
}

type Scope = Set<Tensor>;

/** The one object through which all GPU work goes. Create with `await GpuContext.create()`. */
export class GpuContext implements TensorHost {
  readonly caps: DeviceCaps;
  readonly pool: BufferPool;
  readonly stats: ContextStats = {
    dispatches: 0,
    submits: 0,
    uploads: 0,
    readbacks: 0,
    pipelines: 0,
    pipelineCompileMs: 0,
  };
  /** Grouping tag recorded with each dispatch's timestamp (model code sets it per layer). */
  tag = '';
  private tuning: Record<string, Record<string, Record<string, number>>>;

  private gpu: GPU | null;
  private encoder: GPUCommandEncoder | null = null;
  private pass: GPUComputePassEncoder | null = null;
  private pending: PendingDispatch[] = [];
  private readonly arena: GPUBuffer;
  private readonly arenaCpu: ArrayBuffer;
  private readonly arenaView: DataView;
  private readonly maxDispatches: number;
  private readonly modules = new Map<string, { module: GPUShaderModule; pre: Preprocessed }>();
  private readonly pipelines = new Map<string, GPUComputePipeline>();
  private readonly creating = new Map<string, Promise<GPUComputePipeline>>();
  private readonly layouts = new Map<string, { bgl: GPUBindGroupLayout; pl: GPUPipelineLayout }>();
  private readonly bindGroups = new Map<string, GPUBindGroup>();
  private readonly errors: string[] = [];
  private lostReason: string | null = null;
  private closed = false;
  private readonly scopes: Scope[] = [];
  private readonly live = new Set<Tensor>();
  private readonly debug: boolean;
  private readonly sourceHashes = new Map<string, string>();
  // Timestamps
  private profiling: boolean;
  private querySet: GPUQuerySet | null = null;
  private readonly profileReads: Promise<void>[] = [];
  private readonly profileRecords: ProfileRecord[] = [];
  private readonly stagingFree = new Map<number, GPUBuffer[]>();
  private dummies = new Map<DType, Tensor>();

  private constructor(
    gpu: GPU,
    readonly device: GPUDevice,
    readonly adapter: AdapterReport,
    opts: ContextOptions,
  ) {
    this.gpu = gpu;
    this.debug = process.env.WALT_DEBUG === '1' || process.env.WEBGPU_DEBUG === '1';
    this.tuning = opts.tuning ?? {};
    const features = device.features;
    this.caps = {
      limits: device.limits,
      f16: features.has('shader-f16'),
      subgroups: features.has('subgroups'),
      subgroupSize: adapter.subgroupMinSize || 32,
      isSoftware: adapter.isSoftware,
      tuned: (family, cls) => this.tuning[family]?.[cls],
    };
    this.pool = new BufferPool(device, opts.poolCapBytes);
    this.maxDispatches = opts.maxDispatchesPerFlush ?? 256;
    this.arena = device.createBuffer({
      size: this.maxDispatches * UNIFORM_SLOT,
      usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
      label: 'uniform-arena',
    });
    this.arenaCpu = new ArrayBuffer(this.maxDispatches * UNIFORM_SLOT);
    this.arenaView = new DataView(this.arenaCpu);
    this.profiling = false;
    if (opts.profile) {
      this.setProfiling(true);
    }
    // The property (not addEventListener): with no onuncapturederror handler Dawn also prints
    // every error to stdout, which would corrupt JSON output.
    device.onuncapturederror = (ev) => {
      this.errors.push(ev.error.message);
    };
    void device.lost.then((info) => {
      if (!this.closed) {
        this.lostReason = `${info.reason}: ${info.message}`;
      }
    });
  }

  /**
   * Opens the device on the best adapter (see requestAdapter), with the adapter's real limits and
   * the features it has among shader-f16, subgroups and timestamp-query.
   */
  static async create(opts: ContextOptions = {}): Promise<GpuContext> {
    const { gpu, adapter, report } = await requestAdapter(opts);
    const wanted: GPUFeatureName[] = ['shader-f16', 'subgroups', 'timestamp-query'];
    const requiredFeatures = wanted.filter((f) => adapter.features.has(f));
    const requiredLimits: Record<string, number> = {};
    for (const key in adapter.limits) {
      const v = (adapter.limits as unknown as Record<string, unknown>)[key];
      if (typeof v === 'number') {
        requiredLimits[key] = v;
      }
    }
    let device: GPUDevice;
    try {
      device = await adapter.requestDevice({ requiredFeatures, requiredLimits, label: 'walt' });
    } catch (e) {
      releaseInstance(gpu);
      throw new GpuError(`requestDevice failed on ${report.name}: ${e instanceof Error ? e.message : String(e)}`);
    }
    const ctx = new GpuContext(gpu, device, report, opts);
    // Context-owned placeholders for unused bindings, made now so they sit in every baseline.
    ctx.dummy('f32');
    ctx.dummy('f16');
    return ctx;
  }

  // ---------------------------------------------------------------- tensors

  /** An uninitialised pooled tensor. */
  empty(shape: Shape, dtype: DType = 'f32', label = ''): Tensor {
    this.assertOpen();
    for (const d of shape) {
      if (!Number.isInteger(d) || d < 0) {
        throw new ShapeError(`empty(${label}): bad shape ${formatShape(shape)}`);
      }
    }
    const bytes = Math.max(4, Math.ceil((numel(shape) * bytesPerElement(dtype)) / 4) * 4);
    if (bytes > this.caps.limits.maxBufferSize) {
      throw new ShapeError(
        `${label || 'tensor'} ${formatShape(shape)} ${dtype} needs ${bytes} bytes, above this device's maxBufferSize ` +
          `(${this.caps.limits.maxBufferSize}); use a smaller batch or resolution`,
      );
    }
    const buffer = this.pool.acquire(bytes, STORAGE_USAGE, label);
    const alloc: Allocation = { buffer, usage: STORAGE_USAGE, pooled: true, refs: 1 };
    return new Tensor(this, alloc, shape, dtype, 0, label);
  }

  /** A pooled tensor filled with zeros (cleared on the GPU, in command order). */
  zeros(shape: Shape, dtype: DType = 'f32', label = ''): Tensor {
    const t = this.empty(shape, dtype, label);
    this.clear(t);
    return t;
  }

  /** Zero-fills a tensor's bytes, in command order. */
  clear(t: Tensor): void {
    const enc = this.openEncoder();
    this.endPass();
    const start = t.byteOffset - (t.byteOffset % 4);
    const end = Math.min(t.buffer.size, Math.ceil((t.byteOffset + t.byteLength) / 4) * 4);
    enc.clearBuffer(t.buffer, start, end - start);
  }

  /** Copies `src` into `dst` (same byte length), in command order. */
  copy(src: Tensor, dst: Tensor, srcByteOffset = 0, dstByteOffset = 0, byteLength = src.byteLength): void {
    const enc = this.openEncoder();
    this.endPass();
    enc.copyBufferToBuffer(
      src.buffer,
      src.byteOffset + srcByteOffset,
      dst.buffer,
      dst.byteOffset + dstByteOffset,
      byteLength,
    );
  }

  /** Uploads host values into a new pooled tensor (f16: converted on the CPU). */
  upload(
    data: Float32Array | Uint16Array | Uint32Array | Int32Array,
    shape: Shape,
    dtype: DType = 'f32',
    label = '',
  ): Tensor {
    if (data.length !== numel(shape)) {
      throw new ShapeError(`upload ${label}: ${data.length} values for shape ${formatShape(shape)}`);
    }
    const t = this.empty(shape, dtype, label);
    this.writeTensor(t, data);
    return t;
  }

  /** Overwrites a tensor's contents from the host. Flushes the open encoder first (queue order). */
  writeTensor(t: Tensor, data: Float32Array | Uint16Array | Uint32Array | Int32Array): void {
    this.assertOpen();
    let bytes: ArrayBufferView;
    if (t.dtype === 'f16') {
      bytes = data instanceof Uint16Array ? data : toF16Array(data);
    } else {
      bytes = data;
    }
    if (bytes.byteLength !== t.byteLength) {
      throw new ShapeError(`writeTensor ${t.toString()}: ${bytes.byteLength} bytes for ${t.byteLength}`);
    }
    this.flush();
    this.stats.uploads++;
    const padded = bytes.byteLength % 4 === 0 ? bytes : padTo4(bytes);
    this.device.queue.writeBuffer(t.buffer, t.byteOffset, padded.buffer, padded.byteOffset, padded.byteLength);
  }

  /** A tensor that is never pooled (weights): destroyed when disposed. */
  uploadWeight(data: Float32Array | Uint16Array, shape: Shape, dtype: DType, label: string): Tensor {
    this.assertOpen();
    const bytes = Math.max(4, Math.ceil((numel(shape) * bytesPerElement(dtype)) / 4) * 4);
    const buffer = this.device.createBuffer({ size: Math.ceil(bytes / 16) * 16, usage: STORAGE_USAGE, label });
    const t = new Tensor(this, { buffer, usage: STORAGE_USAGE, pooled: false, refs: 1 }, shape, dtype, 0, label);
    this.writeTensor(t, data);
    return t;
  }

  /** A small zeroed tensor to bind where a variant does not use a binding. Owned by the context. */
  dummy(dtype: DType = 'f32'): Tensor {
    let d = this.dummies.get(dtype);
    if (!d) {
      d = this.zeros([4], dtype, `dummy-${dtype}`);
      // Owned by the context: not a live tensor of any scope or leak check.
      this.live.delete(d);
      this.pool.stats.liveTensors--;
      for (const s of this.scopes) {
        s.delete(d);
      }
      this.dummies.set(dtype, d);
    }
    return d;
  }

  readTensor(t: Tensor): Promise<Float32Array> {
    return this.readTensorRaw(t).then((raw) => {
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
    });
  }

  async readTensorRaw(t: Tensor): Promise<ArrayBuffer> {
    this.assertOpen();
    const start = t.byteOffset - (t.byteOffset % 4);
    const lead = t.byteOffset - start;
    const size = Math.ceil((lead + t.byteLength) / 4) * 4;
    const stagingSize = Math.max(256, Math.ceil(size / 256) * 256);
    const staging =
      this.stagingFree.get(stagingSize)?.pop() ??
      this.device.createBuffer({
        size: stagingSize,
        usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
        label: 'readback',
      });
    const enc = this.openEncoder();
    this.endPass();
    enc.copyBufferToBuffer(t.buffer, start, staging, 0, size);
    this.flush();
    this.stats.readbacks++;
    try {
      await staging.mapAsync(GPUMapMode.READ, 0, size);
    } catch (e) {
      this.throwIfErrors();
      throw e;
    }
    const out = staging.getMappedRange(0, size).slice(lead, lead + t.byteLength);
    staging.unmap();
    let list = this.stagingFree.get(stagingSize);
    if (!list) {
      list = [];
      this.stagingFree.set(stagingSize, list);
    }
    list.push(staging);
    this.throwIfErrors();
    return out;
  }

  releaseAllocation(alloc: Allocation): void {
    if (this.closed) {
      return;
    }
    if (alloc.pooled) {
      this.pool.release(alloc.buffer, alloc.usage);
    } else {
      // Weights: destroy after the work that may still read them has been submitted.
      this.flush();
      alloc.buffer.destroy();
    }
  }

  trackTensor(t: Tensor, delta: 1 | -1): void {
    if (delta === 1) {
      this.live.add(t);
      this.pool.stats.liveTensors++;
      this.scopes[this.scopes.length - 1]?.add(t);
    } else {
      this.live.delete(t);
      this.pool.stats.liveTensors--;
      for (const s of this.scopes) {
        s.delete(t);
      }
    }
  }

  /**
   * Runs `fn`; disposes every tensor created inside it except those reachable from its result
   * (a tensor, or arrays/objects/Maps of tensors), which move to the enclosing scope.
   * Works with async functions too: await the returned promise before starting another scope.
   */
  scope<T>(fn: () => T): T {
    const s: Scope = new Set();
    this.scopes.push(s);
    let result: T;
    try {
      result = fn();
    } catch (e) {
      this.closeScope(s, undefined);
      throw e;
    }
    if (result instanceof Promise) {
      return result.then(
        (r: unknown) => {
          this.closeScope(s, r);
          return r;
        },
        (e: unknown) => {
          this.closeScope(s, undefined);
          throw e;
        },
      ) as T;
    }
    this.closeScope(s, result);
    return result;
  }

  private closeScope(s: Scope, keep: unknown): void {
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
  }

  /** Installs tuned override values (src/gpu/autotune.ts); later pipelines use them. */
  setTuning(table: Record<string, Record<string, Record<string, number>>>): void {
    this.tuning = table;
  }

  /** Counters of the pool (bytes, live tensors, hits/misses). */
  memory(): MemoryStats {
    return { ...this.pool.stats };
  }

  // ---------------------------------------------------------------- pipelines

  private layoutFor(family: KernelFamily<unknown>): { bgl: GPUBindGroupLayout; pl: GPUPipelineLayout } {
    let l = this.layouts.get(family.name);
    if (!l) {
      const entries: GPUBindGroupLayoutEntry[] = family.bindings.map((b, i) => ({
        binding: i,
        visibility: GPUShaderStage.COMPUTE,
        buffer: { type: b.access === 'read' ? 'read-only-storage' : 'storage' },
      }));
      entries.push({
        binding: family.bindings.length,
        visibility: GPUShaderStage.COMPUTE,
        buffer: { type: 'uniform', hasDynamicOffset: true, minBindingSize: paramsByteSize(family) },
      });
      const bgl = this.device.createBindGroupLayout({ entries, label: family.name });
      const pl = this.device.createPipelineLayout({ bindGroupLayouts: [bgl], label: family.name });
      l = { bgl, pl };
      this.layouts.set(family.name, l);
    }
    return l;
  }

  private moduleFor(family: KernelFamily<unknown>, r: ResolvedVariant): GPUShaderModule {
    let m = this.modules.get(r.sourceKey);
    if (!m) {
      const pre = preprocess(family.file, kernelFiles, r.defines);
      if (this.debug) {
        const prev = this.sourceHashes.get(r.sourceKey);
        if (prev !== undefined && prev !== pre.code) {
          throw new GpuError(`pipeline key collision: ${r.sourceKey} maps to two sources`);
        }
        this.sourceHashes.set(r.sourceKey, pre.code);
      }
      const module = this.device.createShaderModule({ code: pre.code, label: r.label });
      m = { module, pre };
      this.modules.set(r.sourceKey, m);
      void module.getCompilationInfo().then((info) => {
        for (const msg of info.messages) {
          if (msg.type === 'error') {
            const src = pre.lineMap[msg.lineNum - 1];
            const where = src ? `kernels/${src.file}:${src.line}` : `line ${msg.lineNum}`;
            this.errors.push(`${where}: ${msg.message} (${r.label})`);
          }
        }
      });
    }
    return m.module;
  }

  private pipelineDescriptor(family: KernelFamily<unknown>, r: ResolvedVariant): GPUComputePipelineDescriptor {
    return {
      label: r.label,
      layout: this.layoutFor(family).pl,
      compute: { module: this.moduleFor(family, r), entryPoint: r.entryPoint, constants: { ...r.overrides } },
    };
  }

  /**
   * Creates the pipelines of these variants ahead of use, in parallel (createComputePipelineAsync).
   * Call before the first dispatch of a model; later dispatches find them in the cache.
   */
  async prepare<V>(family: KernelFamily<V>, variants: readonly V[]): Promise<void> {
    await Promise.all(variants.map((v) => this.pipelineAsync(family, v)));
  }

  private pipelineAsync<V>(family: KernelFamily<V>, variant: V): Promise<GPUComputePipeline> {
    const r = resolveVariant(family, variant, this.caps);
    const have = this.pipelines.get(r.pipelineKey);
    if (have) {
      return Promise.resolve(have);
    }
    let p = this.creating.get(r.pipelineKey);
    if (!p) {
      const t0 = performance.now();
      p = this.device
        .createComputePipelineAsync(this.pipelineDescriptor(family as KernelFamily<unknown>, r))
        .then((pipe) => {
          this.stats.pipelineCompileMs += performance.now() - t0;
          this.stats.pipelines++;
          this.pipelines.set(r.pipelineKey, pipe);
          this.creating.delete(r.pipelineKey);
          return pipe;
        })
        .catch((e: unknown) => {
          this.creating.delete(r.pipelineKey);
          this.throwIfErrors();
          throw new GpuError(`pipeline ${r.label}: ${e instanceof Error ? e.message : String(e)}`);
        });
      this.creating.set(r.pipelineKey, p);
    }
    return p;
  }

  private pipelineSync(family: KernelFamily<unknown>, r: ResolvedVariant): GPUComputePipeline {
    let pipe = this.pipelines.get(r.pipelineKey);
    if (!pipe) {
      const t0 = performance.now();
      pipe = this.device.createComputePipeline(this.pipelineDescriptor(family, r));
      this.stats.pipelineCompileMs += performance.now() - t0;
      this.stats.pipelines++;
      this.pipelines.set(r.pipelineKey, pipe);
    }
    return pipe;
  }

  /** The preprocessed source of a variant (wgsl-dump, contract tests). */
  sourceOf<V>(family: KernelFamily<V>, variant: V): string {
    return preprocess(family.file, kernelFiles, resolveVariant(family, variant, this.caps).defines).code;
  }

  // ---------------------------------------------------------------- dispatch

  /**
   * Encodes one dispatch of `family` with `variant`. Checks binding sizes against the device
   * limits, writable-binding aliasing and workgroup counts before encoding; errors name the
   * family, the variant and the tensors.
   */
  dispatch<V>(family: KernelFamily<V>, variant: V, args: DispatchArgs): void {
    this.assertOpen();
    const fam = family as KernelFamily<unknown>;
    const r = resolveVariant(family, variant, this.caps);
    const label = args.label ? `${r.label} ${args.label}` : r.label;
    this.checkDispatch(fam, label, args);
    const pipe = this.pipelineSync(fam, r);
    if (this.pending.length >= this.maxDispatches || (this.profiling && this.pending.length * 2 + 2 > QUERY_CAPACITY)) {
      this.flush();
    }
    const slot = this.pending.length;
    this.packParams(fam, args.params, slot * UNIFORM_SLOT, label);
    const bg = this.bindGroupFor(fam, args.bindings, label);
    let pass: GPUComputePassEncoder;
    if (this.profiling) {
      this.endPass();
      pass = this.openEncoder().beginComputePass({
        label,
        timestampWrites: {
          querySet: this.querySet!,
          beginningOfPassWriteIndex: slot * 2,
          endOfPassWriteIndex: slot * 2 + 1,
        },
      });
      this.pass = pass;
    } else {
      pass = this.openPass();
    }
    pass.setPipeline(pipe);
    pass.setBindGroup(0, bg, [slot * UNIFORM_SLOT]);
    const [x, y = 1, z = 1] = args.workgroups;
    if (x > 0 && y > 0 && z > 0) {
      pass.dispatchWorkgroups(x, y, z);
    }
    if (this.profiling) {
      this.endPass();
    }
    this.pending.push({ label, family: family.name, tag: this.tag });
    this.stats.dispatches++;
  }

  private checkDispatch(family: KernelFamily<unknown>, label: string, args: DispatchArgs): void {
    const lim = this.caps.limits;
    if (args.bindings.length !== family.bindings.length) {
      throw new ShapeError(`${label}: ${args.bindings.length} tensors bound, the kernel has ${family.bindings.length}`);
    }
    if (family.bindings.length > lim.maxStorageBuffersPerShaderStage) {
      throw new ShapeError(
        `${label}: ${family.bindings.length} storage buffers exceed maxStorageBuffersPerShaderStage`,
      );
    }
    args.bindings.forEach((t, i) => {
      t.assertAlive(label);
      const size = bindingSize(t);
      if (size > lim.maxStorageBufferBindingSize) {
        throw new ShapeError(
          `${label}: binding '${family.bindings[i]!.name}' ${t.toString()} is ${size} bytes, above this device's ` +
            `maxStorageBufferBindingSize (${lim.maxStorageBufferBindingSize}); process it in chunks or use a smaller batch`,
        );
      }
      if (t.byteOffset % lim.minStorageBufferOffsetAlignment !== 0) {
        throw new ShapeError(
          `${label}: binding '${family.bindings[i]!.name}' ${t.toString()} starts at byte ${t.byteOffset}, not a multiple ` +
            `of minStorageBufferOffsetAlignment (${lim.minStorageBufferOffsetAlignment})`,
        );
      }
    });
    for (let i = 0; i < args.bindings.length; i++) {
      if (family.bindings[i]!.access !== 'read_write') {
        continue;
      }
      const a = args.bindings[i]!;
      for (let j = 0; j < args.bindings.length; j++) {
        const b = args.bindings[j]!;
        if (j !== i && a.buffer === b.buffer && overlaps(a, b)) {
          throw new ShapeError(
            `${label}: writable binding '${family.bindings[i]!.name}' ${a.toString()} overlaps binding ` +
              `'${family.bindings[j]!.name}' ${b.toString()} (aliasing); use a separate output tensor`,
          );
        }
      }
    }
    for (const w of args.workgroups) {
      if (w !== undefined && (w > lim.maxComputeWorkgroupsPerDimension || !Number.isInteger(w) || w < 0)) {
        throw new ShapeError(
          `${label}: workgroup count ${w} exceeds maxComputeWorkgroupsPerDimension (${lim.maxComputeWorkgroupsPerDimension})`,
        );
      }
    }
  }

  private packParams(
    family: KernelFamily<unknown>,
    params: Readonly<Record<string, number>>,
    offset: number,
    label: string,
  ): void {
    const view = this.arenaView;
    family.params.forEach(([name, type], i) => {
      const v = params[name];
      if (v === undefined || Number.isNaN(v)) {
        throw new ShapeError(`${label}: param '${name}' is missing`);
      }
      const at = offset + i * 4;
      if (type === 'f32') {
        view.setFloat32(at, v, true);
      } else if (type === 'u32') {
        if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) {
          throw new ShapeError(`${label}: param '${name}' = ${v} is not a u32`);
        }
        view.setUint32(at, v, true);
      } else {
        if (!Number.isInteger(v) || v < -0x80000000 || v > 0x7fffffff) {
          throw new ShapeError(`${label}: param '${name}' = ${v} is not an i32`);
        }
        view.setInt32(at, v, true);
      }
    });
  }

  private bindGroupFor(family: KernelFamily<unknown>, bindings: readonly Tensor[], label: string): GPUBindGroup {
    let key = family.name;
    for (const t of bindings) {
      key += `|${this.pool.idOf(t.buffer)}:${t.byteOffset}:${bindingSize(t)}`;
    }
    let bg = this.bindGroups.get(key);
    if (!bg) {
      if (this.bindGroups.size > 8192) {
        this.bindGroups.clear();
      }
      const entries: GPUBindGroupEntry[] = bindings.map((t, i) => ({
        binding: i,
        resource: { buffer: t.buffer, offset: t.byteOffset, size: bindingSize(t) },
      }));
      entries.push({
        binding: bindings.length,
        resource: { buffer: this.arena, offset: 0, size: paramsByteSize(family) },
      });
      bg = this.device.createBindGroup({ layout: this.layoutFor(family).bgl, entries, label });
      this.bindGroups.set(key, bg);
    }
    return bg;
  }

  private openEncoder(): GPUCommandEncoder {
    if (!this.encoder) {
      this.encoder = this.device.createCommandEncoder({ label: 'walt' });
    }
    return this.encoder;
  }

  private openPass(): GPUComputePassEncoder {
    if (!this.pass) {
      this.pass = this.openEncoder().beginComputePass({ label: 'walt' });
    }
    return this.pass;
  }

  private endPass(): void {
    if (this.pass) {
      this.pass.end();
      this.pass = null;
    }
  }

  /** Submits everything encoded so far (the uniform arena is written just before the submit). */
  flush(): void {
    if (!this.encoder) {
      return;
    }
    this.endPass();
    const n = this.pending.length;
    let resolve: { buf: GPUBuffer; staging: GPUBuffer; labels: PendingDispatch[] } | null = null;
    if (this.profiling && n > 0) {
      const bytes = n * 2 * 8;
      const buf = this.device.createBuffer({
        size: bytes,
        usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC,
      });
      const staging = this.device.createBuffer({
        size: bytes,
        usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
      });
      this.encoder.resolveQuerySet(this.querySet!, 0, n * 2, buf, 0);
      this.encoder.copyBufferToBuffer(buf, 0, staging, 0, bytes);
      resolve = { buf, staging, labels: this.pending.slice() };
    }
    if (n > 0) {
      this.device.queue.writeBuffer(this.arena, 0, this.arenaCpu, 0, n * UNIFORM_SLOT);
    }
    this.device.queue.submit([this.encoder.finish()]);
    this.stats.submits++;
    this.encoder = null;
    this.pending = [];
    if (resolve) {
      const { buf, staging, labels } = resolve;
      this.profileReads.push(
        staging.mapAsync(GPUMapMode.READ).then(() => {
          const ts = new BigInt64Array(staging.getMappedRange());
          labels.forEach((p, i) => {
            const ns = Number(ts[2 * i + 1]! - ts[2 * i]!);
            this.profileRecords.push({ label: p.label, family: p.family, tag: p.tag, ms: ns / 1e6 });
          });
          staging.unmap();
          staging.destroy();
          buf.destroy();
        }),
      );
    }
  }

  /** Flushes and waits until the GPU has finished everything submitted; surfaces GPU errors. */
  async sync(): Promise<void> {
    this.assertOpen();
    this.flush();
    await this.device.queue.onSubmittedWorkDone();
    await Promise.all(this.profileReads.splice(0));
    this.throwIfErrors();
  }

  // ---------------------------------------------------------------- profiling

  /** Turns per-dispatch GPU timestamps on or off (each dispatch then gets its own pass). */
  setProfiling(on: boolean): void {
    if (on && !this.device.features.has('timestamp-query')) {
      throw new GpuError(`${this.adapter.name} has no 'timestamp-query' feature: per-kernel GPU times are unavailable`);
    }
    this.flush();
    this.profiling = on;
    if (on && !this.querySet) {
      this.querySet = this.device.createQuerySet({ type: 'timestamp', count: QUERY_CAPACITY, label: 'timestamps' });
    }
  }

  get isProfiling(): boolean {
    return this.profiling;
  }

  /** Waits for outstanding timestamp reads and returns (and clears) the records. */
  async takeProfile(): Promise<ProfileRecord[]> {
    await this.sync();
    return this.profileRecords.splice(0);
  }

  // ---------------------------------------------------------------- errors and lifetime

  private throwIfErrors(): void {
    if (this.lostReason) {
      throw new GpuError(`GPU device lost (${this.lostReason})`);
    }
    if (this.errors.length > 0) {
      const msgs = this.errors.splice(0);
      throw new GpuError(`GPU error${msgs.length > 1 ? 's' : ''}:\n  ${msgs.join('\n  ')}`);
    }
  }

  private assertOpen(): void {
    if (this.closed) {
      throw new GpuError('the GPU context is closed');
    }
    if (this.lostReason) {
      throw new GpuError(`GPU device lost (${this.lostReason})`);
    }
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Tensors currently alive (created and not disposed), for leak checks. */
  liveTensors(): Tensor[] {
    return [...this.live];
  }

  /** Waits for the GPU, destroys the device and drops the Dawn instance so the process can exit. */
  async close(): Promise<void> {
    if (this.closed) {
      return;
    }
    try {
      this.flush();
      await this.device.queue.onSubmittedWorkDone();
      await Promise.all(this.profileReads.splice(0));
    } finally {
      this.closed = true;
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

const QUERY_CAPACITY = 4096;

function bindingSize(t: Tensor): number {
  return Math.max(4, Math.ceil(t.byteLength / 4) * 4);
}

function overlaps(a: Tensor, b: Tensor): boolean {
  return a.byteOffset < b.byteOffset + bindingSize(b) && b.byteOffset < a.byteOffset + bindingSize(a);
}

function padTo4(bytes: ArrayBufferView): Uint8Array {
  const out = new Uint8Array(Math.ceil(bytes.byteLength / 4) * 4);
  out.set(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  return out;
}

function collectTensors(v: unknown, out: Set<Tensor>, depth: number): void {
  if (depth > 4 || v === null || typeof v !== 'object') {
    return;
  }
  if (v instanceof Tensor) {
    out.add(v);
  } else if (Array.isArray(v)) {
    for (const x of v) {
      collectTensors(x, out, depth + 1);
    }
  } else if (v instanceof Map) {
    for (const x of v.values()) {
      collectTensors(x, out, depth + 1);
    }
  } else if (Object.getPrototypeOf(v) === Object.prototype) {
    for (const x of Object.values(v)) {
      collectTensors(x, out, depth + 1);
    }
  }
}
