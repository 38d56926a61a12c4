// makeSample: synthesizes a small media collection with ffmpeg's lavfi sources (for tests, demos and smoke runs).
// makeFormatSample (sample-formats.ts), the many-formats folder, is re-exported from here.

import { mkdir, readFile, rename, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { findFfmpeg, listEncoders, runFfmpeg, errorLines, type FfmpegInfo } from './ffmpeg.js';
import type { MediaErrorReason } from './media-error.js';
import { exists, writeAtomic } from './sample-fs.js';

export { makeFormatSample, type FormatFile } from './sample-formats.js';

/** One file of the sample collection. */
export interface SampleFile {
  /** Path relative to the sample directory, with `/` separators. */
  name: string;
  /** Absolute path. */
  path: string;
  kind: 'video' | 'image';
  /** Frames in the file (1 for an image; for a bad file, the frames of the file it was made from, or 0). */
  frames: number;
  width: number;
  height: number;
  /** Codec name as ffmpeg reports it when decoding (`h264`, `vp9`, `mjpeg`, `png`, ...). */
  codec: string;
  /** For a deliberately broken file: the MediaError reason decoding it should give. */
  bad?: MediaErrorReason;
}

/** What {@link makeSample} produced. */
export interface SampleManifest {
  dir: string;
  ffmpeg: FfmpegInfo;
  /** Video encoders the ffmpeg binary offers among those the sample can use. */
  encoders: string[];
  /** Files present after the call (created now or already there), in a fixed order. */
  files: SampleFile[];
  /** Files that could not be made (e.g. no VP9 encoder), with the reason. */
  skipped: string[];
}

/** Options for {@link makeSample}. */
export interface MakeSampleOptions {
  /** Also make broken files: a truncated mp4 and webm, a text file named .mp4, a zero-frame avi, an audio-only mp4. */
  withBad?: boolean;
  ffmpeg?: FfmpegInfo;
}

interface Enc {
  /** Encoder name in `ffmpeg -encoders`. */
  encoder: string;
  codec: string;
  args: string[];
}

interface Spec {
  name: string;
  kind: 'video' | 'image';
  source: string;
  width: number;
  height: number;
  frames: number;
  rate: number;
  /** Container (ffmpeg muxer). */
  format: string;
  /** Encoder choices, best first; the first one available is used. */
  encoders: Enc[];
}

const X264: Enc = {
  encoder: 'libx264',
  codec: 'h264',
  args: ['-c:v', 'libx264', '-preset', 'veryfast', '-g', '12', '-pix_fmt', 'yuv420p', '-threads', '1'],
};
const MPEG4: Enc = { encoder: 'mpeg4', codec: 'mpeg4', args: ['-c:v', 'mpeg4', '-q:v', '3', '-g', '12'] };
const VP9: Enc = {
  encoder: 'libvpx-vp9',
  codec: 'vp9',
  args: ['-c:v', 'libvpx-vp9', '-deadline', 'realtime', '-cpu-used', '8', '-b:v', '400k', '-pix_fmt', 'yuv420p'],
};
const VP8: Enc = {
  encoder: 'libvpx',
  codec: 'vp8',
  args: ['-c:v', 'libvpx', '-deadline', 'realtime', '-cpu-used', '8', '-b:v', '400k', '-pix_fmt', 'yuv420p'],
};
const MJPEG: Enc = { encoder: 'mjpeg', codec: 'mjpeg', args: ['-c:v', 'mjpeg', '-q:v', '3', '-pix_fmt', 'yuvj420p'] };
const PNG: Enc = { encoder: 'png', codec: 'png', args: ['-c:v', 'png', '-pix_fmt', 'rgb24'] };
const JPEG: Enc = { encoder: 'mjpeg', codec: 'mjpeg', args: ['-c:v', 'mjpeg', '-q:v', '2', '-pix_fmt', 'yuvj444p'] };

function video(
  name: string,
  source: string,
  w: number,
  h: number,
  frames: number,
  rate: number,
  format: string,
  encoders: Enc[],
): Spec {
  return { name, kind: 'video', source, width: w, height: h, frames, rate, format, encoders };
}

const GOOD: Spec[] = [
  video('videos/testsrc2-160x120-h264.mp4', 'testsrc2', 160, 120, 32, 24, 'mp4', [X264, MPEG4]),
  video('videos/mandelbrot-96x64-vp9.webm', 'mandelbrot', 96, 64, 28, 25, 'webm', [VP9, VP8]),
  video('videos/smptehdbars-64x80-mjpeg.mov', 'smptehdbars', 64, 80, 24, 30, 'mov', [MJPEG]),
  video('videos/more/life-80x64-mjpeg.avi', 'life=mold=10:ratio=0.4:seed=7', 80, 64, 36, 20, 'avi', [MJPEG]),
  video('videos/more/testsrc-128x72-vp8.mkv', 'testsrc', 128, 72, 30, 25, 'matroska', [VP8, MPEG4]),
  video('videos/short-64x64-h264.mp4', 'testsrc2', 64, 64, 9, 24, 'mp4', [X264, MPEG4]),
  {
    name: 'images/testsrc2-100x76.png',
    kind: 'image',
    source: 'testsrc2',
    width: 100,
    height: 76,
    frames: 1,
    rate: 1,
    format: 'image2',
    encoders: [PNG],
  },
  {
    name: 'images/smptebars-120x80.jpg',
    kind: 'image',
    source: 'smptebars',
    width: 120,
    height: 80,
    frames: 1,
    rate: 1,
    format: 'image2',
    encoders: [JPEG],
  },
];

/** Appends the codec-independent part of a name when the first-choice encoder is missing (e.g. `-mpeg4`). */
function nameFor(spec: Spec, enc: Enc): string {
  const first = spec.encoders[0]!;
  return enc === first ? spec.name : spec.name.replace(`-${first.codec}.`, `-${enc.codec}.`);
}

async function encode(ff: FfmpegInfo, spec: Spec, enc: Enc, out: string): Promise<void> {
  const src = spec.source.includes('=')
    ? `${spec.source}:size=${spec.width}x${spec.height}:rate=${spec.rate}`
    : `${spec.source}=size=${spec.width}x${spec.height}:rate=${spec.rate}`;
  const tmp = `${out}.tmp-${process.pid}`;
  const extra = spec.format === 'image2' ? ['-update', '1'] : [];
  const r = await runFfmpeg(ff, [
    '-y',
    '-f',
    'lavfi',
    '-i',
    src,
    '-frames:v',
    String(spec.frames),
    ...enc.args,
    ...extra,
    '-f',
    spec.format,
    `file:${tmp}`,
  ]);
  if (r.code !== 0) {
    await rm(tmp, { force: true });
    throw new Error(`ffmpeg failed making ${spec.name}: ${errorLines(r.log).join('; ')}`);
  }
  await rename(tmp, out);
}

/**
 * Synthesizes a small sample collection under `dir` with ffmpeg's lavfi sources (testsrc2, mandelbrot,
 * smptehdbars, life, testsrc, smptebars) in several codecs, containers and sizes:
 *
 * - `videos/testsrc2-160x120-h264.mp4` (32 frames; libx264, else mpeg4), `videos/mandelbrot-96x64-vp9.webm`
 *   (28; libvpx-vp9, else VP8), `videos/smptehdbars-64x80-mjpeg.mov` (24), `videos/more/life-80x64-mjpeg.avi` (36),
 *   `videos/more/testsrc-128x72-vp8.mkv` (30; libvpx, else mpeg4), `videos/short-64x64-h264.mp4` (9 frames: shorter
 *   than a 17-frame clip), `images/testsrc2-100x76.png`, `images/smptebars-120x80.jpg`;
 * - with `withBad`: `bad/truncated.mp4` (first 40% of the h264 mp4: no moov atom), `bad/truncated.webm` (first 40%
 *   of the webm), `bad/notes.mp4` (a text file), `bad/empty-stream.avi` (a video stream with zero frames),
 *   `bad/audio-only.mp4` (no video stream).
 *
 * File names are fixed (a fallback encoder changes the codec part of the name); files that already exist are kept.
 * Files are written under a temporary name and renamed, so an interrupted run leaves no half-written sample file.
 */
export async function makeSample(dir: string, opts: MakeSampleOptions = {}): Promise<SampleManifest> {
  const ff = opts.ffmpeg ?? (await findFfmpeg());
  const have = await listEncoders(ff);
  const files: SampleFile[] = [];
  const skipped: string[] = [];
  const usable = ['libx264', 'mpeg4', 'libvpx-vp9', 'libvpx', 'mjpeg', 'png'].filter((e) => have.has(e));

  const jobs = GOOD.map(async (spec): Promise<SampleFile | undefined> => {
    const enc = spec.encoders.find((e) => have.has(e.encoder));
    if (enc === undefined) {
      skipped.push(`${spec.name} (no ${spec.encoders.map((e) => e.encoder).join(' or ')} encoder)`);
      return undefined;
    }
    const name = nameFor(spec, enc);
    const path = join(dir, name);
    await mkdir(dirname(path), { recursive: true });
    if (!(await exists(path))) {
      await encode(ff, spec, enc, path);
    }
    return {
      name,
      path,
      kind: spec.kind,
      frames: spec.frames,
      width: spec.width,
      height: spec.height,
      codec: enc.codec,
    };
  });
  for (const f of await Promise.all(jobs)) {
    if (f !== undefined) {
      files.push(f);
    }
  }

  if (opts.withBad === true) {
    await mkdir(join(dir, 'bad'), { recursive: true });
    const mp4 = files.find((f) => f.name.startsWith('videos/testsrc2-160x120'));
    const webm = files.find((f) => f.name.startsWith('videos/mandelbrot'));
    const truncate = async (from: SampleFile | undefined, name: string): Promise<void> => {
      if (from === undefined) {
        skipped.push(`${name} (its source video is missing)`);
        return;
      }
      const path = join(dir, name);
      if (!(await exists(path))) {
        const bytes = await readFile(from.path);
        await writeAtomic(path, bytes.subarray(0, Math.floor(bytes.length * 0.4)));
      }
      files.push({ ...from, name, path, bad: 'truncated' });
    };
    await truncate(mp4, 'bad/truncated.mp4');
    await truncate(webm, 'bad/truncated.webm');

    const notes = join(dir, 'bad/notes.mp4');
    if (!(await exists(notes))) {
      await writeAtomic(
        notes,
        'Shot list\n- intro: 0:00-0:12\n- interview: 0:12-3:40\nTODO: export the final cut as mp4\n',
      );
    }
    files.push({
      name: 'bad/notes.mp4',
      path: notes,
      kind: 'video',
      frames: 0,
      width: 0,
      height: 0,
      codec: '',
      bad: 'not-media',
    });

    const emptySpec = video('bad/empty-stream.avi', 'testsrc2', 64, 64, 0, 24, 'avi', [MJPEG]);
    const empty = join(dir, emptySpec.name);
    if (!(await exists(empty))) {
      await encodeAllowEmpty(ff, emptySpec, empty);
    }
    files.push({
      name: emptySpec.name,
      path: empty,
      kind: 'video',
      frames: 0,
      width: 64,
      height: 64,
      codec: 'mjpeg',
      bad: 'no-frames',
    });

    const audio = join(dir, 'bad/audio-only.mp4');
    if (!(await exists(audio))) {
      const tmp = `${audio}.tmp-${process.pid}`;
      const r = await runFfmpeg(ff, [
        '-y',
        '-f',
        'lavfi',
        '-i',
        'sine=frequency=440:duration=0.3',
        '-c:a',
        'aac',
        '-f',
        'mp4',
        `file:${tmp}`,
      ]);
      if (r.code === 0) {
        await rename(tmp, audio);
      } else {
        await rm(tmp, { force: true });
        skipped.push('bad/audio-only.mp4 (no aac encoder)');
      }
    }
    if (await exists(audio)) {
      files.push({
        name: 'bad/audio-only.mp4',
        path: audio,
        kind: 'video',
        frames: 0,
        width: 0,
        height: 0,
        codec: '',
        bad: 'no-frames',
      });
    }
  }
  return { dir, ffmpeg: ff, encoders: usable, files, skipped };
}

/** Like encode, but a zero-frame output is the goal: ffmpeg warns "Output file is empty" and may exit non-zero. */
async function encodeAllowEmpty(ff: FfmpegInfo, spec: Spec, out: string): Promise<void> {
  const tmp = `${out}.tmp-${process.pid}`;
  await runFfmpeg(ff, [
    '-y',
    '-f',
    'lavfi',
    '-i',
    `${spec.source}=size=${spec.width}x${spec.height}:rate=${spec.rate}`,
    '-frames:v',
    '0',
    ...spec.encoders[0]!.args,
    '-f',
    spec.format,
    `file:${tmp}`,
  ]);
  if (!(await exists(tmp))) {
    throw new Error(`ffmpeg could not make ${spec.name}`);
  }
  await rename(tmp, out);
}
