// Running ffmpeg for one input and turning what went wrong into a MediaError: finding the binary,
// a run that reports start failures and outside signals, the time limit, and the classification of
// ffmpeg's log into missing, truncated, not media, corrupt or no frames.

import { extname } from 'node:path';
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
import type { InputItem } from './inputs.js';
import type { MediaError } from './media-error.js';
import { fail, type Preflight } from './media-preflight.js';

/** ffmpeg log lines that mean the data ended early or is damaged. */
export const TRUNCATION_RE =
  /partial file|Read error|End of file|EOI missing|truncat|overread|unexpected end|Packet corrupt|corrupt input packet|Invalid NAL unit size|error reading header/i;

/** Up to three distinct error lines, without the file's path. */
export function summarize(lines: readonly string[], item: InputItem): string {
  const strip = (s: string): string => s.replace(`file:${item.path}: `, '').replace(`${item.path}: `, '').trim();
  const uniq = [...new Set(lines.map(strip))].filter((s) => s !== '' && !/^Conversion failed/.test(s));
  return uniq.slice(0, 3).join('; ');
}

/** The MediaError for a failed ffmpeg run, from its log (`frames`: frames decoded before it stopped). */
export function classifyFailure(
  item: InputItem,
  pre: Preflight,
  log: readonly FfmpegLogLine[],
  frames: number,
): MediaError {
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

/** The given ffmpeg, else {@link findFfmpeg}; a MediaError naming `item` when there is none. */
export async function ffmpegFor(item: InputItem, ff: FfmpegInfo | undefined): Promise<FfmpegInfo> {
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

/** Runs ffmpeg on `item`; a MediaError when it cannot start or is stopped by a signal from outside. */
export async function run(
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

/** The MediaError for a run that hit its time limit. */
export function timedOut(item: InputItem, ms: number): MediaError {
  return fail(
    item,
    'corrupt',
    `ffmpeg did not finish within ${Math.round(ms / 1000)} s (the file may be damaged or very large)`,
    'raise the time limit, re-encode it, or remove it',
  );
}

/** The MediaError for a file that a full pass found truncated or damaged. */
export function truncatedError(item: InputItem, frames: number, errors: readonly string[]): MediaError {
  return fail(
    item,
    'truncated',
    `the file is truncated or damaged (ffmpeg could read only ${frames} frames: ${summarize(errors, item)})`,
    're-copy or re-encode it, or remove it',
    errors.join('\n'),
  );
}
