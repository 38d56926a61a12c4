// In-process CLI runs for the readout and metrics tests: runCli with stdout/stderr captured,
// and a safetensors writer for any dtype (the library writer writes F32/F16 only).
import { writeFileSync } from 'node:fs';
import { vi } from 'vitest';
import { runCli } from '../../src/cli/commands.js';

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export async function captureCli(argv: string[]): Promise<CliResult> {
  const out: string[] = [];
  const err: string[] = [];
  const so = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    out.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8'));
    return true;
  });
  const se = vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
    err.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8'));
    return true;
  });
  try {
    const code = await runCli(argv);
    return { code, stdout: out.join(''), stderr: err.join('') };
  } finally {
    so.mockRestore();
    se.mockRestore();
  }
}

export type RawDtype = 'F32' | 'F64' | 'I32' | 'I64' | 'U8';

export interface RawTensor {
  name: string;
  dtype: RawDtype;
  shape: number[];
  values: ArrayLike<number>;
}

/** Writes a safetensors file with tensors of any of the listed dtypes (little-endian). */
export function writeRawSafetensors(path: string, tensors: RawTensor[]): void {
  const header: Record<string, unknown> = {};
  const bodies: Buffer[] = [];
  let off = 0;
  for (const t of tensors) {
    const n = t.values.length;
    const size = { F32: 4, F64: 8, I32: 4, I64: 8, U8: 1 }[t.dtype];
    const b = Buffer.alloc(n * size);
    for (let i = 0; i < n; i++) {
      const v = t.values[i]!;
      switch (t.dtype) {
        case 'F32':
          b.writeFloatLE(v, 4 * i);
          break;
        case 'F64':
          b.writeDoubleLE(v, 8 * i);
          break;
        case 'I32':
          b.writeInt32LE(v, 4 * i);
          break;
        case 'I64':
          b.writeBigInt64LE(BigInt(v), 8 * i);
          break;
        case 'U8':
          b.writeUInt8(v, i);
          break;
      }
    }
    header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [off, off + b.length] };
    off += b.length;
    bodies.push(b);
  }
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  writeFileSync(path, Buffer.concat([len, json, ...bodies]));
}
