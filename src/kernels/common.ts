// Helpers shared by kernel wrappers.

import type { FloatDType } from '../tensor/dtype.js';
import { ShapeError } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';

/** Workgroup counts for `groups` 1-D workgroups folded into 2-D (kernels unfold with 65535). */
export function fold(groups: number): [number, number] {
  if (groups <= 65535) {
    return [Math.max(groups, 1), 1];
  }
  return [65535, Math.ceil(groups / 65535)];
}

export function floatDtypeOf(what: string, ...ts: Tensor[]): FloatDType {
  const d = ts[0]!.dtype;
  if (d !== 'f32' && d !== 'f16') {
    throw new ShapeError(`${what}: expected f32 or f16 tensors, got ${d}`);
  }
  for (const t of ts) {
    if (t.dtype !== d) {
      throw new ShapeError(`${what}: mixed dtypes ${ts.map((x) => x.dtype).join(', ')}`);
    }
  }
  return d;
}

export function ceilDiv(a: number, b: number): number {
  return Math.ceil(a / b);
}

/**
 * Where a backward kernel writes a gradient (llm.c's rule): `accumulate` true adds into the
 * tensor's existing values (+=: parameter gradients, and activations that already hold another
 * consumer's contribution); false overwrites it (=: the first contribution).
 */
export interface GradTarget {
  tensor: Tensor;
  accumulate: boolean;
}

/** Checks a caller-supplied output tensor's shape and dtype against what the kernel writes. */
export function checkOut(what: string, out: Tensor, shape: readonly number[], dtype: string): void {
  const same = out.shape.length === shape.length && out.shape.every((d, i) => d === shape[i]);
  if (!same || out.dtype !== dtype) {
    throw new ShapeError(`${what}: out ${out.toString()} must be [${shape.join(', ')}] ${dtype}`);
  }
}
