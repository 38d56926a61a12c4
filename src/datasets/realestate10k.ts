// RealEstate10K camera files: the first line is the video's URL (or id), then one line per frame
//   timestamp_us fx fy cx cy 0 0 r11 r12 r13 t1 r21 r22 r23 t2 r31 r32 r33 t3
// with intrinsics normalised by the image size (fx/W, fy/H, cx/W, cy/H) and the 3×4
// world-to-camera extrinsics row-major, OpenCV camera axes (x right, y down, z forward).
import { readFile } from 'node:fs/promises';
import { writeBytesAtomic } from '../util/atomic.js';
import { DatasetError } from './errors.js';

/** One frame's camera. */
export interface CameraFrame {
  /** Microseconds from the start of the video. */
  timestampUs: number;
  /** Focal lengths and principal point, normalised: fx/W, fy/H, cx/W, cy/H. */
  fx: number;
  fy: number;
  cx: number;
  cy: number;
  /** World-to-camera `[R | t]`, 3×4 row-major (12 values): X_cam = R·X_world + t. */
  worldToCamera: Float64Array;
}

/** A whole camera file. */
export interface CameraTrack {
  /** The first line: the video's URL or id. */
  url: string;
  frames: CameraFrame[];
}

const FIX_CAM = 'each line after the URL is `timestamp fx fy cx cy 0 0` and 12 extrinsic values (19 numbers)';

/**
 * Parses a camera file's text.
 *
 * @param file the path, for errors.
 * @throws DatasetError naming the file and line.
 */
export function parseCameraFile(text: string, file: string): CameraTrack {
  const lines = text.replace(/^\uFEFF/, '').split(/\r\n|\r|\n/);
  const url = (lines[0] ?? '').trim();
  if (url === '') {
    throw new DatasetError(
      file,
      'the first line (the video URL or id) is empty',
      'RealEstate10K files start with the video URL',
      1,
    );
  }
  const frames: CameraFrame[] = [];
  for (let i = 1; i < lines.length; i++) {
    const raw = lines[i]!.trim();
    if (raw === '') {
      continue;
    }
    const f = raw.split(/\s+/);
    if (f.length !== 19) {
      throw new DatasetError(file, `${f.length} fields on a frame line`, FIX_CAM, i + 1);
    }
    const v = f.map(Number);
    const bad = v.findIndex((x) => !Number.isFinite(x));
    if (bad >= 0) {
      throw new DatasetError(file, `field ${bad + 1} ('${f[bad]}') is not a number`, FIX_CAM, i + 1);
    }
    if (!Number.isInteger(v[0])) {
      throw new DatasetError(
        file,
        `the timestamp '${f[0]}' is not an integer`,
        'timestamps are integer microseconds',
        i + 1,
      );
    }
    frames.push({
      timestampUs: v[0]!,
      fx: v[1]!,
      fy: v[2]!,
      cx: v[3]!,
      cy: v[4]!,
      worldToCamera: Float64Array.from(v.slice(7)),
    });
  }
  if (frames.length === 0) {
    throw new DatasetError(file, 'no frame lines', FIX_CAM);
  }
  return { url, frames };
}

/** Reads and parses a camera file. */
export async function readCameraFile(file: string): Promise<CameraTrack> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    throw new DatasetError(file, 'cannot read the camera file', 'check the path');
  }
  return parseCameraFile(text, file);
}

/** Fixed 9-decimal text (as RealEstate10K writes), with negative zero written as zero. */
function num(x: number): string {
  const s = x.toFixed(9);
  return /^-0\.0+$/.test(s) ? s.slice(1) : s;
}

/** The text of a camera file (LF line ends, a final newline). */
export function formatCameraFile(track: CameraTrack): string {
  const lines = [track.url];
  for (const f of track.frames) {
    if (f.worldToCamera.length !== 12) {
      throw new RangeError(`formatCameraFile: worldToCamera has ${f.worldToCamera.length} values, expected 12`);
    }
    lines.push(
      [
        String(Math.round(f.timestampUs)),
        num(f.fx),
        num(f.fy),
        num(f.cx),
        num(f.cy),
        num(0),
        num(0),
        ...Array.from(f.worldToCamera, num),
      ].join(' '),
    );
  }
  return lines.join('\n') + '\n';
}

/** Writes {@link formatCameraFile}'s text atomically. */
export async function writeCameraFile(file: string, track: CameraTrack): Promise<void> {
  await writeBytesAtomic(file, formatCameraFile(track));
}

/** A frame's intrinsics in pixels for an image of `width × height`. */
export function pixelIntrinsics(
  f: CameraFrame,
  width: number,
  height: number,
): { fx: number; fy: number; cx: number; cy: number } {
  return { fx: f.fx * width, fy: f.fy * height, cx: f.cx * width, cy: f.cy * height };
}

/**
 * The relative pose of spec OC8: `[R | t] = E_b · E_a⁻¹` for world-to-camera extrinsics E_a, E_b
 * (X_b = R·X_a + t), as 12 values: R row-major (9) then t (3).
 *
 * With E = [Rₖ | tₖ]: R = R_b·R_aᵀ, t = t_b − R·t_a.
 */
export function relativePose(a: Float64Array, b: Float64Array): Float64Array {
  const Ra = (r: number, c: number): number => a[4 * r + c]!;
  const Rb = (r: number, c: number): number => b[4 * r + c]!;
  const out = new Float64Array(12);
  for (let r = 0; r < 3; r++) {
    for (let c = 0; c < 3; c++) {
      let s = 0;
      for (let k = 0; k < 3; k++) {
        s += Rb(r, k) * Ra(c, k);
      }
      out[3 * r + c] = s;
    }
  }
  for (let r = 0; r < 3; r++) {
    let s = 0;
    for (let k = 0; k < 3; k++) {
      s += out[3 * r + k]! * a[4 * k + 3]!;
    }
    out[9 + r] = b[4 * r + 3]! - s;
  }
  return out;
}
