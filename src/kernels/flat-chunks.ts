// Flat element ranges that fit one storage binding: memory-bound kernels over long flat tensors
// (activation gradients, AdamW over a parameter arena, broadcast adds over batched features) run
// one dispatch per chunk of at most maxStorageBufferBindingSize bytes, each chunk bound as a view
// that starts at a multiple of minStorageBufferOffsetAlignment.

import type { GpuContext } from '../gpu/context.js';
import { ShapeError } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';

export interface FlatChunk {
  /** First element of the chunk. */
  readonly start: number;
  /** Elements in the chunk (≥ 1). */
  readonly length: number;
}

/**
 * Elements per chunk: the largest multiple of the alignment unit (minStorageBufferOffsetAlignment
 * / 2 elements, so that chunk starts are aligned for f16 and f32 alike) whose widest binding
 * (`bytesPerElement`) fits maxStorageBufferBindingSize, capped by `maxElements` when given.
 */
export function chunkElements(ctx: GpuContext, bytesPerElement: number, maxElements?: number): number {
  const unit = Math.max(1, ctx.caps.limits.minStorageBufferOffsetAlignment / 2);
  const fit = Math.floor(ctx.caps.limits.maxStorageBufferBindingSize / bytesPerElement);
  const cap = Math.min(fit, maxElements ?? fit);
  const n = Math.floor(cap / unit) * unit;
  if (n < unit) {
    throw new ShapeError(
      `chunk: at most ${cap} elements per dispatch is below the alignment unit of ${unit} elements; pass a larger chunk`,
    );
  }
  return n;
}

/** Splits `n` elements into consecutive chunks of `per` elements (the last one shorter). */
export function flatChunks(n: number, per: number): FlatChunk[] {
  const out: FlatChunk[] = [];
  for (let start = 0; start < n; start += per) {
    out.push({ start, length: Math.min(per, n - start) });
  }
  return out;
}

/**
 * Runs `fn` once per chunk with views of `tensors` (flat, the chunk's elements); a single chunk
 * covering everything passes the tensors themselves. The views are disposed after each call
 * (their buffers stay alive: the tensors own them).
 */
export function forEachChunk(
  n: number,
  per: number,
  tensors: readonly Tensor[],
  fn: (chunk: FlatChunk, views: Tensor[], index: number) => void,
): void {
  const chunks = flatChunks(n, per);
  chunks.forEach((c, i) => {
    if (chunks.length === 1) {
      fn(c, [...tensors], i);
      return;
    }
    const views = tensors.map((t) => t.view(c.start, [c.length]));
    try {
      fn(c, views, i);
    } finally {
      for (const v of views) {
        v.dispose();
      }
    }
  });
}
