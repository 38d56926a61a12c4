// CPU references (f64) for the pointwise activations, forward and backward: tanh-GELU (OC3),
// stable sigmoid, SiLU.
import { geluTanh } from './elementwise.js';

const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);
const GELU_C = 0.044715;

/** Stable logistic σ(x) = 1/(1+e^−x): evaluated as e^x/(1+e^x) for x < 0 (no overflow). */
export function sigmoid(x: number): number {
  if (x >= 0) {
    return 1 / (1 + Math.exp(-x));
  }
  const e = Math.exp(x);
  return e / (1 + e);
}

/**
 * d/dx of tanh-GELU. With u = √(2/π)·(x + 0.044715·x³), t = tanh(u):
 * gelu'(x) = ½(1 + t) + ½·x·(1 − t²)·√(2/π)·(1 + 3·0.044715·x²)
 */
export function geluTanhGrad(x: number): number {
  const t = Math.tanh(SQRT_2_OVER_PI * (x + GELU_C * x * x * x));
  return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * SQRT_2_OVER_PI * (1 + 3 * GELU_C * x * x);
}

/**
 * tanh-approximate GELU (flax `nn.gelu`, approximate=True; OC3), elementwise, any shape:
 * y = ½·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))
 */
export function geluTanhForward(x: ArrayLike<number>): { y: Float64Array } {
  return { y: Float64Array.from({ length: x.length }, (_, i) => geluTanh(x[i]!)) };
}

/** GELU backward: dx = dy ⊙ gelu'(x) (see {@link geluTanhGrad}); `x` is the forward input. */
export function geluTanhBackward(dy: ArrayLike<number>, x: ArrayLike<number>): { dx: Float64Array } {
  sameLength(dy, x);
  return { dx: Float64Array.from({ length: x.length }, (_, i) => dy[i]! * geluTanhGrad(x[i]!)) };
}

/** Sigmoid, elementwise, any shape: y = σ(x) (stable, see {@link sigmoid}). */
export function sigmoidForward(x: ArrayLike<number>): { y: Float64Array } {
  return { y: Float64Array.from({ length: x.length }, (_, i) => sigmoid(x[i]!)) };
}

/** Sigmoid backward from the saved output: dx = dy ⊙ y ⊙ (1 − y). */
export function sigmoidBackward(dy: ArrayLike<number>, y: ArrayLike<number>): { dx: Float64Array } {
  sameLength(dy, y);
  return { dx: Float64Array.from({ length: y.length }, (_, i) => dy[i]! * y[i]! * (1 - y[i]!)) };
}

/** SiLU (swish), elementwise, any shape: y = x·σ(x). */
export function siluForward(x: ArrayLike<number>): { y: Float64Array } {
  return { y: Float64Array.from({ length: x.length }, (_, i) => x[i]! * sigmoid(x[i]!)) };
}

/** SiLU backward: dx = dy ⊙ σ(x)·(1 + x·(1 − σ(x))); `x` is the forward input. */
export function siluBackward(dy: ArrayLike<number>, x: ArrayLike<number>): { dx: Float64Array } {
  sameLength(dy, x);
  return {
    dx: Float64Array.from({ length: x.length }, (_, i) => {
      const s = sigmoid(x[i]!);
      return dy[i]! * s * (1 + x[i]! * (1 - s));
    }),
  };
}

function sameLength(dy: ArrayLike<number>, x: ArrayLike<number>): void {
  if (dy.length !== x.length) {
    throw new RangeError(`dy: expected ${x.length} elements (the forward's shape), got ${dy.length}`);
  }
}
