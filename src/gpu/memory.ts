// Buffer lifetimes: a pool of storage buffers keyed by (bucketed size, usage), with counters.
// A buffer released while the unsubmitted encoder may use it waits on a pending list until that
// encoder's submit (onnxruntime-web's pending buffers); then it is free (or destroyed: WebGPU
// defers that until the GPU is done with it), and the free list is trimmed to its cap. Out of
// memory: createBuffer does not throw, so each new buffer has an 'out-of-memory' error scope,
// whose results settle() collects at the next sync.

export interface MemoryStats {
  /** Free-list cap in force (WALT_POOL_MB; 0 = no pooling). */
  capBytes: number;
  /** Every live buffer: pooled in use, free, pending, and unpooled (weights, parameters). */
  bytesAllocated: number;
  /** Pooled bytes handed out and not yet released. */
  bytesInUse: number;
  peakBytesInUse: number; // high-water marks since resetPeak()
  peakBytesAllocated: number;
  liveTensors: number;
  /** createBuffer calls, and pooled buffers handed out again. */
  buffersCreated: number;
  buffersReused: number;
  /** Released buffers waiting for the submit of the encoder that may use them. */
  pending: number;
}

export class OutOfMemoryError extends Error {
  override name = 'OutOfMemoryError';
}

/** A pool bucket: 256 B steps below 64 KiB, else 1/16 of a power of two. */
export function bucketSize(bytes: number): number {
  const b = Math.max(256, bytes);
  const step = b <= 65536 ? 256 : 2 ** (Math.floor(Math.log2(b)) - 4);
  return Math.ceil(b / step) * step;
}

/** The free-list cap: WALT_POOL_MB (MiB) when set, else 2 GiB. */
export function poolCapFromEnv(env: NodeJS.ProcessEnv = process.env): number {
  const v = env.WALT_POOL_MB;
  const mb = v === undefined || v === '' ? 2048 : Number(v);
  if (!Number.isFinite(mb) || mb < 0) {
    throw new RangeError(`WALT_POOL_MB must be a number of MiB ≥ 0 (0 turns pooling off), got '${v}'`);
  }
  return Math.floor(mb * 1024 ** 2);
}

interface Entry {
  buffer: GPUBuffer;
  size: number;
  key: string;
}

export class BufferPool {
  private readonly free = new Map<string, GPUBuffer[]>();
  private readonly entries = new WeakMap<GPUBuffer, Entry>();
  private pendingFree: Entry[] = [];
  private pendingDestroy: Entry[] = [];
  private readonly checks: Promise<string | null>[] = [];
  private nextId = 1;
  private readonly ids = new WeakMap<GPUBuffer, number>();
  readonly stats: MemoryStats;

  constructor(
    private readonly device: GPUDevice,
    capBytes: number,
  ) {
    const zero = { bytesAllocated: 0, bytesInUse: 0, peakBytesInUse: 0, peakBytesAllocated: 0, liveTensors: 0 };
    this.stats = { capBytes, ...zero, buffersCreated: 0, buffersReused: 0, pending: 0 };
  }

  /** A stable small integer per buffer (bind group cache keys). */
  idOf(buffer: GPUBuffer): number {
    let id = this.ids.get(buffer);
    if (id === undefined) {
      this.ids.set(buffer, (id = this.nextId++));
    }
    return id;
  }

  /** A pooled buffer of at least `bytes`: a free one of the same bucket, else a new one. */
  acquire(bytes: number, usage: GPUBufferUsageFlags, label: string): GPUBuffer {
    const size = bucketSize(bytes);
    const key = `${size}:${usage}`;
    let buffer = this.free.get(key)?.pop();
    if (buffer) {
      this.stats.buffersReused++;
    } else {
      buffer = this.create(size, usage, label, key);
    }
    const s = this.stats;
    s.bytesInUse += size;
    s.peakBytesInUse = Math.max(s.peakBytesInUse, s.bytesInUse);
    return buffer;
  }

  /** An unpooled buffer (weights, parameters, staging): counted; release() destroys it. */
  createUnpooled(size: number, usage: GPUBufferUsageFlags, label: string): GPUBuffer {
    return this.create(size, usage, label, '');
  }

  private create(size: number, usage: GPUBufferUsageFlags, label: string, key: string): GPUBuffer {
    this.device.pushErrorScope('out-of-memory');
    const buffer = this.device.createBuffer({ size, usage, label });
    const what = `${label || 'buffer'} of ${size} bytes`;
    this.checks.push(this.device.popErrorScope().then((e) => (e ? `${what}: ${e.message}` : null)));
    this.entries.set(buffer, { buffer, size, key });
    const s = this.stats;
    s.buffersCreated++;
    s.bytesAllocated += size;
    s.peakBytesAllocated = Math.max(s.peakBytesAllocated, s.bytesAllocated);
    return buffer;
  }

  /**
   * Gives a buffer back. `recorded`: an unsubmitted encoder may use it, so it waits until
   * afterSubmit(). Pooled buffers go to the free list (within the cap), others are destroyed.
   */
  release(buffer: GPUBuffer, pooled: boolean, recorded: boolean): void {
    const e = this.entries.get(buffer);
    if (!e) {
      throw new Error('BufferPool.release: buffer does not belong to this pool');
    }
    if (pooled) {
      this.stats.bytesInUse -= e.size;
    }
    if (recorded) {
      (pooled ? this.pendingFree : this.pendingDestroy).push(e);
      this.stats.pending++;
    } else if (pooled) {
      this.toFree(e);
      this.trim(this.stats.capBytes);
    } else {
      this.destroy(e);
    }
  }

  /** After each submit: pending buffers become free (or are destroyed), then the cap holds. */
  afterSubmit(): void {
    const [free, gone] = [this.pendingFree, this.pendingDestroy];
    this.pendingFree = [];
    this.pendingDestroy = [];
    this.stats.pending = 0;
    free.forEach((e) => this.toFree(e));
    gone.forEach((e) => this.destroy(e));
    this.trim(this.stats.capBytes);
  }

  private toFree(e: Entry): void {
    const list = this.free.get(e.key);
    if (list) {
      list.push(e.buffer);
    } else {
      this.free.set(e.key, [e.buffer]);
    }
  }

  private destroy(e: Entry): void {
    e.buffer.destroy();
    this.stats.bytesAllocated -= e.size;
  }

  /** Destroys free buffers (oldest first) until at most `keepBytes` of them remain. */
  trim(keepBytes = 0): void {
    let freeBytes = 0;
    for (const list of this.free.values()) {
      freeBytes += list.reduce((n, b) => n + this.entries.get(b)!.size, 0);
    }
    for (const [key, list] of this.free) {
      while (list.length > 0 && freeBytes > keepBytes) {
        const e = this.entries.get(list.shift()!)!;
        this.destroy(e);
        freeBytes -= e.size;
      }
      if (list.length === 0) {
        this.free.delete(key);
      }
    }
  }

  /** Waits for the out-of-memory checks of the buffers created so far; throws on a failure. */
  async settle(): Promise<void> {
    const failed = (await Promise.all(this.checks.splice(0))).filter((m) => m !== null);
    if (failed.length > 0) {
      this.trim(0);
      throw new OutOfMemoryError(
        `GPU out of memory allocating ${failed[0]}. Use a smaller --batch or resolution, --dtype f16, ` +
          'or a lower pool cap (WALT_POOL_MB)',
      );
    }
  }

  resetPeak(): void {
    this.stats.peakBytesInUse = this.stats.bytesInUse;
    this.stats.peakBytesAllocated = this.stats.bytesAllocated;
  }
}
