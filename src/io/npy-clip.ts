// Minimal .npy reader/writer for clips (private to the media layer; src/io/npy.ts is the general one).

import { open, writeFile } from 'node:fs/promises';

/** Element types a clip .npy may hold. */
export type NpyClipDtype = 'f32' | 'f64' | 'f16' | 'u8';

/** Parsed .npy header. */
export interface NpyClipHeader {
  shape: number[];
  dtype: NpyClipDtype;
  /** Byte offset of the first element. */
  dataOffset: number;
  /** Bytes per element. */
  itemSize: number;
}

const DTYPES: Record<string, { dtype: NpyClipDtype; size: number }> = {
  '<f4': { dtype: 'f32', size: 4 },
  '<f8': { dtype: 'f64', size: 8 },
  '<f2': { dtype: 'f16', size: 2 },
  '|u1': { dtype: 'u8', size: 1 },
  '<u1': { dtype: 'u8', size: 1 },
  u1: { dtype: 'u8', size: 1 },
};

/** Thrown for a file that is not a .npy this reader supports; the message says why. */
export class NpyFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'NpyFormatError';
  }
}

/**
 * Parses a .npy header from the first bytes of a file (at least the magic, version, length and dict).
 *
 * @throws NpyFormatError for a bad magic, a big-endian or unsupported dtype, or Fortran order.
 */
export function parseNpyHeader(head: Uint8Array): NpyClipHeader {
  const magic = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY
  if (head.length < 10 || magic.some((b, i) => head[i] !== b)) {
    throw new NpyFormatError('not a .npy file (bad magic)');
  }
  const major = head[6]!;
  const view = new DataView(head.buffer, head.byteOffset, head.byteLength);
  let len: number;
  let start: number;
  if (major === 1) {
    len = view.getUint16(8, true);
    start = 10;
  } else if (major === 2 || major === 3) {
    if (head.length < 12) {
      throw new NpyFormatError('truncated .npy header');
    }
    len = view.getUint32(8, true);
    start = 12;
  } else {
    throw new NpyFormatError(`unsupported .npy version ${major}`);
  }
  if (head.length < start + len) {
    throw new NpyFormatError('truncated .npy header');
  }
  const text = new TextDecoder(major === 3 ? 'utf-8' : 'latin1').decode(head.subarray(start, start + len));
  const descr = /'descr'\s*:\s*'([^']*)'/.exec(text)?.[1];
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(text)?.[1];
  const shapeText = /'shape'\s*:\s*\(([^)]*)\)/.exec(text)?.[1];
  if (descr === undefined || fortran === undefined || shapeText === undefined) {
    throw new NpyFormatError('malformed .npy header');
  }
  if (fortran === 'True') {
    throw new NpyFormatError('Fortran-ordered arrays are not supported (save with np.ascontiguousarray)');
  }
  const dt = DTYPES[descr];
  if (dt === undefined) {
    throw new NpyFormatError(`unsupported dtype '${descr}' (use float32, float16, float64 or uint8, little-endian)`);
  }
  const shape = shapeText
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0)
    .map((s) => Number.parseInt(s, 10));
  if (shape.some((d) => !Number.isFinite(d) || d < 0)) {
    throw new NpyFormatError(`malformed shape (${shapeText})`);
  }
  return { shape, dtype: dt.dtype, dataOffset: start + len, itemSize: dt.size };
}

/** An open .npy file: header plus random access to its elements. */
export interface NpyClipFile {
  header: NpyClipHeader;
  /** File size in bytes. */
  size: number;
  /** Reads `count` elements starting at element `first`, as raw bytes (little-endian). */
  readElements(first: number, count: number): Promise<Uint8Array>;
  close(): Promise<void>;
}

/** Opens a .npy file and parses its header (the data is read lazily with `readElements`). */
export async function openNpyClip(path: string): Promise<NpyClipFile> {
  const fh = await open(path, 'r');
  try {
    const size = (await fh.stat()).size;
    const head = new Uint8Array(Math.min(size, 65_536 + 12));
    await fh.read(head, 0, head.length, 0);
    const header = parseNpyHeader(head);
    return {
      header,
      size,
      async readElements(first: number, count: number): Promise<Uint8Array> {
        const bytes = new Uint8Array(count * header.itemSize);
        const { bytesRead } = await fh.read(bytes, 0, bytes.length, header.dataOffset + first * header.itemSize);
        if (bytesRead !== bytes.length) {
          throw new NpyFormatError('the data ends early (truncated file)');
        }
        return bytes;
      },
      close: () => fh.close(),
    };
  } catch (e) {
    await fh.close();
    throw e;
  }
}

/**
 * Writes a little-endian C-order .npy (version 1.0) holding float32 or uint8 data.
 *
 * @param shape array shape; its product must equal `data.length`.
 */
export async function writeNpyClip(
  path: string,
  shape: readonly number[],
  data: Float32Array | Uint8Array,
): Promise<void> {
  const n = shape.reduce((a, b) => a * b, 1);
  if (n !== data.length) {
    throw new RangeError(`writeNpyClip: shape ${JSON.stringify(shape)} holds ${n} values, data has ${data.length}`);
  }
  const descr = data instanceof Float32Array ? '<f4' : '|u1';
  const shapeText = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  let dict = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shapeText}, }`;
  const total = 10 + dict.length + 1;
  dict += ' '.repeat((64 - (total % 64)) % 64) + '\n';
  const head = Buffer.alloc(10 + dict.length);
  head.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]);
  head.writeUInt16LE(dict.length, 8);
  head.write(dict, 10, 'latin1');
  const body = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  await writeFile(path, Buffer.concat([head, body]));
}
