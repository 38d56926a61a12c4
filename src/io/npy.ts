// General .npy I/O for arrays exchanged with the CLI (inputs, noise): little-endian, C order.
// Reading reuses the media layer's header parser; writing is atomic.
import { open } from 'node:fs/promises';
import { f16BitsToF32 } from '../tensor/f16.js';
import { numel } from '../tensor/shape.js';
import { writeBytesAtomic } from '../util/atomic.js';
import { NpyFormatError, parseNpyHeader } from './npy-clip.js';

export { NpyFormatError } from './npy-clip.js';

/** Reads a .npy of float32/float64/float16/uint8 values as f32 (uint8 unscaled). */
export async function readNpy(path: string): Promise<{ shape: number[]; data: Float32Array }> {
  let fh;
  try {
    fh = await open(path, 'r');
  } catch {
    throw new NpyFormatError(`${path}: no such file`);
  }
  try {
    const size = (await fh.stat()).size;
    const head = new Uint8Array(Math.min(size, 65_536 + 12));
    await fh.read(head, 0, head.length, 0);
    let h;
    try {
      h = parseNpyHeader(head);
    } catch (e) {
      throw new NpyFormatError(`${path}: ${e instanceof Error ? e.message : String(e)}`);
    }
    const n = numel(h.shape);
    const bytes = Buffer.alloc(n * h.itemSize);
    const { bytesRead } = await fh.read(bytes, 0, bytes.length, h.dataOffset);
    if (bytesRead !== bytes.length) {
      throw new NpyFormatError(`${path}: the data ends early (truncated file)`);
    }
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      switch (h.dtype) {
        case 'f32':
          out[i] = bytes.readFloatLE(4 * i);
          break;
        case 'f64':
          out[i] = bytes.readDoubleLE(8 * i);
          break;
        case 'f16':
          out[i] = f16BitsToF32(bytes.readUInt16LE(2 * i));
          break;
        case 'u8':
          out[i] = bytes[i]!;
          break;
      }
    }
    return { shape: h.shape, data: out };
  } finally {
    await fh.close();
  }
}

/** Writes float32 values as a version-1 .npy, atomically. */
export async function writeNpy(path: string, shape: readonly number[], data: Float32Array): Promise<void> {
  if (numel(shape) !== data.length) {
    throw new RangeError(`writeNpy: shape [${shape.join(',')}] holds ${numel(shape)} values, data has ${data.length}`);
  }
  const shapeText = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  let dict = `{'descr': '<f4', 'fortran_order': False, 'shape': ${shapeText}, }`;
  dict += ' '.repeat((64 - ((10 + dict.length + 1) % 64)) % 64) + '\n';
  const out = Buffer.alloc(10 + dict.length + data.byteLength);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]);
  out.writeUInt16LE(dict.length, 8);
  out.write(dict, 10, 'latin1');
  out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), 10 + dict.length);
  await writeBytesAtomic(path, out);
}
