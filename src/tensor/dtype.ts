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
