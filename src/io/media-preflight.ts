// Checks on an input before ffmpeg sees it: the path exists and is a regular, non-empty file of a
// handled kind, and its first bytes are not text (content sniffing, so a text file named .mp4 is
// reported as such). Also the MediaError builder and the path-to-InputItem conversion that the other
// media modules share.

import { open, stat } from 'node:fs/promises';
import { extname } from 'node:path';
import { IMAGE_EXTENSIONS, kindOf, NPY_EXTENSIONS, VIDEO_EXTENSIONS, type InputItem } from './inputs.js';
import { isMediaError, MediaError, type MediaErrorReason } from './media-error.js';

/** What the first bytes of a file look like. */
export type Sniffed = 'mp4' | 'matroska' | 'avi' | 'png' | 'jpeg' | 'npy' | 'other-media' | 'text' | 'binary';

/** What {@link preflight} found. */
export interface Preflight {
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

/** A MediaError for `item`. */
export function fail(
  item: InputItem,
  reason: MediaErrorReason,
  problem: string,
  action: string,
  detail?: string,
): MediaError {
  return new MediaError({ path: item.path, source: item.source, reason, problem, action, detail });
}

/** Checks `item` on disk and sniffs its first bytes; throws a MediaError for a file ffmpeg should not see. */
export async function preflight(item: InputItem): Promise<Preflight> {
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

/** A MediaError for a failed file-system call on `item`. */
export function fsError(item: InputItem, e: unknown): MediaError {
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

/** A path as an InputItem (its kind from the extension). */
export function toItem(item: InputItem | string): InputItem {
  if (typeof item !== 'string') {
    return item;
  }
  return { source: item, path: item, kind: kindOf(item) };
}
