// CPU references (f64) for src/kernels/elementwise.ts.

import type { Broadcast } from '../kernels/elementwise.js';

export function geluTanh(x: number): number {
  return 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x)));
}

export function silu(x: number): number {
  return x / (1 + Math.exp(-x));
}

export function bcastIndex(i: number, bc: Broadcast): number {
  return Math.floor(i / bc.outer) * bc.inner + (i % bc.inner);
}

export function mapRef(a: ArrayLike<number>, f: (x: number) => number): Float64Array {
  return Float64Array.from({ length: a.length }, (_, i) => f(a[i]!));
}

export function binaryRef(
  a: ArrayLike<number>,
  b: ArrayLike<number>,
  bc: Broadcast,
  f: (x: number, y: number) => number,
): Float64Array {
  return Float64Array.from({ length: a.length }, (_, i) => f(a[i]!, b[bcastIndex(i, bc)]!));
}

export function gatedRef(
  x: ArrayLike<number>,
  h: ArrayLike<number>,
  g: ArrayLike<number>,
  bc: Broadcast,
): Float64Array {
  return Float64Array.from({ length: x.length }, (_, i) => x[i]! + g[bcastIndex(i, bc)]! * h[i]!);
}
