// .npz (a zip of .npy files, stored or deflated) reading and writing.
import { readFileSync } from 'node:fs';
import { crc32, deflateRawSync, inflateRawSync } from 'node:zlib';
import { f16BitsToF32 } from '../tensor/f16.js';
import { numel } from '../tensor/shape.js';
import { writeBytesAtomic } from '../util/atomic.js';
import { NpyFormatError, parseNpyHeader } from './npy-clip.js';

export interface NpzArray {
  name: string;
  shape: number[];
  data: Float32Array;
}

/** Reads every array of an .npz as f32 (float64/float16/uint8 converted). */
export function readNpz(path: string): NpzArray[] {
  const buf = readFileSync(path);
  // End of central directory: the last 0x06054b50 signature.
  let eocd = -1;
  for (let i = buf.length - 22; i >= Math.max(0, buf.length - 22 - 65_535); i--) {
    if (buf.readUInt32LE(i) === 0x06054b50) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) {
    throw new NpyFormatError(`${path}: not an .npz (zip) file`);
  }
  const count = buf.readUInt16LE(eocd + 10);
  let p = buf.readUInt32LE(eocd + 16);
  const out: NpzArray[] = [];
  for (let e = 0; e < count; e++) {
    if (buf.readUInt32LE(p) !== 0x02014b50) {
      throw new NpyFormatError(`${path}: damaged zip central directory`);
    }
    const method = buf.readUInt16LE(p + 10);
    const csize = buf.readUInt32LE(p + 20);
    const nameLen = buf.readUInt16LE(p + 28);
    const extraLen = buf.readUInt16LE(p + 30);
    const commentLen = buf.readUInt16LE(p + 32);
    const local = buf.readUInt32LE(p + 42);
    const name = buf.toString('utf8', p + 46, p + 46 + nameLen);
    p += 46 + nameLen + extraLen + commentLen;
    const dataStart = local + 30 + buf.readUInt16LE(local + 26) + buf.readUInt16LE(local + 28);
    const raw = buf.subarray(dataStart, dataStart + csize);
    let bytes: Buffer;
    if (method === 0) {
      bytes = raw;
    } else if (method === 8) {
      bytes = inflateRawSync(raw);
    } else {
      throw new NpyFormatError(
        `${path}: entry ${name} uses zip method ${method} (only stored and deflate are supported)`,
      );
    }
    const h = parseNpyHeader(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength));
    const n = numel(h.shape);
    const data = new Float32Array(n);
    const at = h.dataOffset;
    for (let i = 0; i < n; i++) {
      switch (h.dtype) {
        case 'f32':
          data[i] = bytes.readFloatLE(at + 4 * i);
          break;
        case 'f64':
          data[i] = bytes.readDoubleLE(at + 8 * i);
          break;
        case 'f16':
          data[i] = f16BitsToF32(bytes.readUInt16LE(at + 2 * i));
          break;
        case 'u8':
          data[i] = bytes[at + i]!;
          break;
      }
    }
    out.push({ name: name.replace(/\.npy$/, ''), shape: h.shape, data });
  }
  return out;
}

function npyBytes(shape: readonly number[], data: Float32Array): Buffer {
  const shapeText = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  let dict = `{'descr': '<f4', 'fortran_order': False, 'shape': ${shapeText}, }`;
  dict += ' '.repeat((64 - ((10 + dict.length + 1) % 64)) % 64) + '\n';
  const head = Buffer.alloc(10 + dict.length);
  head.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]);
  head.writeUInt16LE(dict.length, 8);
  head.write(dict, 10, 'latin1');
  return Buffer.concat([head, Buffer.from(data.buffer, data.byteOffset, data.byteLength)]);
}

/** Writes float32 arrays as an .npz (deflated, like numpy.savez_compressed). */
export async function writeNpz(
  path: string,
  arrays: readonly { name: string; shape: readonly number[]; data: Float32Array }[],
): Promise<void> {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const a of arrays) {
    const raw = npyBytes(a.shape, a.data);
    const comp = deflateRawSync(raw);
    const name = Buffer.from(`${a.name}.npy`, 'utf8');
    const crc = crc32(raw);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt16LE(8, 8);
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(comp.length, 18);
    local.writeUInt32LE(raw.length, 22);
    local.writeUInt16LE(name.length, 26);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(20, 4);
    central.writeUInt16LE(20, 6);
    central.writeUInt16LE(8, 10);
    central.writeUInt32LE(crc, 16);
    central.writeUInt32LE(comp.length, 20);
    central.writeUInt32LE(raw.length, 24);
    central.writeUInt16LE(name.length, 28);
    central.writeUInt32LE(offset, 42);
    locals.push(local, name, comp);
    centrals.push(central, name);
    offset += local.length + name.length + comp.length;
  }
  const cd = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(arrays.length, 8);
  end.writeUInt16LE(arrays.length, 10);
  end.writeUInt32LE(cd.length, 12);
  end.writeUInt32LE(offset, 16);
  await writeBytesAtomic(path, Buffer.concat([...locals, cd, end]));
}
