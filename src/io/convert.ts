// Pure pixel conversions shared by the in-process path and the decode worker (no Node I/O here).

/** 256-entry table: byte value -> value / 255 as float32. */
const U8_TO_UNIT = (() => {
  const t = new Float32Array(256);
  for (let i = 0; i < 256; i++) {
    t[i] = i / 255;
  }
  return t;
})();

/**
 * Converts packed rgb24 frames to float32 in [0, 1] and reorders them.
 *
 * @param bytes `n` frames of `frameSize` bytes each, back to back.
 * @param frameSize bytes per frame (H * W * 3).
 * @param frameMap output frame `t` is decoded frame `frameMap[t]` (repeats allowed, e.g. to pad a short video).
 * @returns `frameMap.length * frameSize` floats.
 */
export function rgb24ToFloat(bytes: Uint8Array, frameSize: number, frameMap: readonly number[]): Float32Array {
  const out = new Float32Array(frameMap.length * frameSize);
  const lut = U8_TO_UNIT;
  for (let t = 0; t < frameMap.length; t++) {
    const src = frameMap[t]! * frameSize;
    if (src < 0 || src + frameSize > bytes.length) {
      throw new RangeError(`rgb24ToFloat: frame ${frameMap[t]} is outside the decoded data`);
    }
    const dst = t * frameSize;
    for (let i = 0; i < frameSize; i++) {
      out[dst + i] = lut[bytes[src + i]!]!;
    }
  }
  return out;
}

/** Converts uint8 samples (0..255) to float32 in [0, 1]. */
export function u8ToUnit(src: Uint8Array): Float32Array {
  const out = new Float32Array(src.length);
  for (let i = 0; i < src.length; i++) {
    out[i] = U8_TO_UNIT[src[i]!]!;
  }
  return out;
}

/** Converts IEEE half-precision bit patterns to float32. */
export function f16ToF32(src: Uint16Array): Float32Array {
  const out = new Float32Array(src.length);
  for (let i = 0; i < src.length; i++) {
    const h = src[i]!;
    const sign = h & 0x8000 ? -1 : 1;
    const exp = (h >> 10) & 0x1f;
    const frac = h & 0x3ff;
    if (exp === 0) {
      out[i] = sign * frac * 2 ** -24;
    } else if (exp === 31) {
      out[i] = frac ? NaN : sign * Infinity;
    } else {
      out[i] = sign * (1 + frac / 1024) * 2 ** (exp - 15);
    }
  }
  return out;
}

/** Geometry of "scale so the frame covers the target, then centre-crop". */
export interface CoverGeometry {
  /** Size after scaling (>= target on both axes; one axis equals the target). */
  scaledH: number;
  scaledW: number;
  /** Top-left corner of the centre crop inside the scaled frame. */
  y0: number;
  x0: number;
}

/**
 * Computes the scale-then-centre-crop geometry exactly as ffmpeg's
 * `scale=W:H:force_original_aspect_ratio=increase,crop=W:H` does (rounded scaled size, floored crop offset).
 * For a square target this resizes the shorter side to the target.
 */
export function coverGeometry(h: number, w: number, outH: number, outW: number): CoverGeometry {
  const scaledW = Math.max(outW, roundHalfAway((outH * w) / h));
  const scaledH = Math.max(outH, roundHalfAway((outW * h) / w));
  return { scaledH, scaledW, y0: Math.floor((scaledH - outH) / 2), x0: Math.floor((scaledW - outW) / 2) };
}

function roundHalfAway(x: number): number {
  return Math.sign(x) * Math.round(Math.abs(x));
}

interface Taps {
  i0: Int32Array;
  i1: Int32Array;
  f: Float32Array;
}

function taps(n: number, scaled: number, offset: number, count: number): Taps {
  const i0 = new Int32Array(count);
  const i1 = new Int32Array(count);
  const f = new Float32Array(count);
  const ratio = n / scaled;
  for (let o = 0; o < count; o++) {
    // Half-pixel centres (align_corners = false), clamped at the borders.
    let s = (o + offset + 0.5) * ratio - 0.5;
    if (s < 0) {
      s = 0;
    }
    if (s > n - 1) {
      s = n - 1;
    }
    const a = Math.floor(s);
    i0[o] = a;
    i1[o] = Math.min(a + 1, n - 1);
    f[o] = s - a;
  }
  return { i0, i1, f };
}

/**
 * Bilinear resize (half-pixel centres, no antialiasing) of channels-last frames so they cover `outH x outW`,
 * then a centre crop (see {@link coverGeometry}).
 *
 * @param src `t * h * w * c` floats, row-major [T, H, W, C].
 * @returns `t * outH * outW * c` floats.
 */
export function resizeCropBilinear(
  src: Float32Array,
  t: number,
  h: number,
  w: number,
  c: number,
  outH: number,
  outW: number,
): Float32Array {
  if (src.length !== t * h * w * c) {
    throw new RangeError(`resizeCropBilinear: expected ${t * h * w * c} values, got ${src.length}`);
  }
  const g = coverGeometry(h, w, outH, outW);
  const ty = taps(h, g.scaledH, g.y0, outH);
  const tx = taps(w, g.scaledW, g.x0, outW);
  const out = new Float32Array(t * outH * outW * c);
  const row = new Float32Array(w * c);
  for (let f = 0; f < t; f++) {
    const fBase = f * h * w * c;
    for (let y = 0; y < outH; y++) {
      // Interpolate the two source rows vertically, then sample horizontally.
      const r0 = fBase + ty.i0[y]! * w * c;
      const r1 = fBase + ty.i1[y]! * w * c;
      const fy = ty.f[y]!;
      for (let i = 0; i < w * c; i++) {
        const a = src[r0 + i]!;
        row[i] = a + (src[r1 + i]! - a) * fy;
      }
      const oBase = (f * outH + y) * outW * c;
      for (let x = 0; x < outW; x++) {
        const a0 = tx.i0[x]! * c;
        const a1 = tx.i1[x]! * c;
        const fx = tx.f[x]!;
        for (let k = 0; k < c; k++) {
          const a = row[a0 + k]!;
          out[oBase + x * c + k] = a + (row[a1 + k]! - a) * fx;
        }
      }
    }
  }
  return out;
}
