// .npz as float32 arrays, for `walt convert` (checkpoints): every array of an archive widened or
// narrowed to f32, and f32 arrays written back. The archive format itself (reading what numpy
// writes, writing stored archives) lives in one place, src/datasets/npz.ts.
import { readFileSync } from 'node:fs';
import { decodeNpz, writeNpzStored } from '../datasets/npz.js';

export interface NpzArray {
  name: string;
  shape: number[];
  data: Float32Array;
}

/** Reads every array of an .npz as f32 (integers, booleans, float16 and float64 converted). */
export function readNpz(path: string): NpzArray[] {
  return decodeNpz(readFileSync(path), path).map((a) => ({
    name: a.name,
    shape: a.shape,
    data: a.data instanceof Float32Array ? a.data : Float32Array.from(a.data),
  }));
}

/** Writes float32 arrays as an .npz (stored entries; numpy.load reads it), atomically. */
export async function writeNpz(
  path: string,
  arrays: readonly { name: string; shape: readonly number[]; data: Float32Array }[],
): Promise<void> {
  await writeNpzStored(
    path,
    arrays.map((a) => ({ name: a.name, dtype: 'f32' as const, shape: a.shape, data: a.data })),
  );
}
