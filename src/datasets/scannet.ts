// ScanNet-style depth: a scene folder per clip with `depth/<frame>.png` (16-bit greyscale,
// millimetres: ScanNet's depth shift 1000; 0 = no depth) and `intrinsic/intrinsic_depth.txt`
// (a 4×4 matrix, as ScanNet's SensReader exports them).
import { readdir, readFile, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { writeBytesAtomic } from '../util/atomic.js';
import { DatasetError } from './errors.js';
import { readGray16Png, writeGray16Png } from './png.js';

/** Depth units per metre in the PNGs (ScanNet's `depth_shift`). */
export const DEPTH_SHIFT = 1000;

/** The depth of one clip. */
export interface DepthClip {
  width: number;
  height: number;
  numFrames: number;
  /** `[T, H, W]` depth in metres (z along the optical axis); 0 where there is none. */
  metres: Float32Array;
  /** The PNG of each frame, in frame order. */
  files: string[];
}

/** The depth folder of a scene folder (its `depth/`), or the folder itself when it holds PNGs. */
async function depthFolder(dir: string): Promise<string> {
  const sub = join(dir, 'depth');
  const isDir = await stat(sub).then(
    (s) => s.isDirectory(),
    () => false,
  );
  if (isDir) {
    return sub;
  }
  const ok = await stat(dir).then(
    (s) => s.isDirectory(),
    () => false,
  );
  if (!ok) {
    throw new DatasetError(
      dir,
      'no such folder',
      'the label of a depth clip is its scene folder (holding depth/<frame>.png)',
    );
  }
  return dir;
}

/**
 * The depth PNGs of a scene (`dir/depth/*.png`, or `dir/*.png`), sorted by the frame number in
 * their names (`0.png`, `1.png`, …, `10.png`; also `frame-000010.png` and the like).
 *
 * @throws DatasetError when there are none, a name has no number, or two share one.
 */
export async function listDepthFrames(dir: string): Promise<string[]> {
  const folder = await depthFolder(dir);
  const names = (await readdir(folder)).filter((n) => n.toLowerCase().endsWith('.png') && !n.startsWith('.'));
  if (names.length === 0) {
    throw new DatasetError(folder, 'no depth PNGs', 'export ScanNet depth as depth/<frame>.png (16-bit, millimetres)');
  }
  const numbered = names.map((n) => {
    const m = /(\d+)/.exec(n);
    if (m === null) {
      throw new DatasetError(join(folder, n), 'the name holds no frame number', 'name depth frames <frame>.png');
    }
    return { n, i: Number(m[1]) };
  });
  numbered.sort((a, b) => a.i - b.i);
  for (let k = 1; k < numbered.length; k++) {
    if (numbered[k]!.i === numbered[k - 1]!.i) {
      throw new DatasetError(
        folder,
        `${numbered[k - 1]!.n} and ${numbered[k]!.n} have the same frame number`,
        'keep one file per frame',
      );
    }
  }
  return numbered.map((x) => join(folder, x.n));
}

/**
 * Reads every depth frame of a scene into metres.
 *
 * @throws DatasetError when a frame is not a 16-bit greyscale PNG or the sizes differ.
 */
export async function readDepthClip(dir: string): Promise<DepthClip> {
  const files = await listDepthFrames(dir);
  let width = 0;
  let height = 0;
  let metres = new Float32Array(0);
  for (let t = 0; t < files.length; t++) {
    const img = await readGray16Png(files[t]!);
    if (t === 0) {
      width = img.width;
      height = img.height;
      metres = new Float32Array(files.length * width * height);
    } else if (img.width !== width || img.height !== height) {
      throw new DatasetError(
        files[t]!,
        `${img.width}×${img.height}, the first frame is ${width}×${height}`,
        'every depth frame of a clip must have the same size',
      );
    }
    const off = t * width * height;
    for (let i = 0; i < img.values.length; i++) {
      metres[off + i] = img.values[i]! / DEPTH_SHIFT;
    }
  }
  return { width, height, numFrames: files.length, metres, files };
}

/** Metres to ScanNet depth units: round(z·1000), 0 for no depth (z ≤ 0 or not finite), at most 65535. */
export function toDepthUnits(z: number): number {
  if (!(z > 0) || !Number.isFinite(z)) {
    return 0;
  }
  return Math.min(65_535, Math.max(1, Math.round(z * DEPTH_SHIFT)));
}

/**
 * Writes `depth/<t>.png` under `sceneDir` for each frame of `metres` (`[T, H, W]`), frames
 * numbered from 0 as ScanNet's exporter does.
 */
export async function writeDepthFrames(
  sceneDir: string,
  metres: ArrayLike<number>,
  numFrames: number,
  height: number,
  width: number,
): Promise<void> {
  const n = width * height;
  for (let t = 0; t < numFrames; t++) {
    const mm = new Uint16Array(n);
    for (let i = 0; i < n; i++) {
      mm[i] = toDepthUnits(metres[t * n + i]!);
    }
    await writeGray16Png(join(sceneDir, 'depth', `${t}.png`), mm, width, height);
  }
}

/** Pixel intrinsics. */
export interface Intrinsics {
  fx: number;
  fy: number;
  cx: number;
  cy: number;
}

/** ScanNet's 4×4 intrinsic matrix text (`%f`, space-separated rows). */
export function formatIntrinsicMatrix(k: Intrinsics): string {
  const f = (x: number): string => x.toFixed(6);
  return (
    [
      [k.fx, 0, k.cx, 0],
      [0, k.fy, k.cy, 0],
      [0, 0, 1, 0],
      [0, 0, 0, 1],
    ]
      .map((r) => r.map(f).join(' '))
      .join('\n') + '\n'
  );
}

/** Writes {@link formatIntrinsicMatrix}'s text atomically. */
export async function writeIntrinsicMatrix(file: string, k: Intrinsics): Promise<void> {
  await writeBytesAtomic(file, formatIntrinsicMatrix(k));
}

/**
 * Reads a ScanNet intrinsic matrix file (4×4 or 3×3, whitespace-separated).
 *
 * @throws DatasetError when it is not a 3×3 or 4×4 matrix of numbers.
 */
export async function readIntrinsicMatrix(file: string): Promise<Intrinsics> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    throw new DatasetError(file, 'cannot read the intrinsics', 'check the path');
  }
  const v = text.trim().split(/\s+/).map(Number);
  const size = v.length === 16 ? 4 : v.length === 9 ? 3 : 0;
  if (size === 0 || v.some((x) => !Number.isFinite(x))) {
    throw new DatasetError(
      file,
      `${v.length} values in ${basename(file)}`,
      'write a 4×4 (or 3×3) matrix of numbers, one row per line',
    );
  }
  return { fx: v[0]!, fy: v[size + 1]!, cx: v[2]!, cy: v[size + 2]! };
}
