// .npy clips ([T, H, W, 3] or [H, W, 3]; float32/float16/float64 in [0, 1] or uint8 0..255): the
// same window sampling as videos, frames read one at a time, values checked and converted to [0, 1],
// and a bilinear resize in TypeScript when a size is asked for.

import { f16ToF32, u8ToUnit } from './convert.js';
import type { InputItem } from './inputs.js';
import { isMediaError, type MediaError } from './media-error.js';
import { shortWarning, windowStart, type Clip, type Resolved } from './media-options.js';
import { fail, fsError } from './media-preflight.js';
import { NpyFormatError, openNpyClip, type NpyClipFile } from './npy-clip.js';

/** A .npy clip: the sampled window of its frames (see {@link loadClip}). */
export async function loadNpy(item: InputItem, o: Resolved): Promise<Clip> {
  let file: NpyClipFile;
  try {
    file = await openNpyClip(item.path);
  } catch (e) {
    throw npyError(item, e);
  }
  try {
    const { shape, dtype, itemSize, dataOffset } = file.header;
    const dims = shape.length === 3 ? [1, ...shape] : shape;
    if (dims.length !== 4 || dims[3] !== 3) {
      throw fail(
        item,
        'bad-npy',
        `array shape [${shape.join(', ')}] is not a clip`,
        'save it as [T, H, W, 3] (channels-last RGB) or [H, W, 3]',
      );
    }
    const [n, h, w] = dims as [number, number, number, number];
    if (n === 0 || h === 0 || w === 0) {
      throw fail(item, 'no-frames', `array shape [${shape.join(', ')}] holds no pixels`, 'remove it');
    }
    const frameLen = h * w * 3;
    if (file.size < dataOffset + n * frameLen * itemSize) {
      throw fail(
        item,
        'truncated',
        `the array data ends early (${file.size} bytes for shape [${shape.join(', ')}])`,
        're-copy or re-save it, or remove it',
      );
    }
    const span = (o.frames - 1) * o.stride + 1;
    const first = windowStart(o.start, n, span, o.seed, item.source);
    const framesUsed: number[] = [];
    for (let t = 0; t < o.frames; t++) {
      framesUsed.push(Math.min(first + t * o.stride, first + Math.floor((n - 1 - first) / o.stride) * o.stride));
    }
    const out = new Float32Array(o.frames * frameLen);
    let lastIdx = -1;
    for (let t = 0; t < o.frames; t++) {
      const idx = framesUsed[t]!;
      if (idx === lastIdx) {
        out.copyWithin(t * frameLen, (t - 1) * frameLen, t * frameLen);
        continue;
      }
      lastIdx = idx;
      const raw = await file.readElements(idx * frameLen, frameLen);
      out.set(toUnitFloat(item, raw, dtype), t * frameLen);
    }
    const warnings: string[] = [];
    if (framesUsed[framesUsed.length - 1]! < first + (o.frames - 1) * o.stride) {
      warnings.push(shortWarning('clip', n, o));
    }
    let data: Float32Array = out;
    let oh = h;
    let ow = w;
    if (o.size !== undefined && (o.size[0] !== h || o.size[1] !== w)) {
      [oh, ow] = o.size;
      data = await o.converter.resizeCrop(out, [o.frames, h, w, 3], oh, ow);
    }
    return { data, shape: [o.frames, oh, ow, 3], framesUsed, warnings, sourceFrames: n };
  } catch (e) {
    throw npyError(item, e);
  } finally {
    await file.close();
  }
}

function toUnitFloat(item: InputItem, raw: Uint8Array, dtype: string): Float32Array {
  let f: Float32Array;
  switch (dtype) {
    case 'u8':
      return u8ToUnit(raw);
    case 'f32':
      f = new Float32Array(raw.buffer, raw.byteOffset, raw.byteLength / 4);
      break;
    case 'f16':
      f = f16ToF32(new Uint16Array(raw.buffer, raw.byteOffset, raw.byteLength / 2));
      break;
    default:
      f = Float32Array.from(new Float64Array(raw.buffer, raw.byteOffset, raw.byteLength / 8));
  }
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of f) {
    if (Number.isNaN(v)) {
      throw fail(item, 'bad-npy', 'the array holds NaN values', 'fix the data or remove it');
    }
    lo = v < lo ? v : lo;
    hi = v > hi ? v : hi;
  }
  const tol = 1e-3;
  if (lo < -tol || hi > 1 + tol) {
    const hint = hi > 1.5 && lo >= 0 ? 'divide by 255 or save as uint8' : 'rescale the values to [0, 1]';
    throw fail(item, 'bad-npy', `float values range from ${lo} to ${hi}, not [0, 1]`, hint);
  }
  if (lo < 0 || hi > 1) {
    for (let i = 0; i < f.length; i++) {
      f[i] = Math.min(1, Math.max(0, f[i]!));
    }
  }
  return f;
}

function npyError(item: InputItem, e: unknown): MediaError {
  if (isMediaError(e)) {
    return e;
  }
  if (e instanceof NpyFormatError) {
    const truncated = /truncated|ends early/.test(e.message);
    return fail(
      item,
      truncated ? 'truncated' : 'bad-npy',
      `cannot read the .npy clip (${e.message})`,
      truncated ? 're-copy or re-save it, or remove it' : 'save it as a [T, H, W, 3] float32 or uint8 array',
    );
  }
  return fsError(item, e);
}
