// Buffer lifetimes: a pool of storage buffers keyed by (bucketed size, usage), with counters.
//
// The rule (onnxruntime-web's pending-buffer design): a buffer released while commands recorded
// into the still-unsubmitted encoder may use it goes on a pending list. Only after that encoder
// is submitted does it return to the free list (or get destroyed): from then on queue order makes
// reuse safe, and WebGPU defers the destruction of a submitted buffer until the GPU is done with
// it. Trimming (destroying free buffers above the cap) therefore happens only after a submit.
// queue.writeBuffer lands before the open encoder, so uploads flush first (see transfer.ts).
//
// Out of memory: createBuffer does not throw; each new buffer is created inside an
// 'out-of-memory' error scope whose result is collected at the next sync (settle()).

export interface MemoryStats {
  /** Free-list cap in force, in bytes (WALT_POOL_MB; 0 = no pooling). */
  capBytes: number;
  /** Bytes of every GPU buffer alive now (pooled in use, free, pending, and unpooled weights). */
  bytesAllocated: number;
  /** Bytes of pooled buffers handed out and not yet released. */
  bytesInUse: number;
  /** High-water mark of bytesInUse since the last resetPeak(). */
  peakBytesInUse: number;
  /** High-water mark of bytesAllocated since the last resetPeak(). */
  peakBytesAllocated: number;
  /** Tensors alive (created and not disposed). */
  liveTensors: number;
  /** Buffers created (pool misses and unpooled buffers) and pooled buffers handed out again. */
  buffersCreated: number;
  buffersReused: number;
  /** Released buffers waiting for the submit of the encoder that may use them. */
  pending: number;
  /** Kept for older callers: hits = buffersReused, misses = pool misses. */
  hits: number;
  misses: number;
}

export class OutOfMemoryError extends Error {
  override name = 'OutOfMemoryError';
}

/** Rounds a byte size up to a pool bucket: 256 B steps below 64 KiB, else 1/16 of a power of two. */
export function bucketSize(bytes: number): number {
  const b = Math.max(256, bytes);
  if (b <= 65536) {
    return Math.ceil(b / 256) * 256;
  }
  const step = 2 ** (Math.floor(Math.log2(b)) - 4);
  return Math.ceil(b / step) * step;
}

/** The free-list cap: WALT_POOL_MB (MiB) when set, else 2 GiB. */
export function poolCapFromEnv(env: NodeJS.ProcessEnv = process.env): number {
  const v = env.WALT_POOL_MB;
  if (v === undefined || v === '') {
    return 2 * 1024 ** 3;
  }
  const mb = Number(v);
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
    this.stats = {
      capBytes,
      bytesAllocated: 0,
      bytesInUse: 0,
      peakBytesInUse: 0,
      peakBytesAllocated: 0,
      liveTensors: 0,
      buffersCreated: 0,
      buffersReused: 0,
      pending: 0,
      hits: 0,
      misses: 0,
    };
  }

  /** A stable small integer per buffer (bind group cache keys). */
  idOf(buffer: GPUBuffer): number {
    let id = this.ids.get(buffer);
    if (id === undefined) {
      id = this.nextId++;
      this.ids.set(buffer, id);
    }
    return id;
  }

  /** A pooled buffer of at least `bytes` (a free one of the same bucket, else a new one). */
  acquire(bytes: number, usage: GPUBufferUsageFlags, label: string): GPUBuffer {
    const size = bucketSize(bytes);
    const key = `${size}:${usage}`;
    let buffer = this.free.get(key)?.pop();
    if (buffer) {
      this.stats.buffersReused++;
      this.stats.hits++;
    } else {
      this.stats.misses++;
      buffer = this.create(size, usage, label, key);
    }
    this.stats.bytesInUse += size;
    this.stats.peakBytesInUse = Math.max(this.stats.peakBytesInUse, this.stats.bytesInUse);
    return buffer;
  }

  /** An unpooled buffer (weights, staging): counted, destroyed by release(). */
  createUnpooled(size: number, usage: GPUBufferUsageFlags, label: string): GPUBuffer {
    return this.create(size, usage, label, '');
  }

  private create(size: number, usage: GPUBufferUsageFlags, label: string, key: string): GPUBuffer {
    this.device.pushErrorScope('out-of-memory');
    const buffer = this.device.createBuffer({ size, usage, label });
    this.checks.push(
      this.device.popErrorScope().then((e) => (e ? `${label || 'buffer'} of ${size} bytes: ${e.message}` : null)),
    );
    this.entries.set(buffer, { buffer, size, key });
    this.stats.buffersCreated++;
    this.stats.bytesAllocated += size;
    this.stats.peakBytesAllocated = Math.max(this.stats.peakBytesAllocated, this.stats.bytesAllocated);
    return buffer;
  }

  /**
   * Gives a buffer back. `recorded`: commands that may use it sit in an unsubmitted encoder, so it
   * waits on the pending list until afterSubmit(). Pooled buffers go to the free list, others are
   * destroyed.
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

  /** Called after each submit: pending buffers become free (or are destroyed), then the cap holds. */
  afterSubmit(): void {
    const free = this.pendingFree;
    const gone = this.pendingDestroy;
    this.pendingFree = [];
    this.pendingDestroy = [];
    this.stats.pending = 0;
    for (const e of free) {
      this.toFree(e);
    }
    for (const e of gone) {
      this.destroy(e);
    }
    this.trim(this.stats.capBytes);
  }

  private toFree(e: Entry): void {
    let list = this.free.get(e.key);
    if (!list) {
      list = [];
      this.free.set(e.key, list);
    }
    list.push(e.buffer);
  }

  private destroy(e: Entry): void {
    e.buffer.destroy();
    this.stats.bytesAllocated -= e.size;
  }

  /** Bytes on the free list. */
  get freeBytes(): number {
    let n = 0;
    for (const list of this.free.values()) {
      for (const b of list) {
        n += this.entries.get(b)?.size ?? 0;
      }
    }
    return n;
  }

  /** Destroys free buffers (oldest first) until at most `keepBytes` of them remain. */
  trim(keepBytes = 0): void {
    let freeBytes = this.freeBytes;
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

  /** Waits for the out-of-memory checks of the buffers created so far; throws on the first failure. */
  async settle(): Promise<void> {
    const failed = (await Promise.all(this.checks.splice(0))).filter((m): m is string => m !== null);
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
