// .npz archives of typed arrays (bool, uint8, int32, int64, float16/32/64): a reader for what
// numpy writes (np.savez, np.savez_compressed: stored or deflated entries, zip64 extras) and a
// writer of stored (uncompressed) archives whose bytes depend only on the arrays.
import { readFile } from 'node:fs/promises';
import { crc32, inflateRawSync } from 'node:zlib';
import { f16BitsToF32 } from '../tensor/f16.js';
import { writeBytesAtomic } from '../util/atomic.js';
import { DatasetError } from './errors.js';

/** Element types this module reads and writes. */
export type NpyDtype = 'bool' | 'u8' | 'i32' | 'i64' | 'f16' | 'f32' | 'f64';

/** Storage per dtype: bool/u8 as bytes, i64 as doubles (exact up to 2^53), f16 widened to f32. */
export interface NpyDataOf {
  bool: Uint8Array;
  u8: Uint8Array;
  i32: Int32Array;
  i64: Float64Array;
  f16: Float32Array;
  f32: Float32Array;
  f64: Float64Array;
}

/** One array of an archive: `data` is row-major (C order) with `shape.reduce(*)` elements. */
export type NpyArray = {
  [D in NpyDtype]: { name: string; dtype: D; shape: number[]; data: NpyDataOf[D] };
}[NpyDtype];

/** An array to write (f16 is not written). */
export type NpyArrayIn =
  | { name: string; dtype: 'bool' | 'u8'; shape: readonly number[]; data: Uint8Array }
  | { name: string; dtype: 'i32'; shape: readonly number[]; data: Int32Array }
  | { name: string; dtype: 'f32'; shape: readonly number[]; data: Float32Array }
  | { name: string; dtype: 'f64'; shape: readonly number[]; data: Float64Array };

const DESCR: Record<string, { dtype: NpyDtype; size: number }> = {
  '|b1': { dtype: 'bool', size: 1 },
  '|u1': { dtype: 'u8', size: 1 },
  '<u1': { dtype: 'u8', size: 1 },
  '<i4': { dtype: 'i32', size: 4 },
  '<i8': { dtype: 'i64', size: 8 },
  '<f2': { dtype: 'f16', size: 2 },
  '<f4': { dtype: 'f32', size: 4 },
  '<f8': { dtype: 'f64', size: 8 },
};

const WRITE_DESCR: Record<NpyArrayIn['dtype'], string> = { bool: '|b1', u8: '|u1', i32: '<i4', f32: '<f4', f64: '<f8' };

const FIX_NPZ = 'write it with numpy.savez / numpy.savez_compressed (little-endian, C order)';

function count(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/**
 * Serialises one array as a version-1 .npy: magic, header dict padded with spaces so the data
 * starts at a multiple of 64 bytes (as numpy does), then the raw little-endian elements.
 */
export function encodeNpy(a: NpyArrayIn): Buffer {
  const n = count(a.shape);
  if (n !== a.data.length) {
    throw new RangeError(
      `encodeNpy ${a.name}: shape [${a.shape.join(',')}] holds ${n} values, data has ${a.data.length}`,
    );
  }
  const shapeText = a.shape.length === 1 ? `(${a.shape[0]},)` : `(${a.shape.join(', ')})`;
  let dict = `{'descr': '${WRITE_DESCR[a.dtype]}', 'fortran_order': False, 'shape': ${shapeText}, }`;
  dict += ' '.repeat((64 - ((10 + dict.length + 1) % 64)) % 64) + '\n';
  const head = Buffer.alloc(10 + dict.length);
  head.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]);
  head.writeUInt16LE(dict.length, 8);
  head.write(dict, 10, 'latin1');
  const body = Buffer.from(a.data.buffer, a.data.byteOffset, a.data.byteLength);
  return Buffer.concat([head, body]);
}

/** Parses one .npy held in `bytes`; `where` names it in errors. */
export function decodeNpy(bytes: Buffer, name: string, where: string): NpyArray {
  if (bytes.length < 10 || bytes.readUInt32BE(0) !== 0x934e554d || bytes.readUInt16BE(4) !== 0x5059) {
    throw new DatasetError(where, `entry ${name} is not a .npy array (bad magic)`, FIX_NPZ);
  }
  const major = bytes[6]!;
  const lenBytes = major === 1 ? 2 : 4;
  const headerLen = major === 1 ? bytes.readUInt16LE(8) : bytes.readUInt32LE(8);
  const start = 8 + lenBytes;
  const text = bytes.toString('latin1', start, start + headerLen);
  const descr = /'descr'\s*:\s*'([^']*)'/.exec(text)?.[1];
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(text)?.[1];
  const shapeText = /'shape'\s*:\s*\(([^)]*)\)/.exec(text)?.[1];
  if (descr === undefined || fortran === undefined || shapeText === undefined) {
    throw new DatasetError(where, `entry ${name} has an unreadable .npy header '${text.trim()}'`, FIX_NPZ);
  }
  if (fortran === 'True') {
    throw new DatasetError(where, `entry ${name} is in Fortran order`, 'save it with numpy.ascontiguousarray first');
  }
  const dt = DESCR[descr];
  if (dt === undefined) {
    throw new DatasetError(
      where,
      `entry ${name} has dtype '${descr}'`,
      'use bool, uint8, int32, int64, float16, float32 or float64 (little-endian)',
    );
  }
  const shape = shapeText
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '')
    .map(Number);
  const n = count(shape);
  const at = start + headerLen;
  if (bytes.length < at + n * dt.size) {
    throw new DatasetError(
      where,
      `entry ${name} ends early (${n} values of ${descr} announced)`,
      'the file is truncated; write it again',
    );
  }
  const raw = bytes.subarray(at, at + n * dt.size);
  // Copy into an aligned buffer before viewing it as a typed array.
  const aligned = new Uint8Array(raw.length);
  aligned.set(raw);
  const ab = aligned.buffer;
  switch (dt.dtype) {
    case 'bool':
      return { name, dtype: 'bool', shape, data: aligned.map((v) => (v !== 0 ? 1 : 0)) };
    case 'u8':
      return { name, dtype: 'u8', shape, data: aligned };
    case 'i32':
      return { name, dtype: 'i32', shape, data: new Int32Array(ab) };
    case 'i64': {
      const big = new BigInt64Array(ab);
      const data = new Float64Array(n);
      for (let i = 0; i < n; i++) {
        data[i] = Number(big[i]!);
      }
      return { name, dtype: 'i64', shape, data };
    }
    case 'f16': {
      const bits = new Uint16Array(ab);
      const data = new Float32Array(n);
      for (let i = 0; i < n; i++) {
        data[i] = f16BitsToF32(bits[i]!);
      }
      return { name, dtype: 'f16', shape, data };
    }
    case 'f32':
      return { name, dtype: 'f32', shape, data: new Float32Array(ab) };
    case 'f64':
      return { name, dtype: 'f64', shape, data: new Float64Array(ab) };
  }
}

/** The 1980-01-01 00:00 MS-DOS date (the earliest zip can hold): no clock reading ends up in a file. */
const DOS_DATE = (0 << 9) | (1 << 5) | 1;

/**
 * A stored (uncompressed) zip of `.npy` entries named `<name>.npy`, in the given order. Every
 * header field is a function of the arrays alone (fixed 1980-01-01 timestamps, no extra fields),
 * so equal arrays give equal bytes. numpy.load reads it.
 */
export function encodeNpz(arrays: readonly NpyArrayIn[]): Buffer {
  const parts: Buffer[] = [];
  const central: Buffer[] = [];
  let offset = 0;
  for (const a of arrays) {
    const data = encodeNpy(a);
    const name = Buffer.from(`${a.name}.npy`, 'utf8');
    const crc = crc32(data);
    if (offset + 30 + name.length + data.length > 0xffffffff) {
      throw new RangeError(`encodeNpz: archive larger than 4 GiB (entry ${a.name}); write smaller clips`);
    }
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4); // version needed
    local.writeUInt16LE(0, 6); // flags
    local.writeUInt16LE(0, 8); // stored
    local.writeUInt16LE(0, 10); // time
    local.writeUInt16LE(DOS_DATE, 12);
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(data.length, 18);
    local.writeUInt32LE(data.length, 22);
    local.writeUInt16LE(name.length, 26);
    local.writeUInt16LE(0, 28);
    const c = Buffer.alloc(46);
    c.writeUInt32LE(0x02014b50, 0);
    c.writeUInt16LE(20, 4); // version made by
    c.writeUInt16LE(20, 6); // version needed
    c.writeUInt16LE(0, 8);
    c.writeUInt16LE(0, 10);
    c.writeUInt16LE(0, 12);
    c.writeUInt16LE(DOS_DATE, 14);
    c.writeUInt32LE(crc, 16);
    c.writeUInt32LE(data.length, 20);
    c.writeUInt32LE(data.length, 24);
    c.writeUInt16LE(name.length, 28);
    c.writeUInt32LE(offset, 42);
    parts.push(local, name, data);
    central.push(c, name);
    offset += 30 + name.length + data.length;
  }
  const cd = Buffer.concat(central);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(arrays.length, 8);
  end.writeUInt16LE(arrays.length, 10);
  end.writeUInt32LE(cd.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...parts, cd, end]);
}

/** Writes {@link encodeNpz}'s archive to `path` atomically. */
export async function writeNpzStored(path: string, arrays: readonly NpyArrayIn[]): Promise<void> {
  await writeBytesAtomic(path, encodeNpz(arrays));
}

/** Parses every entry of an .npz held in `buf`; `where` names the file in errors. */
export function decodeNpz(buf: Buffer, where: string): NpyArray[] {
  let eocd = -1;
  for (let i = buf.length - 22; i >= Math.max(0, buf.length - 22 - 65_535); i--) {
    if (buf.readUInt32LE(i) === 0x06054b50) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) {
    throw new DatasetError(where, 'not an .npz (zip) archive', FIX_NPZ);
  }
  let entries = buf.readUInt16LE(eocd + 10);
  let cdOffset = buf.readUInt32LE(eocd + 16);
  if ((entries === 0xffff || cdOffset === 0xffffffff) && eocd >= 20 && buf.readUInt32LE(eocd - 20) === 0x07064b50) {
    const rec = Number(buf.readBigUInt64LE(eocd - 20 + 8));
    if (buf.readUInt32LE(rec) === 0x06064b50) {
      entries = Number(buf.readBigUInt64LE(rec + 32));
      cdOffset = Number(buf.readBigUInt64LE(rec + 48));
    }
  }
  const out: NpyArray[] = [];
  let p = cdOffset;
  for (let e = 0; e < entries; e++) {
    if (p + 46 > buf.length || buf.readUInt32LE(p) !== 0x02014b50) {
      throw new DatasetError(
        where,
        'damaged zip central directory',
        'the file is truncated or not an .npz; write it again',
      );
    }
    const method = buf.readUInt16LE(p + 10);
    let csize = buf.readUInt32LE(p + 20);
    let usize = buf.readUInt32LE(p + 24);
    const nameLen = buf.readUInt16LE(p + 28);
    const extraLen = buf.readUInt16LE(p + 30);
    const commentLen = buf.readUInt16LE(p + 32);
    let local = buf.readUInt32LE(p + 42);
    const name = buf.toString('utf8', p + 46, p + 46 + nameLen);
    // zip64 extra (id 1): the 64-bit values of the fields saturated at 0xffffffff, in order.
    let x = p + 46 + nameLen;
    const xEnd = x + extraLen;
    while (x + 4 <= xEnd) {
      const id = buf.readUInt16LE(x);
      const size = buf.readUInt16LE(x + 2);
      if (id === 1) {
        let q = x + 4;
        if (usize === 0xffffffff) {
          usize = Number(buf.readBigUInt64LE(q));
          q += 8;
        }
        if (csize === 0xffffffff) {
          csize = Number(buf.readBigUInt64LE(q));
          q += 8;
        }
        if (local === 0xffffffff) {
          local = Number(buf.readBigUInt64LE(q));
        }
      }
      x += 4 + size;
    }
    p = xEnd + commentLen;
    if (buf.readUInt32LE(local) !== 0x04034b50) {
      throw new DatasetError(where, `entry ${name}: damaged local header`, 'the file is damaged; write it again');
    }
    const dataStart = local + 30 + buf.readUInt16LE(local + 26) + buf.readUInt16LE(local + 28);
    const raw = buf.subarray(dataStart, dataStart + csize);
    let bytes: Buffer;
    if (method === 0) {
      bytes = raw;
    } else if (method === 8) {
      bytes = inflateRawSync(raw);
    } else {
      throw new DatasetError(
        where,
        `entry ${name} uses zip method ${method}`,
        'only stored and deflated entries are read; use numpy.savez',
      );
    }
    if (bytes.length !== usize) {
      throw new DatasetError(
        where,
        `entry ${name} holds ${bytes.length} bytes, the directory says ${usize}`,
        'the file is damaged; write it again',
      );
    }
    out.push(decodeNpy(bytes, name.replace(/\.npy$/, ''), where));
  }
  return out;
}

/** Reads every array of an .npz file. */
export async function readNpzArrays(path: string): Promise<NpyArray[]> {
  let buf: Buffer;
  try {
    buf = await readFile(path);
  } catch {
    throw new DatasetError(
      path,
      'cannot read the file',
      'check the path (relative paths resolve against the labels file)',
    );
  }
  return decodeNpz(buf, path);
}
