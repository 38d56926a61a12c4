// Encoding rendered frames to mp4 with ffmpeg so that equal frames give equal bytes: the RGB to
// YUV 4:2:0 conversion is done here in integers (no swscale), one encoder thread, bit-exact
// muxing, no metadata, a fixed GOP.
import { open, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { errorLines, listEncoders, runFfmpeg, type FfmpegInfo } from '../io/ffmpeg.js';
import { tempPathFor } from '../util/atomic.js';

/** The codec used, best first: H.264 (libx264), else MPEG-4 part 2. */
export interface VideoCodec {
  encoder: 'libx264' | 'mpeg4';
  /** Codec name as ffmpeg reports it when decoding. */
  codec: 'h264' | 'mpeg4';
  /** Encoder arguments (after the input). */
  args: string[];
}

/** Frames between keyframes. */
export const GOP = 12;

const X264: VideoCodec = {
  encoder: 'libx264',
  codec: 'h264',
  args: [
    '-c:v',
    'libx264',
    '-preset',
    'medium',
    '-crf',
    '14',
    '-g',
    String(GOP),
    '-sc_threshold',
    '0',
    '-x264-params',
    'threads=1:lookahead-threads=1:sliced-threads=0',
  ],
};

const MPEG4: VideoCodec = {
  encoder: 'mpeg4',
  codec: 'mpeg4',
  args: ['-c:v', 'mpeg4', '-q:v', '2', '-g', String(GOP), '-bf', '0'],
};

/** The first of libx264, mpeg4 that `ff` offers. */
export async function pickCodec(ff: FfmpegInfo): Promise<VideoCodec> {
  const have = await listEncoders(ff);
  if (have.has('libx264')) {
    return X264;
  }
  if (have.has('mpeg4')) {
    return MPEG4;
  }
  throw new Error(`ffmpeg at ${ff.path} has neither libx264 nor mpeg4; install an ffmpeg with libx264`);
}

/**
 * BT.601 limited-range YUV 4:2:0 planar of `[T, H, W, 3]` RGB (H, W even), in integers as
 * ffmpeg's reference C code does:
 *   Y = ((66R + 129G + 25B + 128) >> 8) + 16
 *   U = ((−38R − 74G + 112B + 128) >> 8) + 128,  V = ((112R − 94G − 18B + 128) >> 8) + 128
 * with U and V the rounded mean (sum + 2) >> 2 over each 2×2 block.
 */
export function rgbToYuv420p(rgb: Uint8Array, frames: number, height: number, width: number): Uint8Array {
  if (width % 2 !== 0 || height % 2 !== 0) {
    throw new RangeError(`rgbToYuv420p: ${width}×${height} must be even`);
  }
  const n = width * height;
  const cw = width / 2;
  const ch = height / 2;
  const out = new Uint8Array(frames * (n + 2 * cw * ch));
  for (let t = 0; t < frames; t++) {
    const src = t * n * 3;
    const yOff = t * (n + 2 * cw * ch);
    const uOff = yOff + n;
    const vOff = uOff + cw * ch;
    for (let i = 0; i < n; i++) {
      const r = rgb[src + 3 * i]!;
      const g = rgb[src + 3 * i + 1]!;
      const b = rgb[src + 3 * i + 2]!;
      out[yOff + i] = ((66 * r + 129 * g + 25 * b + 128) >> 8) + 16;
    }
    for (let y = 0; y < ch; y++) {
      for (let x = 0; x < cw; x++) {
        let su = 0;
        let sv = 0;
        for (let dy = 0; dy < 2; dy++) {
          for (let dx = 0; dx < 2; dx++) {
            const p = src + 3 * ((2 * y + dy) * width + 2 * x + dx);
            const r = rgb[p]!;
            const g = rgb[p + 1]!;
            const b = rgb[p + 2]!;
            su += ((-38 * r - 74 * g + 112 * b + 128) >> 8) + 128;
            sv += ((112 * r - 94 * g - 18 * b + 128) >> 8) + 128;
          }
        }
        out[uOff + y * cw + x] = (su + 2) >> 2;
        out[vOff + y * cw + x] = (sv + 2) >> 2;
      }
    }
  }
  return out;
}

/**
 * Encodes `[T, H, W, 3]` RGB frames at `fps` into `outPath` (written to a temporary name next
 * to it, synced, renamed). The raw input goes through a file in `scratchDir`.
 *
 * @throws Error with ffmpeg's error lines when encoding fails.
 */
export async function encodeVideo(
  ff: FfmpegInfo,
  codec: VideoCodec,
  rgb: Uint8Array,
  frames: number,
  height: number,
  width: number,
  fps: number,
  outPath: string,
  scratchDir: string,
): Promise<void> {
  const raw = tempPathFor(join(scratchDir, 'frames.yuv'));
  const tmp = tempPathFor(outPath);
  await writeFile(raw, rgbToYuv420p(rgb, frames, height, width));
  try {
    const r = await runFfmpeg(ff, [
      '-f',
      'rawvideo',
      '-pix_fmt',
      'yuv420p',
      '-s',
      `${width}x${height}`,
      '-framerate',
      String(fps),
      '-i',
      raw,
      '-an',
      '-sn',
      ...codec.args,
      '-threads',
      '1',
      '-pix_fmt',
      'yuv420p',
      '-colorspace',
      'smpte170m',
      '-color_primaries',
      'smpte170m',
      '-color_trc',
      'smpte170m',
      '-color_range',
      'tv',
      '-fflags',
      '+bitexact',
      '-flags',
      '+bitexact',
      '-map_metadata',
      '-1',
      '-map_chapters',
      '-1',
      '-f',
      'mp4',
      '-y',
      tmp,
    ]);
    if (r.code !== 0) {
      throw new Error(`ffmpeg could not encode ${outPath}: ${errorLines(r.log).join('; ') || `exit code ${r.code}`}`);
    }
    const fh = await open(tmp, 'r+');
    await fh.sync();
    await fh.close();
    await rename(tmp, outPath);
  } finally {
    await rm(raw, { force: true });
    await rm(tmp, { force: true });
  }
}
