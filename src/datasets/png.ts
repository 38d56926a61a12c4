// PNG files whose bytes depend only on the pixels (stored deflate blocks: no zlib build or
// compression level can change them), and reading 16-bit greyscale PNGs (ScanNet depth).
import { readFile } from 'node:fs/promises';
import { crc32 } from 'node:zlib';
import { PNG } from 'pngjs';
import { writeBytesAtomic } from '../util/atomic.js';
import { DatasetError } from './errors.js';

const SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

function chunk(type: string, data: Buffer): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, 'latin1');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), data])), 0);
  return Buffer.concat([head, data, crc]);
}

function adler32(data: Buffer): number {
  let a = 1;
  let b = 0;
  for (let i = 0; i < data.length; i += 5552) {
    const end = Math.min(i + 5552, data.length);
    for (let j = i; j < end; j++) {
      a += data[j]!;
      b += a;
    }
    a %= 65521;
    b %= 65521;
  }
  return ((b << 16) | a) >>> 0;
}

/** A zlib stream of stored (uncompressed) deflate blocks: RFC 1950 header, ≤ 65535-byte blocks, Adler-32. */
export function zlibStored(data: Buffer): Buffer {
  const parts: Buffer[] = [Buffer.from([0x78, 0x01])];
  let off = 0;
  do {
    const len = Math.min(65_535, data.length - off);
    const head = Buffer.alloc(5);
    head[0] = off + len >= data.length ? 1 : 0;
    head.writeUInt16LE(len, 1);
    head.writeUInt16LE(~len & 0xffff, 3);
    parts.push(head, data.subarray(off, off + len));
    off += len;
  } while (off < data.length);
  const tail = Buffer.alloc(4);
  tail.writeUInt32BE(adler32(data), 0);
  parts.push(tail);
  return Buffer.concat(parts);
}

function encode(width: number, height: number, bitDepth: 8 | 16, colorType: 0 | 2, rows: Buffer): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = bitDepth;
  ihdr[9] = colorType;
  return Buffer.concat([
    SIGNATURE,
    chunk('IHDR', ihdr),
    chunk('IDAT', zlibStored(rows)),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

/**
 * A 16-bit greyscale PNG of `values` (row-major `[H, W]`, big-endian samples as PNG requires),
 * filter 0, stored deflate: the bytes are a pure function of the values.
 */
export function encodeGray16Png(values: Uint16Array, width: number, height: number): Buffer {
  if (values.length !== width * height) {
    throw new RangeError(`encodeGray16Png: ${values.length} values for ${width}×${height}`);
  }
  const stride = 1 + 2 * width;
  const rows = Buffer.alloc(stride * height);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      rows.writeUInt16BE(values[y * width + x]!, y * stride + 1 + 2 * x);
    }
  }
  return encode(width, height, 16, 0, rows);
}

/** An 8-bit RGB PNG of `rgb` (row-major `[H, W, 3]`), stored deflate (deterministic bytes). */
export function encodeRgb8Png(rgb: Uint8Array, width: number, height: number): Buffer {
  if (rgb.length !== width * height * 3) {
    throw new RangeError(`encodeRgb8Png: ${rgb.length} bytes for ${width}×${height}×3`);
  }
  const stride = 1 + 3 * width;
  const rows = Buffer.alloc(stride * height);
  for (let y = 0; y < height; y++) {
    rows.set(rgb.subarray(y * width * 3, (y + 1) * width * 3), y * stride + 1);
  }
  return encode(width, height, 8, 2, rows);
}

/** Writes {@link encodeGray16Png}'s file atomically. */
export async function writeGray16Png(path: string, values: Uint16Array, width: number, height: number): Promise<void> {
  await writeBytesAtomic(path, encodeGray16Png(values, width, height));
}

/** A decoded 16-bit greyscale image. */
export interface Gray16Image {
  width: number;
  height: number;
  /** Row-major `[H, W]` samples. */
  values: Uint16Array;
}

/**
 * Reads a 16-bit greyscale PNG (any PNG encoder: compressed, filtered, interlaced), e.g. a
 * ScanNet depth frame in millimetres.
 *
 * @throws DatasetError when the file is missing, not a PNG, or not 16-bit greyscale.
 */
export async function readGray16Png(path: string): Promise<Gray16Image> {
  let buf: Buffer;
  try {
    buf = await readFile(path);
  } catch {
    throw new DatasetError(path, 'cannot read the depth image', 'check the path and that the file exists');
  }
  let png: { width: number; height: number; depth: number; colorType: number; data: Uint16Array | Buffer };
  try {
    png = PNG.sync.read(buf, { skipRescale: true });
  } catch (e) {
    throw new DatasetError(
      path,
      `not a readable PNG (${e instanceof Error ? e.message : String(e)})`,
      'write depth as 16-bit greyscale PNG',
    );
  }
  if (png.depth !== 16 || png.colorType !== 0 || !(png.data instanceof Uint16Array)) {
    throw new DatasetError(
      path,
      `a ${png.depth}-bit PNG of colour type ${png.colorType}`,
      'depth must be a 16-bit greyscale PNG (colour type 0) in millimetres, as ScanNet exports it',
    );
  }
  const n = png.width * png.height;
  const values = new Uint16Array(n);
  for (let i = 0; i < n; i++) {
    values[i] = png.data[4 * i]!;
  }
  return { width: png.width, height: png.height, values };
}
