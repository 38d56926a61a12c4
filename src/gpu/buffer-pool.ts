// A pool of storage buffers keyed by (rounded byte size, usage), with counters.
//
// Reuse is safe without waiting for the GPU because every command goes through one queue in
// order: a buffer released while commands that read it are still unsubmitted can be handed to a
// later dispatch of the same or a later encoder. The one hazard is queue.writeBuffer, which lands
// on the queue before the still-open encoder: GpuContext.upload() flushes the open encoder first.

export interface MemoryStats {
  /** Bytes of all GPU buffers the pool owns (in use + free). */
  bytesAllocated: number;
  /** Bytes handed out and not yet released. */
  bytesInUse: number;
  /** High-water mark of bytesInUse since the last resetPeak(). */
  peakBytesInUse: number;
  /** Tensors alive (created and not disposed). */
  liveTensors: number;
  hits: number;
  misses: number;
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

export class BufferPool {
  private readonly free = new Map<string, GPUBuffer[]>();
  private readonly sizes = new WeakMap<GPUBuffer, number>();
  private nextId = 1;
  private readonly ids = new WeakMap<GPUBuffer, number>();
  readonly stats: MemoryStats = {
    bytesAllocated: 0,
    bytesInUse: 0,
    peakBytesInUse: 0,
    liveTensors: 0,
    hits: 0,
    misses: 0,
  };

  constructor(
    private readonly device: GPUDevice,
    /** Free buffers beyond this many bytes are destroyed (oldest first). */
    private readonly capBytes = 2 * 1024 ** 3,
  ) {}

  /** A stable small integer per buffer (bind group cache keys). */
  idOf(buffer: GPUBuffer): number {
    let id = this.ids.get(buffer);
    if (id === undefined) {
      id = this.nextId++;
      this.ids.set(buffer, id);
    }
    return id;
  }

  acquire(bytes: number, usage: GPUBufferUsageFlags, label: string): GPUBuffer {
    const size = bucketSize(bytes);
    const key = `${size}:${usage}`;
    const list = this.free.get(key);
    let buffer = list?.pop();
    if (buffer) {
      this.stats.hits++;
    } else {
      this.stats.misses++;
      buffer = this.create(size, usage, label);
    }
    this.stats.bytesInUse += size;
    this.stats.peakBytesInUse = Math.max(this.stats.peakBytesInUse, this.stats.bytesInUse);
    return buffer;
  }

  private create(size: number, usage: GPUBufferUsageFlags, label: string): GPUBuffer {
    let buffer: GPUBuffer;
    try {
      buffer = this.device.createBuffer({ size, usage, label });
    } catch (e) {
      // Out of memory: drop every free buffer and try once more (tinygrad's LRUAllocator).
      this.trim(0);
      buffer = this.device.createBuffer({ size, usage, label });
      void e;
    }
    this.sizes.set(buffer, size);
    this.stats.bytesAllocated += size;
    return buffer;
  }

  release(buffer: GPUBuffer, usage: GPUBufferUsageFlags): void {
    const size = this.sizes.get(buffer);
    if (size === undefined) {
      throw new Error('BufferPool.release: buffer does not belong to this pool');
    }
    this.stats.bytesInUse -= size;
    const key = `${size}:${usage}`;
    let list = this.free.get(key);
    if (!list) {
      list = [];
      this.free.set(key, list);
    }
    list.push(buffer);
    if (this.stats.bytesAllocated - this.stats.bytesInUse > this.capBytes) {
      this.trim(this.capBytes);
    }
  }

  /** Destroys free buffers until at most `keepBytes` of free buffers remain. */
  trim(keepBytes = 0): void {
    let freeBytes = this.stats.bytesAllocated - this.stats.bytesInUse;
    for (const [key, list] of this.free) {
      while (list.length > 0 && freeBytes > keepBytes) {
        const b = list.shift()!;
        const size = this.sizes.get(b) ?? 0;
        b.destroy();
        freeBytes -= size;
        this.stats.bytesAllocated -= size;
      }
      if (list.length === 0) {
        this.free.delete(key);
      }
    }
  }

  resetPeak(): void {
    this.stats.peakBytesInUse = this.stats.bytesInUse;
  }
}
