// TAP-Vid-style point tracks, one .npz per clip:
//   video    uint8 [T, H, W, 3]  (optional when reading)
//   points   float [M, T, 2]     (x, y) normalised by the frame width and height: pixel / W
//   occluded bool  [M, T]        true where the point is hidden or outside the frame
import { DatasetError } from './errors.js';
import { encodeNpz, readNpzArrays, type NpyArray } from './npz.js';
import { writeBytesAtomic } from '../util/atomic.js';

/** One clip's tracks. */
export interface TapVidClip {
  /** M tracks. */
  numPoints: number;
  /** T frames. */
  numFrames: number;
  /** `[M, T, 2]` (x, y) in [0, 1] while in view (a point that left the frame may lie outside). */
  points: Float32Array;
  /** `[M, T]`, 1 = occluded or out of view. */
  occluded: Uint8Array;
  /** The frames, `[T, H, W, 3]`, when the file holds them. */
  video?: { shape: [number, number, number, 3]; data: Uint8Array };
}

const FIX_TAP = 'a TAP-Vid clip holds points float [M,T,2], occluded bool [M,T] and video uint8 [T,H,W,3]';

function need(arrays: NpyArray[], name: string, file: string): NpyArray {
  const a = arrays.find((x) => x.name === name);
  if (a === undefined) {
    throw new DatasetError(
      file,
      `no '${name}' array (found: ${arrays.map((x) => x.name).join(', ') || 'none'})`,
      FIX_TAP,
    );
  }
  return a;
}

/**
 * Reads a TAP-Vid-style .npz (numpy's np.savez / np.savez_compressed, or {@link writeTapVidNpz}).
 *
 * @throws DatasetError when an array is missing or has the wrong dtype or shape.
 */
export async function readTapVidNpz(file: string): Promise<TapVidClip> {
  const arrays = await readNpzArrays(file);
  const p = need(arrays, 'points', file);
  const o = need(arrays, 'occluded', file);
  if (p.dtype !== 'f32' && p.dtype !== 'f64' && p.dtype !== 'f16') {
    throw new DatasetError(file, `points has dtype ${p.dtype}`, FIX_TAP);
  }
  if (p.shape.length !== 3 || p.shape[2] !== 2) {
    throw new DatasetError(file, `points has shape [${p.shape.join(',')}]`, FIX_TAP);
  }
  const [m, t] = [p.shape[0]!, p.shape[1]!];
  if ((o.dtype !== 'bool' && o.dtype !== 'u8') || o.shape.length !== 2 || o.shape[0] !== m || o.shape[1] !== t) {
    throw new DatasetError(
      file,
      `occluded is ${o.dtype} [${o.shape.join(',')}], points [${p.shape.join(',')}]`,
      FIX_TAP,
    );
  }
  const clip: TapVidClip = {
    numPoints: m,
    numFrames: t,
    points: p.data instanceof Float32Array ? p.data : Float32Array.from(p.data),
    occluded: o.data.map((v) => (v !== 0 ? 1 : 0)),
  };
  const v = arrays.find((x) => x.name === 'video');
  if (v !== undefined) {
    if (v.dtype !== 'u8' || v.shape.length !== 4 || v.shape[3] !== 3 || v.shape[0] !== t) {
      throw new DatasetError(file, `video is ${v.dtype} [${v.shape.join(',')}] for ${t} frames of tracks`, FIX_TAP);
    }
    clip.video = { shape: [v.shape[0], v.shape[1]!, v.shape[2]!, 3], data: v.data };
  }
  return clip;
}

/** The bytes of a TAP-Vid .npz (stored zip; entries video, points, occluded in that order). */
export function encodeTapVidNpz(clip: TapVidClip): Buffer {
  const { numPoints: m, numFrames: t } = clip;
  return encodeNpz([
    ...(clip.video ? [{ name: 'video', dtype: 'u8' as const, shape: clip.video.shape, data: clip.video.data }] : []),
    { name: 'points', dtype: 'f32', shape: [m, t, 2], data: clip.points },
    { name: 'occluded', dtype: 'bool', shape: [m, t], data: clip.occluded },
  ]);
}

/** Writes {@link encodeTapVidNpz}'s archive atomically. */
export async function writeTapVidNpz(file: string, clip: TapVidClip): Promise<void> {
  await writeBytesAtomic(file, encodeTapVidNpz(clip));
}
