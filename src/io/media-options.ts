// loadClip's types and options: the decoded clip, the pixel converter (in-process, or the decode
// pool's workers), the options with their defaults and checks, and where the sampled window starts
// (deterministic for `start: 'random'`: a pure function of the seed and the item's source).

import { resizeCropBilinear, rgb24ToFloat } from './convert.js';
import type { FfmpegInfo } from './ffmpeg.js';

/** A decoded clip: float32 RGB in [0, 1], channels-last, row-major. */
export interface Clip {
  /** `T * H * W * 3` values. */
  data: Float32Array;
  /** [T, H, W, 3]. */
  shape: [number, number, number, 3];
  /** Source frame index of each output frame (repeats when a short video was padded; all 0 for an image). */
  framesUsed: number[];
  /** Non-fatal problems, e.g. "video has 9 frames; needed 17 at stride 2; repeated the last frame". */
  warnings: string[];
  /** Frame count of the source, when it was determined (decodable frames for a video). */
  sourceFrames?: number;
  /**
   * Videos: the presentation timestamp in seconds of each output frame (as ffmpeg reports it, so an
   * MPEG-TS file's start offset is included; null where the stream has none). Absent for images and .npy.
   */
  pts?: (number | null)[];
}

/** Where the sampled window starts. */
export type ClipStart = 'first' | 'center' | 'random';

/** Converts decoded pixels to float clips; the decode pool supplies a worker-backed one. */
export interface ClipConverter {
  /** See {@link rgb24ToFloat}. */
  rgb24ToFloat(bytes: Uint8Array, frameSize: number, frameMap: readonly number[]): Promise<Float32Array>;
  /** See {@link resizeCropBilinear}; `shape` is [T, H, W, C]. */
  resizeCrop(
    src: Float32Array,
    shape: readonly [number, number, number, number],
    outH: number,
    outW: number,
  ): Promise<Float32Array>;
}

/** Converter running in the calling thread. */
export const inProcessConverter: ClipConverter = {
  rgb24ToFloat: (bytes, frameSize, frameMap) => Promise.resolve(rgb24ToFloat(bytes, frameSize, frameMap)),
  resizeCrop: (src, s, outH, outW) => Promise.resolve(resizeCropBilinear(src, s[0], s[1], s[2], s[3], outH, outW)),
};

/** Options for {@link loadClip}. */
export interface LoadClipOptions {
  /** Frames per clip (default 17). */
  frames?: number;
  /** Source-frame step between sampled frames (default 1). */
  stride?: number;
  /** Window start: first frame (default), centred in the video, or random (deterministic, see `seed`). */
  start?: ClipStart;
  /** Seed for `start: 'random'`; the start is a pure function of the seed and the item's `source` (default 0). */
  seed?: number;
  /**
   * Output [H, W]: frames are scaled so they cover H x W (for a square target: the shorter side becomes the target),
   * then centre-cropped. Videos/images use ffmpeg's `scale` (flags `scaleFlags`) + `crop`; .npy clips a bilinear
   * resize in TypeScript. Omitted: native size.
   */
  size?: readonly [number, number];
  /** Frames returned for a still image: the image repeated this many times (default `frames`; 1 for a single frame). */
  imageFrames?: number;
  /** swscale flags for video/image resizing (default `area`: box-filter downscaling, bilinear upscaling). */
  scaleFlags?: string;
  /**
   * With `start: 'first'`, also read the whole file (a packet pass run alongside the decode) so that a file
   * truncated or damaged after the sampled frames is reported too (default false: only the needed frames are read).
   * `center` and `random` always read the whole file to count frames, and always report truncation.
   */
  verify?: boolean;
  /** ffmpeg decoder threads per process (default 1: the decode pool parallelises across processes). */
  threads?: number;
  /** The ffmpeg to use (default {@link findFfmpeg}). */
  ffmpeg?: FfmpegInfo;
  /** Cancels the decode (the ffmpeg process is killed and the promise rejects with the abort reason). */
  signal?: AbortSignal;
  /** Per-ffmpeg-run time limit in ms (default 300 000); a run that hits it fails as corrupt. */
  timeoutMs?: number;
  /** Pixel converter (default in-process). */
  converter?: ClipConverter;
}

const DEFAULT_FRAMES = 17;

/** {@link LoadClipOptions} with every default filled in and every value checked. */
export interface Resolved {
  frames: number;
  stride: number;
  start: ClipStart;
  seed: number;
  size: readonly [number, number] | undefined;
  imageFrames: number;
  verify: boolean;
  scaleFlags: string;
  threads: number;
  timeoutMs: number;
  converter: ClipConverter;
  signal: AbortSignal | undefined;
}

function positiveInt(name: string, v: number): number {
  if (!Number.isInteger(v) || v < 1) {
    throw new RangeError(`loadClip: ${name} must be a positive integer, got ${v}`);
  }
  return v;
}

export function resolveOptions(o: LoadClipOptions): Resolved {
  const frames = positiveInt('frames', o.frames ?? DEFAULT_FRAMES);
  if (o.size !== undefined) {
    positiveInt('size[0]', o.size[0]);
    positiveInt('size[1]', o.size[1]);
  }
  if (o.scaleFlags !== undefined && !/^[a-z_+]+$/.test(o.scaleFlags)) {
    throw new RangeError(`loadClip: bad scaleFlags '${o.scaleFlags}'`);
  }
  return {
    frames,
    stride: positiveInt('stride', o.stride ?? 1),
    start: o.start ?? 'first',
    seed: o.seed ?? 0,
    size: o.size,
    imageFrames: positiveInt('imageFrames', o.imageFrames ?? frames),
    verify: o.verify ?? false,
    scaleFlags: o.scaleFlags ?? 'area',
    threads: positiveInt('threads', o.threads ?? 1),
    timeoutMs: o.timeoutMs ?? 300_000,
    converter: o.converter ?? inProcessConverter,
    signal: o.signal,
  };
}

/** 32-bit FNV-1a hash. */
function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

/** First output of mulberry32 seeded with `seed`, in [0, 1). */
function unitRandom(seed: number): number {
  let t = (seed + 0x6d2b79f5) >>> 0;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}

/**
 * The first source frame of the sampled window. `n` is the source frame count, `span` the frames the window covers.
 * Exposed for tests and for callers that want to report the sampling plan.
 */
export function windowStart(start: ClipStart, n: number, span: number, seed: number, source: string): number {
  if (n <= span) {
    return 0;
  }
  switch (start) {
    case 'first':
      return 0;
    case 'center':
      return Math.floor((n - span) / 2);
    case 'random':
      return Math.floor(unitRandom(fnv1a(`${seed}\u0000${source}`)) * (n - span + 1));
  }
}

export function shortWarning(what: string, n: number, o: Resolved): string {
  return `${what} has ${n} frame${n === 1 ? '' : 's'}; needed ${o.frames} at stride ${o.stride}; repeated the last frame`;
}
