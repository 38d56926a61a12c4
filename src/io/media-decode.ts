// Videos and images through ffmpeg: the select/showinfo/scale/crop filter chain, raw RGB frames on a
// pipe with their timestamps, and the frame plan of a video (the window, a short or truncated file,
// a container holding fewer decodable frames than packets).

import { errorLines, type FfmpegInfo, type FfmpegLogLine } from './ffmpeg.js';
import type { InputItem } from './inputs.js';
import { classifyFailure, run, summarize, timedOut, truncatedError } from './media-ffmpeg.js';
import { shortWarning, windowStart, type Clip, type Resolved } from './media-options.js';
import { fail, type Preflight } from './media-preflight.js';
import { inputUrl, parseDims, probeWith, type ProbeOptions, type VideoInfo } from './media-probe.js';

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

/** An image: one decoded frame, repeated `imageFrames` times. */
export async function loadImage(item: InputItem, pre: Preflight, ff: FfmpegInfo, o: Resolved): Promise<Clip> {
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

/** A video: the sampled window of source frames (see {@link loadClip}). */
export async function loadVideo(item: InputItem, pre: Preflight, ff: FfmpegInfo, o: Resolved): Promise<Clip> {
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
