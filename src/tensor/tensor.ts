import type { DType } from './dtype.js';
import { bytesPerElement } from './dtype.js';
import { formatShape, numel, type Shape, ShapeError } from './shape.js';

/** What a tensor needs from its context (kept narrow so tensors do not import the GPU module). */
export interface TensorHost {
  releaseAllocation(alloc: Allocation): void;
  readTensor(t: Tensor): Promise<Float32Array>;
  readTensorRaw(t: Tensor): Promise<ArrayBuffer>;
  trackTensor(t: Tensor, delta: 1 | -1): void;
}

/** One GPU buffer (or a slice of one) shared by a tensor and its views; freed when refs reach 0. */
export interface Allocation {
  readonly buffer: GPUBuffer;
  readonly usage: GPUBufferUsageFlags;
  /** Pooled allocations return to the pool; weights are destroyed when released. */
  readonly pooled: boolean;
  refs: number;
}

let nextTensorId = 1;

/**
 * A contiguous row-major tensor on the GPU: shape (PyTorch order), dtype, buffer, byte offset.
 * Owned by whoever created it: call dispose() (or create it inside ctx.scope()).
 */
export class Tensor {
  readonly id = nextTensorId++;
  readonly byteLength: number;
  private disposed = false;

  constructor(
    readonly host: TensorHost,
    readonly alloc: Allocation,
    readonly shape: Shape,
    readonly dtype: DType,
    readonly byteOffset = 0,
    readonly label = '',
  ) {
    this.byteLength = numel(shape) * bytesPerElement(dtype);
    if (byteOffset + this.byteLength > alloc.buffer.size) {
      throw new ShapeError(
        `tensor ${label} ${formatShape(shape)} ${dtype} at byte ${byteOffset} does not fit its ${alloc.buffer.size}-byte buffer`,
      );
    }
    host.trackTensor(this, 1);
  }

  get buffer(): GPUBuffer {
    return this.alloc.buffer;
  }

  get numel(): number {
    return numel(this.shape);
  }

  get isDisposed(): boolean {
    return this.disposed;
  }

  /** Downloads the values as f32 (f16 is widened). Flushes pending work. */
  read(): Promise<Float32Array> {
    this.assertAlive('read');
    return this.host.readTensor(this);
  }

  /** Downloads the raw bytes (f16 stays 2 bytes per element). */
  readRaw(): Promise<ArrayBuffer> {
    this.assertAlive('readRaw');
    return this.host.readTensorRaw(this);
  }

  /** A view with another shape of the same number of elements (shares the buffer). */
  reshape(shape: Shape): Tensor {
    this.assertAlive('reshape');
    if (numel(shape) !== this.numel) {
      throw new ShapeError(`reshape ${formatShape(this.shape)} -> ${formatShape(shape)}: element counts differ`);
    }
    return this.view(0, shape);
  }

  /** A view of `shape` starting `elementOffset` elements into this tensor (a prefix or slice). */
  view(elementOffset: number, shape: Shape): Tensor {
    this.assertAlive('view');
    const off = this.byteOffset + elementOffset * bytesPerElement(this.dtype);
    if (elementOffset < 0 || elementOffset + numel(shape) > this.numel) {
      throw new ShapeError(
        `view of ${formatShape(shape)} at element ${elementOffset} is outside tensor ${formatShape(this.shape)}`,
      );
    }
    this.alloc.refs++;
    return new Tensor(this.host, this.alloc, shape, this.dtype, off, this.label);
  }

  /** Releases this tensor's reference to its buffer. Idempotent. */
  dispose(): void {
    if (this.disposed) {
      return;
    }
    this.disposed = true;
    this.host.trackTensor(this, -1);
    this.alloc.refs--;
    if (this.alloc.refs === 0) {
      this.host.releaseAllocation(this.alloc);
    }
  }

  [Symbol.dispose](): void {
    this.dispose();
  }

  assertAlive(op: string): void {
    if (this.disposed) {
      throw new Error(`${op}: tensor ${this.label || this.id} ${formatShape(this.shape)} was already disposed`);
    }
  }

  toString(): string {
    return `Tensor(${this.label || this.id} ${formatShape(this.shape)} ${this.dtype})`;
  }
}
