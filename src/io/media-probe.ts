// Probing a video with ffmpeg (there is no ffprobe): the first video stream's facts from the log
// (codec, pixel format, size, frame rate, duration), and its frame count from a packet pass
// (`-c copy -f framecrc`, empty packets not counted) or from decoding every frame.

import { errorLines, type FfmpegInfo, type FfmpegLogLine } from './ffmpeg.js';
import type { InputItem } from './inputs.js';
import { classifyFailure, ffmpegFor, run, timedOut, TRUNCATION_RE } from './media-ffmpeg.js';
import { preflight, toItem, type Preflight } from './media-preflight.js';

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

/** ffmpeg's input URL for a path. */
export function inputUrl(path: string): string {
  // The `file:` prefix stops ffmpeg from reading `name:rest` as a protocol.
  return `file:${path}`;
}

/** `W x H` from a stream line of ffmpeg's log. */
export function parseDims(line: string): { width: number; height: number } | undefined {
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

/** {@link probeVideo} after the preflight, with the ffmpeg to use. */
export async function probeWith(
  item: InputItem,
  pre: Preflight,
  ff: FfmpegInfo,
  opts: ProbeOptions,
): Promise<VideoInfo> {
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
