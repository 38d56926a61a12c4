// Host ↔ device transfers. Uploads go through queue.writeBuffer, which lands on the queue before
// any still-open encoder: the recorder is flushed first so the write cannot overtake commands
// recorded earlier. Readbacks copy into a pooled MAP_READ staging buffer in command order.

import { toF16Array } from '../tensor/f16.js';
import { ShapeError } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';
import type { CommandRecorder } from './encoder.js';

export type HostData = Float32Array | Uint16Array | Uint32Array | Int32Array;

export class Transfers {
  uploads = 0;
  readbacks = 0;
  private readonly staging = new Map<number, GPUBuffer[]>();

  constructor(
    private readonly device: GPUDevice,
    private readonly recorder: CommandRecorder,
  ) {}

  /** Overwrites a tensor's contents (f32 data into an f16 tensor is converted on the CPU). */
  write(t: Tensor, data: HostData): void {
    const bytes: ArrayBufferView = t.dtype === 'f16' && !(data instanceof Uint16Array) ? toF16Array(data) : data;
    if (bytes.byteLength !== t.byteLength) {
      throw new ShapeError(`write ${t.toString()}: ${bytes.byteLength} bytes for ${t.byteLength}`);
    }
    this.recorder.flush();
    this.uploads++;
    const padded = bytes.byteLength % 4 === 0 ? bytes : padTo4(bytes);
    this.device.queue.writeBuffer(t.buffer, t.byteOffset, padded.buffer, padded.byteOffset, padded.byteLength);
  }

  /** The tensor's raw bytes, after everything recorded before. */
  async read(t: Tensor): Promise<ArrayBuffer> {
    const start = t.byteOffset - (t.byteOffset % 4);
    const lead = t.byteOffset - start;
    const size = Math.ceil((lead + t.byteLength) / 4) * 4;
    const stagingSize = Math.max(256, Math.ceil(size / 256) * 256);
    const staging =
      this.staging.get(stagingSize)?.pop() ??
      this.device.createBuffer({
        size: stagingSize,
        usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
        label: 'readback',
      });
    this.recorder.commandEncoder().copyBufferToBuffer(t.buffer, start, staging, 0, size);
    this.recorder.flush();
    this.readbacks++;
    await staging.mapAsync(GPUMapMode.READ, 0, size);
    const out = staging.getMappedRange(0, size).slice(lead, lead + t.byteLength);
    staging.unmap();
    let list = this.staging.get(stagingSize);
    if (!list) {
      list = [];
      this.staging.set(stagingSize, list);
    }
    list.push(staging);
    return out;
  }
}

function padTo4(bytes: ArrayBufferView): Uint8Array {
  const out = new Uint8Array(Math.ceil(bytes.byteLength / 4) * 4);
  out.set(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  return out;
}
