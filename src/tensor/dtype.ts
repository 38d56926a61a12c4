import { fromF16Array } from './f16.js';

/** Element types a tensor can hold. Accumulation is always f32 inside kernels. */
export type DType = 'f32' | 'f16' | 'u32' | 'i32';

/** Float storage types that model activations and weights may use. */
export type FloatDType = 'f32' | 'f16';

/** Bytes per element. */
export function bytesPerElement(dtype: DType): number {
  return dtype === 'f16' ? 2 : 4;
}

export function isFloatDType(s: string): s is FloatDType {
  return s === 'f32' || s === 'f16';
}

/** Parses a `--dtype` style string, naming the option in the error. */
export function parseFloatDType(s: string, option = '--dtype'): FloatDType {
  if (!isFloatDType(s)) {
    throw new Error(`${option} must be f32 or f16, got '${s}'`);
  }
  return s;
}

/** Raw bytes of `n` elements of a dtype as f32 values (f16 widened, integers converted). */
export function bytesToFloat32(dtype: DType, raw: ArrayBuffer, n: number): Float32Array {
  const v = new { f16: Uint16Array, f32: Float32Array, u32: Uint32Array, i32: Int32Array }[dtype](raw, 0, n);
  return v instanceof Float32Array ? v : v instanceof Uint16Array ? fromF16Array(v) : Float32Array.from(v);
}
