// IEEE 754 binary16 <-> binary32 conversion (round to nearest, ties to even), for feeding f16 peers.

const f32Scratch = new Float32Array(1);
const u32Scratch = new Uint32Array(f32Scratch.buffer);

/** The binary16 bits nearest to `x` (ties to even); overflow gives ±Inf, NaN stays NaN (quiet). */
export function f32ToF16Bits(x: number): number {
  f32Scratch[0] = x;
  const bits = u32Scratch[0] ?? 0;
  const sign = (bits >>> 16) & 0x8000;
  const exp = (bits >>> 23) & 0xff;
  const mant = bits & 0x7fffff;
  if (exp === 0xff) {
    return mant === 0 ? sign | 0x7c00 : sign | 0x7e00 | (mant >>> 13);
  }
  const e = exp - 127 + 15; // biased binary16 exponent
  if (e >= 0x1f) {
    return sign | 0x7c00;
  }
  if (e <= 0) {
    // binary16 subnormal (or zero): value = m · 2^-24 with m = significand >> (14 - e).
    if (e < -10) {
      return sign; // below half of the smallest subnormal (or exactly half: ties to even = 0)
    }
    const sig = mant | 0x800000;
    const shift = 14 - e; // 14..24
    let m = sig >>> shift;
    const rem = sig & ((1 << shift) - 1);
    const half = 1 << (shift - 1);
    if (rem > half || (rem === half && (m & 1) === 1)) {
      m += 1; // may carry into the smallest normal (0x0400), which is the right answer
    }
    return sign | m;
  }
  let h = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && (h & 1) === 1)) {
    h += 1; // a carry out of the mantissa bumps the exponent; 0x7bff + 1 = 0x7c00 = Inf
  }
  return sign | h;
}

/** The value of binary16 bits `h` as a number. */
export function f16BitsToF32(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const e = (h >>> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) {
    return sign * m * 2 ** -24;
  }
  if (e === 0x1f) {
    return m === 0 ? sign * Infinity : NaN;
  }
  return sign * (1 + m / 1024) * 2 ** (e - 15);
}

export function toF16Array(a: Float32Array): Uint16Array {
  const out = new Uint16Array(a.length);
  for (let i = 0; i < a.length; i++) {
    out[i] = f32ToF16Bits(a[i] ?? 0);
  }
  return out;
}

export function fromF16Array(h: Uint16Array): Float32Array {
  const out = new Float32Array(h.length);
  for (let i = 0; i < h.length; i++) {
    out[i] = f16BitsToF32(h[i] ?? 0);
  }
  return out;
}

/** `a` rounded to binary16 and back (what an f16 peer actually sees), for building references. */
export function roundToF16(a: Float32Array): Float32Array {
  return fromF16Array(toF16Array(a));
}
