// Decoding media inputs (videos, images, .npy clips) into float32 clips [T, H, W, 3] in [0, 1].

import { open, stat } from 'node:fs/promises';
import { extname } from 'node:path';
import { resizeCropBilinear, rgb24ToFloat, u8ToUnit, f16ToF32 } from './convert.js';
import {
  errorLines,
  FFMPEG_INSTALL_HINT,
  findFfmpeg,
  FfmpegNotFoundError,
  runFfmpeg,
  type FfmpegInfo,
  type FfmpegLogLine,
  type FfmpegResult,
} from './ffmpeg.js';
import { IMAGE_EXTENSIONS, kindOf, NPY_EXTENSIONS, VIDEO_EXTENSIONS, type InputItem } from './inputs.js';
import { isMediaError, MediaError, type MediaErrorReason } from './media-error.js';
import { NpyFormatError, openNpyClip, type NpyClipFile } from './npy-clip.js';

export { findFfmpeg, type FfmpegInfo } from './ffmpeg.js';
export { MediaError, isMediaError, type MediaErrorReason } from './media-error.js';

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

/** Stream facts found by {@link probeVideo}. */
export interface VideoInfo {
  /**
   * Frame count: the non-empty packets of the first video stream (an AVI stores a dropped or repeated
   * frame as an empty packet, which decodes to nothing), or the decoded frames with `count: 'decode'`.
   */
  frames: number;
  /** Every packet of the first video stream, empty ones included (= `frames` with `count: 'decode'`). */
  packets: number;
  /** Frame rate (the stream's average rate, else its tbr); 0 when unknown. */
  fps: number;
  width: number;
  height: number;
  /** ffmpeg codec name, e.g. `h264`, `vp9`, `mjpeg`. */
  codec: string;
  /** Pixel format, e.g. `yuv420p` (empty when unknown). */
  pixFmt: string;
  /** Container duration in seconds, when known (may include other streams). */
  durationSec?: number;
  /** True when ffmpeg's pass hit the end of the data early (read errors, partial packets). */
  truncated: boolean;
  /** Error lines ffmpeg printed during the pass. */
  errors: string[];
}

/** Options for {@link probeVideo}. */
export interface ProbeOptions {
  /** `packets` (default): fast `-c copy -f null` pass; `decode`: decode every frame (slow, exact for odd codecs). */
  count?: 'packets' | 'decode';
  ffmpeg?: FfmpegInfo;
  signal?: AbortSignal;
  timeoutMs?: number;
}

const DEFAULT_FRAMES = 17;

// ---------------------------------------------------------------------------------------------------------------
// File checks and sniffing

type Sniffed = 'mp4' | 'matroska' | 'avi' | 'png' | 'jpeg' | 'npy' | 'other-media' | 'text' | 'binary';

interface Preflight {
  size: number;
  sniffed: Sniffed;
}

const SUPPORTED = [
  ...['mp4', 'm4v', 'mov', 'mkv', 'webm', 'avi', 'mpg', 'ts', 'm2ts', '3gp', 'flv', 'wmv', 'ogv', 'gif'],
  `… (${VIDEO_EXTENSIONS.length} video formats)`,
  ...['png', 'jpg', 'webp', 'bmp', 'tif'],
  `… (${IMAGE_EXTENSIONS.length} image formats)`,
  ...NPY_EXTENSIONS.map((e) => e.slice(1)),
].join(', ');

function fail(item: InputItem, reason: MediaErrorReason, problem: string, action: string, detail?: string): MediaError {
  return new MediaError({ path: item.path, source: item.source, reason, problem, action, detail });
}

async function preflight(item: InputItem): Promise<Preflight> {
  let size: number;
  try {
    const st = await stat(item.path);
    if (st.isDirectory()) {
      throw fail(item, 'unreadable', 'is a directory that could not be listed', 'check its permissions or remove it');
    }
    if (!st.isFile()) {
      throw fail(item, 'unsupported', 'is not a regular file', 'pass a video, image or .npy file');
    }
    size = st.size;
  } catch (e) {
    if (isMediaError(e)) {
      throw e;
    }
    throw fsError(item, e);
  }
  if (item.kind === 'unknown') {
    const ext = extname(item.path);
    throw fail(
      item,
      'unsupported',
      ext === ''
        ? 'has no file extension, so its type is unknown'
        : `unsupported file type '${ext}' (supported: ${SUPPORTED})`,
      'convert it to a supported format or remove it',
    );
  }
  let head: Uint8Array;
  try {
    const fh = await open(item.path, 'r');
    try {
      head = new Uint8Array(Math.min(size, 512));
      await fh.read(head, 0, head.length, 0);
    } finally {
      await fh.close();
    }
  } catch (e) {
    throw fsError(item, e);
  }
  if (size === 0) {
    throw fail(item, 'empty', 'the file is empty (0 bytes)', 're-copy or re-encode it, or remove it');
  }
  const sniffed = sniff(head);
  if (sniffed === 'text') {
    const what = item.kind === 'video' ? 'a video' : item.kind === 'image' ? 'an image' : 'a .npy array';
    throw fail(
      item,
      'not-media',
      `not ${what} (the file holds text, not ${extname(item.path).slice(1).toUpperCase()} data)`,
      'remove it or fix its name',
    );
  }
  return { size, sniffed };
}

function fsError(item: InputItem, e: unknown): MediaError {
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'ENOENT' || code === 'ENOTDIR') {
    return fail(item, 'missing', 'no such file', 'check the path or remove it from the inputs');
  }
  if (code === 'EACCES' || code === 'EPERM') {
    return fail(item, 'unreadable', 'permission denied (the file cannot be read)', 'fix its permissions or remove it');
  }
  const msg = e instanceof Error ? e.message : String(e);
  return fail(item, 'unreadable', `cannot be read (${msg})`, 'check the file or remove it');
}

function sniff(b: Uint8Array): Sniffed {
  const ascii = (from: number, to: number): string => String.fromCharCode(...b.subarray(from, to));
  if (b.length >= 8 && ['ftyp', 'moov', 'mdat', 'free', 'skip', 'wide', 'pnot', 'uuid'].includes(ascii(4, 8))) {
    return 'mp4';
  }
  if (b[0] === 0x1a && b[1] === 0x45 && b[2] === 0xdf && b[3] === 0xa3) {
    return 'matroska';
  }
  if (ascii(0, 4) === 'RIFF' && ascii(8, 12) === 'AVI ') {
    return 'avi';
  }
  if (b[0] === 0x89 && ascii(1, 4) === 'PNG') {
    return 'png';
  }
  if (b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) {
    return 'jpeg';
  }
  if (b[0] === 0x93 && ascii(1, 6) === 'NUMPY') {
    return 'npy';
  }
  if (
    ['GIF8', 'OggS', 'RIFF', '.RMF', 'DKIF', 'SDPX', 'XPDS', '\x8aMNG'].includes(ascii(0, 4)) ||
    ['FLV'].includes(ascii(0, 3)) ||
    (ascii(0, 2) === 'BM' && b[6] === 0 && b[7] === 0 && b[8] === 0 && b[9] === 0) || // BMP (reserved fields 0)
    ['II*\u0000', 'MM\u0000*'].includes(ascii(0, 4)) || // TIFF
    ascii(0, 9) === 'YUV4MPEG2' ||
    ascii(0, 6) === 'nut/mu' ||
    /^P[1-7]\s/.test(ascii(0, 3)) ||
    (b[0] === 0x30 && b[1] === 0x26 && b[2] === 0xb2 && b[3] === 0x75) || // ASF (wmv)
    (b[0] === 0x76 && b[1] === 0x2f && b[2] === 0x31 && b[3] === 0x01) || // OpenEXR
    (b[0] === 0 && b[1] === 0 && b[2] === 0 && b[3] === 0x0c && ascii(4, 8) === 'jP  ') || // JPEG 2000
    (b[0] === 0 && b[1] === 0 && b[2] === 1 && (b[3] === 0xba || b[3] === 0xb3)) || // MPEG-PS, MPEG video
    (b[0] === 0 && b[1] === 0 && (b[2] === 1 || (b[2] === 0 && b[3] === 1))) || // H.264/H.265 Annex B
    (b[0] === 0x47 && (b.length < 189 || b[188] === 0x47)) || // MPEG-TS
    (b[4] === 0x47 && (b.length < 197 || b[196] === 0x47)) // M2TS (4-byte timestamp before each packet)
  ) {
    return 'other-media';
  }
  // Text: no NUL bytes and (almost) only printable ASCII, whitespace or UTF-8 sequences.
  let printable = 0;
  for (const c of b) {
    if (c === 0) {
      return 'binary';
    }
    if ((c >= 0x20 && c < 0x7f) || c === 0x09 || c === 0x0a || c === 0x0d || c >= 0x80) {
      printable++;
    }
  }
  return printable >= b.length * 0.97 ? 'text' : 'binary';
}

// ---------------------------------------------------------------------------------------------------------------
// ffmpeg failure classification

const TRUNCATION_RE =
  /partial file|Read error|End of file|EOI missing|truncat|overread|unexpected end|Packet corrupt|corrupt input packet|Invalid NAL unit size|error reading header/i;

function summarize(lines: readonly string[], item: InputItem): string {
  const strip = (s: string): string => s.replace(`file:${item.path}: `, '').replace(`${item.path}: `, '').trim();
  const uniq = [...new Set(lines.map(strip))].filter((s) => s !== '' && !/^Conversion failed/.test(s));
  return uniq.slice(0, 3).join('; ');
}

function classifyFailure(item: InputItem, pre: Preflight, log: readonly FfmpegLogLine[], frames: number): MediaError {
  const errs = errorLines(log);
  const all = log.map((l) => l.text).join('\n');
  const detail = errs.join('\n');
  const brief = summarize(errs, item);
  const fix = 're-encode it or remove it';
  if (/No such file or directory/.test(all)) {
    return fail(item, 'missing', 'no such file', 'check the path or remove it from the inputs', detail);
  }
  if (/Permission denied/.test(all)) {
    return fail(item, 'unreadable', 'permission denied (the file cannot be read)', 'fix its permissions or remove it');
  }
  if (/moov atom not found/.test(all)) {
    const why =
      pre.sniffed === 'mp4'
        ? 'moov atom not found: the file is truncated or was never finalized'
        : `moov atom not found: the file is truncated or not an ${extname(item.path).slice(1).toUpperCase()}`;
    return fail(
      item,
      'truncated',
      `ffmpeg could not decode it (${why})`,
      're-copy or re-encode it, or remove it',
      detail,
    );
  }
  if (/matches no streams/.test(all)) {
    return fail(item, 'no-frames', 'no video stream in the file', 'pass a file with video or remove it', detail);
  }
  if (
    frames === 0 &&
    /Cannot determine format of input stream|unspecified pixel format|Output file is empty/.test(all)
  ) {
    return fail(item, 'no-frames', 'zero decodable frames (the video stream is empty)', fix, detail);
  }
  if (TRUNCATION_RE.test(detail)) {
    const got = frames > 0 ? `, after ${frames} frame${frames === 1 ? '' : 's'}` : '';
    return fail(
      item,
      'truncated',
      `the file is truncated or damaged (ffmpeg stopped${got}: ${brief})`,
      're-copy or re-encode it, or remove it',
      detail,
    );
  }
  if (/Invalid data found when processing input/.test(all) && frames === 0) {
    if (pre.sniffed === 'binary') {
      return fail(
        item,
        'not-media',
        `not a ${item.kind === 'image' ? 'readable image' : 'readable video'} (ffmpeg does not recognise its format: ${brief})`,
        'remove it or convert it to a supported format',
        detail,
      );
    }
    return fail(item, 'corrupt', `ffmpeg could not decode it (${brief})`, fix, detail);
  }
  if (frames === 0 && errs.length === 0) {
    return fail(item, 'no-frames', 'zero decodable frames', fix, detail);
  }
  return fail(item, 'corrupt', `ffmpeg could not decode it (${brief || 'no error message'})`, fix, detail);
}

async function ffmpegFor(item: InputItem, ff: FfmpegInfo | undefined): Promise<FfmpegInfo> {
  if (ff !== undefined) {
    return ff;
  }
  try {
    return await findFfmpeg();
  } catch (e) {
    throw noFfmpeg(item, e);
  }
}

function noFfmpeg(item: InputItem, e: unknown): MediaError {
  const why =
    e instanceof FfmpegNotFoundError
      ? `no working ffmpeg (tried ${e.tried.join('; ')})`
      : `ffmpeg could not be started (${e instanceof Error ? e.message : String(e)})`;
  return fail(item, 'no-ffmpeg', `cannot be decoded: ${why}`, FFMPEG_INSTALL_HINT);
}

async function run(
  item: InputItem,
  ff: FfmpegInfo,
  args: string[],
  o: { signal?: AbortSignal; timeoutMs?: number; expectBytes?: number },
): Promise<FfmpegResult> {
  let r: FfmpegResult;
  try {
    r = await runFfmpeg(ff, args, o);
  } catch (e) {
    if (o.signal?.aborted) {
      throw e;
    }
    throw noFfmpeg(item, e);
  }
  const received = r.log.map((l) => /received signal (\d+)/.exec(l.text)).find((m) => m !== null);
  if (!r.timedOut && (r.signal !== null || received)) {
    const sig = r.signal ?? `signal ${received![1]}`;
    throw fail(item, 'interrupted', `ffmpeg was stopped by ${sig} while decoding it`, 'run again to decode it');
  }
  return r;
}

function timedOut(item: InputItem, ms: number): MediaError {
  return fail(
    item,
    'corrupt',
    `ffmpeg did not finish within ${Math.round(ms / 1000)} s (the file may be damaged or very large)`,
    'raise the time limit, re-encode it, or remove it',
  );
}

// ---------------------------------------------------------------------------------------------------------------
// Probing

function inputUrl(path: string): string {
  // The `file:` prefix stops ffmpeg from reading `name:rest` as a protocol.
  return `file:${path}`;
}

function parseDims(line: string): { width: number; height: number } | undefined {
  const m = /, (\d{1,5})x(\d{1,5})(?:[ ,]|$)/.exec(line);
  return m ? { width: Number(m[1]), height: Number(m[2]) } : undefined;
}

function parseInputStream(
  log: readonly FfmpegLogLine[],
): Omit<VideoInfo, 'frames' | 'packets' | 'truncated' | 'errors'> | undefined {
  let durationSec: number | undefined;
  for (const { text } of log) {
    if (/^Output #\d/.test(text)) {
      break;
    }
    const d = /^\s*Duration: (\d+):(\d+):(\d+(?:\.\d+)?)/.exec(text);
    if (d) {
      durationSec = Number(d[1]) * 3600 + Number(d[2]) * 60 + Number(d[3]);
    }
    const m = /^\s*Stream #\d+:\d+.*?: Video: (\w+)(.*)$/.exec(text);
    if (m) {
      // Split at top-level commas: "(profile) (tag), yuv420p(tv, bt709), 160x120 [SAR 1:1 DAR 4:3], 24 fps, ...".
      const parts = m[2]!.split(/,(?![^(]*\))/).map((p) => p.trim());
      const dims = parts.map((p) => /^(\d+)x(\d+)/.exec(p)).find((x) => x !== null);
      const fps =
        parts.map((p) => /^([\d.]+)(k?) fps$/.exec(p)).find((x) => x !== null) ??
        parts.map((p) => /^([\d.]+)(k?) tbr$/.exec(p)).find((x) => x !== null);
      return {
        codec: m[1]!,
        pixFmt: (parts[1] ?? '').replace(/\(.*$/, ''),
        width: dims ? Number(dims[1]) : 0,
        height: dims ? Number(dims[2]) : 0,
        fps: fps ? Number(fps[1]) * (fps[2] === 'k' ? 1000 : 1) : 0,
        ...(durationSec !== undefined ? { durationSec } : {}),
      };
    }
  }
  return undefined;
}

function lastFrameCount(log: readonly FfmpegLogLine[]): number | undefined {
  for (let i = log.length - 1; i >= 0; i--) {
    const m = /frame=\s*(\d+)/.exec(log[i]!.text);
    if (m) {
      return Number(m[1]);
    }
  }
  return undefined;
}

/**
 * Probes a video with ffmpeg (there is no ffprobe): stream facts plus the exact frame count, by a fast
 * `-c copy -f null` pass over the packets (default) or by decoding every frame (`count: 'decode'`).
 *
 * @param item an {@link InputItem} or a path.
 * @throws MediaError when the file is missing, unreadable, not media, or holds no video frame.
 */
export async function probeVideo(item: InputItem | string, opts: ProbeOptions = {}): Promise<VideoInfo> {
  const it = toItem(item);
  const pre = await preflight(it);
  const ff = await ffmpegFor(it, opts.ffmpeg);
  return probeWith(it, pre, ff, opts);
}

async function probeWith(item: InputItem, pre: Preflight, ff: FfmpegInfo, opts: ProbeOptions): Promise<VideoInfo> {
  const decode = opts.count === 'decode';
  // Packets: one framecrc line per packet ("stream, dts, pts, duration, size, crc"), sizes included.
  const codecArgs = decode ? ['-vsync', '0', '-f', 'null'] : ['-c', 'copy', '-f', 'framecrc'];
  const timeoutMs = opts.timeoutMs ?? 300_000;
  const r = await run(item, ff, ['-i', inputUrl(item.path), '-map', '0:v:0', ...codecArgs, '-'], {
    ...(opts.signal ? { signal: opts.signal } : {}),
    timeoutMs,
  });
  if (r.timedOut) {
    throw timedOut(item, timeoutMs);
  }
  const stream = parseInputStream(r.log);
  let frames: number;
  let packets: number;
  if (decode) {
    frames = lastFrameCount(r.log) ?? 0;
    packets = frames;
  } else {
    const sizes = packetSizes(r.stdout.toString('latin1'));
    packets = sizes.length;
    frames = sizes.filter((n) => n > 0).length;
  }
  if (stream === undefined || r.code !== 0 || frames === 0) {
    throw classifyFailure(item, pre, r.log, 0);
  }
  const errors = errorLines(r.log);
  return { ...stream, frames, packets, truncated: errors.some((e) => TRUNCATION_RE.test(e)), errors };
}

/** Packet sizes from ffmpeg's framecrc output (lines "0, dts, pts, duration, size, 0xcrc"). */
function packetSizes(text: string): number[] {
  const out: number[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) {
      continue;
    }
    const size = Number(line.split(',')[4]);
    if (Number.isFinite(size)) {
      out.push(size);
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// Decoding

function toItem(item: InputItem | string): InputItem {
  if (typeof item !== 'string') {
    return item;
  }
  return { source: item, path: item, kind: kindOf(item) };
}

interface Resolved {
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

function resolveOptions(o: LoadClipOptions): Resolved {
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

function shortWarning(what: string, n: number, o: Resolved): string {
  return `${what} has ${n} frame${n === 1 ? '' : 's'}; needed ${o.frames} at stride ${o.stride}; repeated the last frame`;
}

function scaleFilter(o: Resolved): string {
  const flags = `${o.scaleFlags}+accurate_rnd+full_chroma_int`;
  if (o.size === undefined) {
    return `scale=flags=${flags},format=rgb24`;
  }
  const [h, w] = o.size;
  return `scale=${w}:${h}:force_original_aspect_ratio=increase:flags=${flags},format=rgb24,crop=${w}:${h}`;
}

interface Decoded {
  bytes: Uint8Array;
  count: number;
  height: number;
  width: number;
  /** Presentation time (s) of each decoded frame (videos; null where unknown). */
  pts: (number | null)[];
  log: FfmpegLogLine[];
  errors: string[];
}

const SHOWINFO_RE = /^n:\s*\d+\s+pts:\s*(\S+)\s+pts_time:(\S+)/;
const TIME_BASE_RE = /^config in time_base: (\d+)\/(\d+)/;

/**
 * The timestamp in seconds of every frame the `showinfo` filter saw, in order: pts × time base
 * (full precision; ffmpeg prints pts_time with 6 digits), null where a frame has no pts.
 */
function showinfoTimes(log: readonly FfmpegLogLine[]): (number | null)[] {
  const out: (number | null)[] = [];
  let tb: [number, number] | undefined;
  for (const { text } of log) {
    const b = TIME_BASE_RE.exec(text);
    if (b && tb === undefined && Number(b[2]) > 0) {
      tb = [Number(b[1]), Number(b[2])];
    }
    const m = SHOWINFO_RE.exec(text);
    if (m) {
      const pts = Number(m[1]);
      const v = Number.isFinite(pts) && tb ? (pts * tb[0]) / tb[1] : Number(m[2]);
      out.push(Number.isFinite(v) ? v : null);
    }
  }
  return out;
}

async function decodeFrames(
  item: InputItem,
  pre: Preflight,
  ff: FfmpegInfo,
  o: Resolved,
  first: number,
  count: number,
  image: boolean,
  allowEmpty = false,
): Promise<Decoded> {
  const filters: string[] = [];
  if (!image && (first > 0 || o.stride > 1)) {
    const last = first + (count - 1) * o.stride;
    filters.push(`select=between(n\\,${first}\\,${last})*not(mod(n-${first}\\,${o.stride}))`);
  }
  if (!image) {
    filters.push('showinfo'); // logs each sampled frame's timestamp
  }
  filters.push(scaleFilter(o));
  const input = image ? ['-f', 'image2', '-pattern_type', 'none'] : [];
  const args = [
    '-threads',
    String(o.threads),
    ...input,
    '-i',
    inputUrl(item.path),
    '-map',
    '0:v:0',
    '-an',
    '-sn',
    '-dn',
    '-filter_threads',
    '1',
    '-vf',
    filters.join(','),
    '-vsync',
    '0',
    '-frames:v',
    String(count),
    '-f',
    'rawvideo',
    '-pix_fmt',
    'rgb24',
    'pipe:1',
  ];
  const expectBytes = o.size !== undefined ? count * o.size[0] * o.size[1] * 3 : undefined;
  const r = await run(item, ff, args, {
    ...(o.signal ? { signal: o.signal } : {}),
    timeoutMs: o.timeoutMs,
    ...(expectBytes !== undefined ? { expectBytes } : {}),
  });
  if (r.timedOut) {
    throw timedOut(item, o.timeoutMs);
  }
  let dims: { width: number; height: number } | undefined;
  if (o.size !== undefined) {
    dims = { height: o.size[0], width: o.size[1] };
  } else {
    let inOutput = false;
    for (const { text } of r.log) {
      inOutput ||= /^Output #\d/.test(text);
      if (inOutput && /Video: rawvideo/.test(text)) {
        dims = parseDims(text.replace(/^.*?rgb24/, ''));
        break;
      }
    }
  }
  const errors = errorLines(r.log);
  if (allowEmpty && r.code === 0 && r.stdout.length === 0 && errors.length === 0) {
    // The window starts past the last decodable frame: the caller counts them and samples again.
    return { bytes: r.stdout, count: 0, height: 0, width: 0, pts: [], log: r.log, errors };
  }
  if (dims === undefined || r.stdout.length === 0) {
    throw classifyFailure(item, pre, r.log, 0);
  }
  const frameSize = dims.width * dims.height * 3;
  const got = Math.floor(r.stdout.length / frameSize);
  if (got * frameSize !== r.stdout.length) {
    throw fail(
      item,
      'internal',
      `ffmpeg produced ${r.stdout.length} bytes, not a whole number of ${dims.width}x${dims.height} frames (did the frame size change mid-stream?)`,
      'pass a `size` to force one frame size, or re-encode it',
      errors.join('\n'),
    );
  }
  return {
    bytes: r.stdout,
    count: got,
    height: dims.height,
    width: dims.width,
    pts: image ? [] : showinfoTimes(r.log),
    log: r.log,
    errors,
  };
}

/**
 * Decodes one input into a float clip [T, H, W, 3] in [0, 1].
 *
 * Frame sampling takes source frames `s, s + stride, ...` (T = `frames`); `s` follows `start`. A source shorter than
 * the window repeats its last frame and adds a warning. Videos decode only what is needed (an ffmpeg `select` by
 * frame number, stopping after the last needed frame). Images give `imageFrames` copies of the one frame. `.npy`
 * clips ([T, H, W, 3] or [H, W, 3]; float32/float16/float64 in [0, 1] or uint8 0..255) are sampled the same way.
 *
 * @param item an {@link InputItem} (from {@link expandInputs}) or a path.
 * @throws MediaError for a bad input (missing, unreadable, unsupported, not media, truncated, corrupt, no frames);
 *   RangeError for invalid options; the abort reason when `signal` aborts.
 */
export async function loadClip(item: InputItem | string, opts: LoadClipOptions = {}): Promise<Clip> {
  const it = toItem(item);
  const o = resolveOptions(opts);
  const pre = await preflight(it);
  switch (it.kind) {
    case 'npy':
      return loadNpy(it, o);
    case 'image':
      return loadImage(it, pre, await ffmpegFor(it, opts.ffmpeg), o);
    case 'video':
      return loadVideo(it, pre, await ffmpegFor(it, opts.ffmpeg), o);
    case 'unknown':
      throw fail(it, 'unsupported', 'unsupported file type', 'remove it'); // preflight already rejects these
  }
}

async function loadImage(item: InputItem, pre: Preflight, ff: FfmpegInfo, o: Resolved): Promise<Clip> {
  const d = await decodeFrames(item, pre, ff, o, 0, 1, true);
  if (d.count === 0) {
    throw classifyFailure(item, pre, d.log, 0);
  }
  const frameMap = new Array<number>(o.imageFrames).fill(0);
  const data = await o.converter.rgb24ToFloat(d.bytes, d.width * d.height * 3, frameMap);
  const warnings = d.errors.length > 0 ? [`ffmpeg reported errors while decoding: ${summarize(d.errors, item)}`] : [];
  return {
    data,
    shape: [o.imageFrames, d.height, d.width, 3],
    framesUsed: frameMap,
    warnings,
    sourceFrames: 1,
  };
}

async function loadVideo(item: InputItem, pre: Preflight, ff: FfmpegInfo, o: Resolved): Promise<Clip> {
  const span = (o.frames - 1) * o.stride + 1;
  const probeOpts: ProbeOptions = { ffmpeg: ff, timeoutMs: o.timeoutMs, ...(o.signal ? { signal: o.signal } : {}) };
  /** The window over `n` source frames: its first frame and how many of its frames exist. */
  const plan = (n: number): { first: number; wanted: number } => {
    const first = windowStart(o.start, n, span, o.seed, item.source);
    return { first, wanted: Math.min(o.frames, Math.floor((n - 1 - first) / o.stride) + 1) };
  };
  const warnings: string[] = [];
  let info: VideoInfo | undefined;
  let first = 0;
  let wanted = o.frames; // frames that exist in the source at the chosen indices
  if (o.start !== 'first') {
    info = await probeWith(item, pre, ff, probeOpts);
    if (info.truncated) {
      throw truncatedError(item, info.frames, info.errors);
    }
    ({ first, wanted } = plan(info.frames));
  }
  let check: Promise<VideoInfo> | undefined;
  if (info === undefined && o.verify) {
    check = probeWith(item, pre, ff, probeOpts);
    check.catch(() => undefined); // awaited below; a decode failure may be reported first
  }
  let d = await decodeFrames(item, pre, ff, o, first, wanted, false, info !== undefined);
  if (check !== undefined) {
    info = await check;
    if (info.truncated) {
      throw truncatedError(item, info.frames, info.errors);
    }
  }
  if (o.start !== 'first' && info !== undefined && d.count < wanted && d.errors.length === 0) {
    // The container holds fewer decodable frames than packets (e.g. a cinepak AVI listing 444 frames of
    // which 68 decode): count the decodable frames and sample the window from those.
    const exact = await probeWith(item, pre, ff, { ...probeOpts, count: 'decode' });
    warnings.push(
      `the container has ${info.packets} video packets but ${exact.frames} decodable frames; sampled from those`,
    );
    info = { ...info, frames: exact.frames };
    ({ first, wanted } = plan(exact.frames));
    d = await decodeFrames(item, pre, ff, o, first, wanted, false);
  }
  if (d.count === 0) {
    throw classifyFailure(item, pre, d.log, 0);
  }
  let sourceFrames = info?.frames;
  if (d.count < wanted || (info === undefined && d.count < o.frames)) {
    // Fewer frames than asked for: a short video, or a truncated/damaged one.
    if (d.errors.length > 0) {
      throw classifyFailure(item, pre, d.log, d.count);
    }
    if (info === undefined) {
      info = await probeWith(item, pre, ff, probeOpts);
      if (info.truncated) {
        throw truncatedError(item, info.frames, info.errors);
      }
    }
    // Trust the decoded count when the packet count disagrees (e.g. edit lists dropping frames).
    const lastDecoded = first + (d.count - 1) * o.stride;
    const consistent = info.frames > lastDecoded && info.frames <= lastDecoded + o.stride;
    sourceFrames = consistent ? info.frames : lastDecoded + 1;
    if (!consistent) {
      warnings.push(
        `the file has ${info.frames} video packets but ffmpeg decoded only ${sourceFrames} frames (without errors); used those`,
      );
    }
  } else if (d.errors.length > 0) {
    warnings.push(`ffmpeg reported errors while decoding: ${summarize(d.errors, item)}`);
  }
  const frameMap: number[] = [];
  const framesUsed: number[] = [];
  for (let t = 0; t < o.frames; t++) {
    const k = Math.min(t, d.count - 1);
    frameMap.push(k);
    framesUsed.push(first + k * o.stride);
  }
  if (d.count < o.frames) {
    warnings.unshift(shortWarning('video', sourceFrames ?? framesUsed[framesUsed.length - 1]! + 1, o));
  }
  const data = await o.converter.rgb24ToFloat(d.bytes, d.width * d.height * 3, frameMap);
  const pts = d.pts.length === d.count ? frameMap.map((k) => d.pts[k] ?? null) : undefined;
  return {
    data,
    shape: [o.frames, d.height, d.width, 3],
    framesUsed,
    warnings,
    ...(sourceFrames !== undefined ? { sourceFrames } : {}),
    ...(pts ? { pts } : {}),
  };
}

function truncatedError(item: InputItem, frames: number, errors: readonly string[]): MediaError {
  return fail(
    item,
    'truncated',
    `the file is truncated or damaged (ffmpeg could read only ${frames} frames: ${summarize(errors, item)})`,
    're-copy or re-encode it, or remove it',
    errors.join('\n'),
  );
}

async function loadNpy(item: InputItem, o: Resolved): Promise<Clip> {
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
