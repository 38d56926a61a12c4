// safetensors read/write (spec §1): u64 LE header length N, N bytes of JSON
// {name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__"?}, then the data; offsets
// count from the first byte after the header. Reads stream tensor by tensor (a 1.8 GB file is
// never held whole); writes go to a temporary file renamed into place.

import { open, stat, type FileHandle } from 'node:fs/promises';
import { bf16BitsToF32, f16BitsToF32, toF16Array } from '../tensor/f16.js';
import { numel } from '../tensor/shape.js';
import { writeFileAtomic } from '../util/atomic.js';

export type SafetensorsDtype = 'F32' | 'F16' | 'BF16' | 'F64' | 'I32' | 'I64' | 'U8';

const DTYPE_BYTES: Record<SafetensorsDtype, number> = { F32: 4, F16: 2, BF16: 2, F64: 8, I32: 4, I64: 8, U8: 1 };

export interface TensorEntry {
  name: string;
  dtype: SafetensorsDtype;
  shape: number[];
  /** Absolute byte offset of the data in the file. */
  offset: number;
  byteLength: number;
}

export class SafetensorsError extends Error {
  override name = 'SafetensorsError';
}

/** An open safetensors file: the header parsed, tensors read on demand. */
export class SafetensorsFile {
  private constructor(
    readonly path: string,
    private readonly fh: FileHandle,
    readonly tensors: ReadonlyMap<string, TensorEntry>,
    readonly metadata: Readonly<Record<string, string>>,
  ) {}

  static async open(path: string): Promise<SafetensorsFile> {
    let size: number;
    try {
      size = (await stat(path)).size;
    } catch {
      throw new SafetensorsError(`${path}: no such file`);
    }
    const fh = await open(path, 'r');
    try {
      const lenBuf = Buffer.alloc(8);
      await fh.read(lenBuf, 0, 8, 0);
      const n = Number(lenBuf.readBigUInt64LE(0));
      if (size < 8 || n <= 1 || n > 100 * 1024 * 1024 || 8 + n > size) {
        throw new SafetensorsError(`${path}: not a safetensors file (header length ${n} for a ${size}-byte file)`);
      }
      const head = Buffer.alloc(n);
      await fh.read(head, 0, n, 8);
      let json: Record<string, unknown>;
      try {
        json = JSON.parse(head.toString('utf8')) as Record<string, unknown>;
      } catch (e) {
        throw new SafetensorsError(
          `${path}: the header is not valid JSON (${e instanceof Error ? e.message : String(e)})`,
        );
      }
      const tensors = new Map<string, TensorEntry>();
      let metadata: Record<string, string> = {};
      const dataStart = 8 + n;
      for (const [name, v] of Object.entries(json)) {
        if (name === '__metadata__') {
          metadata = (v ?? {}) as Record<string, string>;
          continue;
        }
        const e = v as { dtype?: string; shape?: number[]; data_offsets?: [number, number] };
        if (!e.dtype || !(e.dtype in DTYPE_BYTES) || !Array.isArray(e.shape) || !Array.isArray(e.data_offsets)) {
          throw new SafetensorsError(`${path}: tensor '${name}' has a bad header entry (dtype ${String(e.dtype)})`);
        }
        const dtype = e.dtype as SafetensorsDtype;
        const [b, end] = e.data_offsets;
        if (end - b !== numel(e.shape) * DTYPE_BYTES[dtype] || dataStart + end > size) {
          throw new SafetensorsError(
            `${path}: tensor '${name}' ${JSON.stringify(e.shape)} ${dtype} has data_offsets [${b}, ${end}] that do not fit (file truncated?)`,
          );
        }
        tensors.set(name, { name, dtype, shape: e.shape, offset: dataStart + b, byteLength: end - b });
      }
      return new SafetensorsFile(path, fh, tensors, metadata);
    } catch (e) {
      await fh.close();
      throw e;
    }
  }

  /** Raw bytes of a tensor. */
  async readBytes(name: string): Promise<Buffer> {
    const e = this.entry(name);
    const buf = Buffer.alloc(e.byteLength);
    const { bytesRead } = await this.fh.read(buf, 0, e.byteLength, e.offset);
    if (bytesRead !== e.byteLength) {
      throw new SafetensorsError(`${this.path}: tensor '${name}' is truncated`);
    }
    return buf;
  }

  /** A tensor's values as f32 (F16, BF16 and F64 converted). */
  async readF32(name: string): Promise<Float32Array> {
    const e = this.entry(name);
    const buf = await this.readBytes(name);
    const n = numel(e.shape);
    switch (e.dtype) {
      case 'F32':
        return new Float32Array(buf.buffer, buf.byteOffset, n).slice();
      case 'F16': {
        const out = new Float32Array(n);
        for (let i = 0; i < n; i++) {
          out[i] = f16BitsToF32(buf.readUInt16LE(2 * i));
        }
        return out;
      }
      case 'BF16': {
        const out = new Float32Array(n);
        for (let i = 0; i < n; i++) {
          out[i] = bf16BitsToF32(buf.readUInt16LE(2 * i));
        }
        return out;
      }
      case 'F64': {
        const out = new Float32Array(n);
        for (let i = 0; i < n; i++) {
          out[i] = buf.readDoubleLE(8 * i);
        }
        return out;
      }
      case 'I32':
      case 'I64':
      case 'U8':
        throw new SafetensorsError(`${this.path}: tensor '${name}' is ${e.dtype}, not a float tensor`);
    }
  }

  private entry(name: string): TensorEntry {
    const e = this.tensors.get(name);
    if (!e) {
      throw new SafetensorsError(`${this.path}: no tensor named '${name}'`);
    }
    return e;
  }

  close(): Promise<void> {
    return this.fh.close();
  }
}

export interface TensorToWrite {
  name: string;
  shape: readonly number[];
  /** f32 values, written as F32 or (dtype 'F16') converted to F16. */
  data: Float32Array;
  dtype?: 'F32' | 'F16';
}

/**
 * Writes a safetensors file atomically. Tensors are produced lazily (`data` may be a function) so
 * that a large file is generated and written one tensor at a time.
 */
export async function writeSafetensors(
  path: string,
  tensors: readonly (Omit<TensorToWrite, 'data'> & { data: Float32Array | (() => Float32Array) })[],
  metadata: Record<string, string> = {},
): Promise<void> {
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length > 0) {
    header.__metadata__ = metadata;
  }
  let off = 0;
  for (const t of tensors) {
    const bytes = numel(t.shape) * (t.dtype === 'F16' ? 2 : 4);
    header[t.name] = { dtype: t.dtype ?? 'F32', shape: [...t.shape], data_offsets: [off, off + bytes] };
    off += bytes;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - ((8 + Buffer.byteLength(json)) % 8)) % 8); // align the data to 8 bytes
  const head = Buffer.alloc(8 + Buffer.byteLength(json));
  head.writeBigUInt64LE(BigInt(Buffer.byteLength(json)), 0);
  head.write(json, 8, 'utf8');
  await writeFileAtomic(path, async (write) => {
    await write(head);
    for (const t of tensors) {
      const data = typeof t.data === 'function' ? t.data() : t.data;
      if (data.length !== numel(t.shape)) {
        throw new SafetensorsError(
          `writeSafetensors: '${t.name}' has ${data.length} values for shape [${t.shape.join(',')}]`,
        );
      }
      const view = t.dtype === 'F16' ? toF16Array(data) : data;
      await write(new Uint8Array(view.buffer, view.byteOffset, view.byteLength));
    }
  });
}
