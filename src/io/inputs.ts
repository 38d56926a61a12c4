// Expanding command-line inputs (files, directories, list files) into an ordered list of media items.

import { readdir, readFile, realpath, stat } from 'node:fs/promises';
import { dirname, extname, isAbsolute, join, resolve } from 'node:path';
import { splitCsvLine } from '../util/csv.js';

/** What an input is, judged by its extension. */
export type InputKind = 'video' | 'image' | 'npy' | 'unknown';

/** One input to decode. */
export interface InputItem {
  /** The path as written on the command line or in a list file, or as found in a directory walk. */
  source: string;
  /** Resolved absolute path. */
  path: string;
  /** Kind by extension; `unknown` items fail to decode with a clear error. */
  kind: InputKind;
  /** Label from a list file's second column, if any. */
  label?: string;
}

/**
 * Video container extensions (lower case, with the dot): every container ffmpeg demuxes that
 * holds video. `.gif` is here because GIFs are often animated (a one-frame GIF is a 1-frame video,
 * repeated to the clip length with a warning).
 */
export const VIDEO_EXTENSIONS: readonly string[] = [
  '.mp4',
  '.m4v',
  '.mov',
  '.qt',
  '.mkv',
  '.webm',
  '.avi',
  '.mpg',
  '.mpeg',
  '.m1v',
  '.m2v',
  '.mpv',
  '.vob',
  '.ts',
  '.mts',
  '.m2ts',
  '.m2t',
  '.3gp',
  '.3g2',
  '.f4v',
  '.flv',
  '.wmv',
  '.asf',
  '.ogv',
  '.ogg',
  '.ogm',
  '.mxf',
  '.dv',
  '.divx',
  '.nut',
  '.rm',
  '.rmvb',
  '.y4m',
  '.h264',
  '.264',
  '.h265',
  '.265',
  '.hevc',
  '.ivf',
  '.gif',
];
/** Still-image extensions (decoded by ffmpeg's image2 demuxer). */
export const IMAGE_EXTENSIONS: readonly string[] = [
  '.png',
  '.apng',
  '.jpg',
  '.jpeg',
  '.jpe',
  '.jfif',
  '.webp',
  '.bmp',
  '.dib',
  '.tif',
  '.tiff',
  '.ppm',
  '.pgm',
  '.pnm',
  '.pam',
  '.tga',
  '.dpx',
  '.exr',
  '.jp2',
  '.j2k',
  '.sgi',
  '.pcx',
];
/** Clip arrays. */
export const NPY_EXTENSIONS: readonly string[] = ['.npy'];
/** List-file extensions: one path per line, optional label column (tab or comma). */
export const LIST_EXTENSIONS: readonly string[] = ['.txt', '.lst', '.csv'];

/** The kind of a path by its extension (case-insensitive). */
export function kindOf(path: string): InputKind {
  const ext = extname(path).toLowerCase();
  if (VIDEO_EXTENSIONS.includes(ext)) {
    return 'video';
  }
  if (IMAGE_EXTENSIONS.includes(ext)) {
    return 'image';
  }
  if (NPY_EXTENSIONS.includes(ext)) {
    return 'npy';
  }
  return 'unknown';
}

/** True for list-file extensions (.txt, .lst, .csv). */
export function isListFile(path: string): boolean {
  return LIST_EXTENSIONS.includes(extname(path).toLowerCase());
}

/** Options for {@link expandInputs}. */
export interface ExpandOptions {
  /** Directory that relative command-line arguments resolve against (default `process.cwd()`). */
  cwd?: string;
}

/** One entry of a parsed list file. */
export interface ListEntry {
  /** The path text as written. */
  path: string;
  label?: string;
  /** 1-based line number. */
  line: number;
}

/** What {@link scanInputs} found. */
export interface InputScan {
  /** Media items, in a deterministic order, duplicates removed. */
  items: InputItem[];
  /**
   * Files a folder walk did not take (an extension that is not media: `.txt`, `.md`, `.xyz`, …),
   * as found (`dir/a.xyz`), in walk order. Hidden files (names starting with `.`) are not listed.
   */
  skipped: string[];
}

/**
 * Expands command-line arguments into media items, in a deterministic order with duplicates removed.
 *
 * - A file with a media extension becomes one item; a list file (.txt/.lst/.csv) is read and its entries expanded
 *   (relative entries resolve against the list file's folder; entries may be files, directories or list files).
 * - A directory is walked recursively, depth-first, entries sorted by name (code-point order); only media files are
 *   kept, by extension, case-insensitively ({@link VIDEO_EXTENSIONS}, {@link IMAGE_EXTENSIONS}, `.npy`); the others
 *   (unknown extensions and list files) are returned in `skipped`; dot-files are ignored. Symlinks are followed,
 *   symlink loops are not.
 * - An explicitly named file with an unknown extension, a missing path, or an unlistable directory still becomes an
 *   item, so that decoding it reports a clear per-item error instead of stopping the whole run.
 * - Duplicates (same resolved path) keep their first occurrence (and its label).
 *
 * @param args paths as given on the command line.
 */
export async function scanInputs(args: readonly string[], opts: ExpandOptions = {}): Promise<InputScan> {
  const cwd = opts.cwd ?? process.cwd();
  const items: InputItem[] = [];
  const skipped: string[] = [];
  const seen = new Set<string>();
  const ctx: Walk = {
    push: (item) => {
      if (!seen.has(item.path)) {
        seen.add(item.path);
        items.push(item);
      }
    },
    skip: (source) => skipped.push(source),
    lists: new Set<string>(),
  };
  for (const arg of args) {
    await expandOne(arg, resolve(cwd, arg), undefined, ctx);
  }
  return { items, skipped };
}

/** {@link scanInputs} without the skipped list. */
export async function expandInputs(args: readonly string[], opts: ExpandOptions = {}): Promise<InputItem[]> {
  return (await scanInputs(args, opts)).items;
}

interface Walk {
  push: (item: InputItem) => void;
  skip: (source: string) => void;
  lists: Set<string>;
}

async function expandOne(source: string, abs: string, label: string | undefined, w: Walk): Promise<void> {
  const st = await stat(abs).catch(() => undefined);
  if (st?.isDirectory()) {
    const before: InputItem[] = [];
    const skipped: string[] = [];
    const ok = await walk(
      source,
      abs,
      label,
      { ...w, push: (i) => before.push(i), skip: (s) => skipped.push(s) },
      new Set(),
    );
    if (!ok) {
      // Unlistable directory: an item whose decode reports it.
      w.push(withLabel({ source, path: abs, kind: 'unknown' }, label));
      return;
    }
    before.forEach(w.push);
    skipped.forEach(w.skip);
    return;
  }
  if (st?.isFile() && isListFile(abs)) {
    if (w.lists.has(abs)) {
      return; // a list that includes itself (directly or not)
    }
    w.lists.add(abs);
    const text = await readFile(abs, 'utf8').catch(() => undefined);
    if (text === undefined) {
      w.push(withLabel({ source, path: abs, kind: 'unknown' }, label));
      return;
    }
    const base = dirname(abs);
    for (const e of parseListFile(text)) {
      // The entry's source is relative to the list file as the list was named (a/labels.csv's
      // videos/x.mp4 is a/videos/x.mp4), so two lists' equal relative entries stay apart.
      const src = isAbsolute(e.path) ? e.path : join(dirname(source), e.path);
      await expandOne(src, resolve(base, e.path), e.label ?? label, w);
    }
    w.lists.delete(abs);
    return;
  }
  // A file, or a missing path: one item (missing/unknown ones fail later with a clear message).
  w.push(withLabel({ source, path: abs, kind: kindOf(abs) }, label));
}

async function walk(
  source: string,
  abs: string,
  label: string | undefined,
  w: Walk,
  visiting: Set<string>,
): Promise<boolean> {
  let names: string[];
  let real: string;
  try {
    names = await readdir(abs);
    real = await realpath(abs);
  } catch {
    return false;
  }
  if (visiting.has(real)) {
    return true; // a symlink back into a folder being walked
  }
  visiting.add(real);
  names.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  for (const name of names) {
    if (name.startsWith('.')) {
      continue; // hidden files, macOS ._ resource forks
    }
    const childAbs = join(abs, name);
    const childSource = joinSource(source, name);
    const st = await stat(childAbs).catch(() => undefined);
    if (st === undefined) {
      continue; // dangling symlink
    }
    if (st.isDirectory()) {
      await walk(childSource, childAbs, label, w, visiting);
    } else if (st.isFile() && kindOf(name) !== 'unknown') {
      w.push(withLabel({ source: childSource, path: childAbs, kind: kindOf(name) }, label));
    } else if (st.isFile()) {
      w.skip(childSource);
    }
  }
  visiting.delete(real);
  return true;
}

function joinSource(dir: string, name: string): string {
  return dir.endsWith('/') || dir.endsWith('\\') ? dir + name : `${dir}/${name}`;
}

function withLabel(item: InputItem, label: string | undefined): InputItem {
  return label === undefined ? item : { ...item, label };
}

/**
 * Parses a list file: one path per line, optionally followed by a label separated by a tab or a comma.
 * Blank lines and lines starting with `#` are skipped; a leading BOM, CRLF line ends and surrounding whitespace
 * are ignored; fields may be wrapped in double quotes (CSV style, `""` for a quote). A first line whose path
 * column is `path`, `file`, `filename`, `video` or `filepath` is taken as a CSV header and skipped.
 */
export function parseListFile(text: string): ListEntry[] {
  const out: ListEntry[] = [];
  const lines = text.replace(/^\uFEFF/, '').split(/\r\n|\r|\n/);
  let first = true;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (line === '' || line.startsWith('#')) {
      continue;
    }
    // Quoting problems are forgiven here (the field is taken as written); a path and a label are read.
    const { fields } = splitCsvLine(line);
    const path = fields[0] ?? '';
    const label = fields[1];
    if (first && /^(path|file|filename|filepath|video)$/i.test(path)) {
      first = false;
      continue;
    }
    first = false;
    if (path === '') {
      continue;
    }
    out.push(label !== undefined && label !== '' ? { path, label, line: i + 1 } : { path, line: i + 1 });
  }
  return out;
}
