// Labels files in the SSv2-style CSV layout: `path,label` per line (an optional header line),
// paths relative to the CSV's own folder. The label is a class name (motion, appearance) or,
// for dense tasks, the path of the clip's target file or folder.
import { access, readFile } from 'node:fs/promises';
import { dirname, isAbsolute, resolve } from 'node:path';
import { writeBytesAtomic } from '../util/atomic.js';
import { splitCsvLine } from '../util/csv.js';
import { DatasetError } from './errors.js';

/** One row of a labels file. */
export interface LabelRow {
  /** The path as written in the file. */
  source: string;
  /** The path resolved against the labels file's folder (absolute). */
  path: string;
  /** The second column as written. */
  label: string;
  /** 1-based line number in the file. */
  line: number;
}

/** Options for {@link readLabelsCsv}. */
export interface ReadLabelsOptions {
  /** Check that every path exists (default true); missing files are listed in one error. */
  checkExists?: boolean;
}

const HEADER_NAMES = /^(path|file|filename|filepath|video|video_path|video_id)$/i;
const FIX_CSV = 'write one `path,label` pair per line (quote a field holding a comma with "…")';

/**
 * Parses the text of a labels file. Blank lines and `#` comments are skipped, a BOM and CRLF
 * line ends are accepted; a first line whose first field is `path` (or `file`, `video`, …) is a
 * header. Every other line needs exactly two fields, both non-empty.
 *
 * @param file the file's path, used for resolving rows and in errors.
 * @throws DatasetError naming the file and line.
 */
export function parseLabelsCsv(text: string, file: string): LabelRow[] {
  const base = dirname(resolve(file));
  const lines = text.replace(/^\uFEFF/, '').split(/\r\n|\r|\n/);
  const rows: LabelRow[] = [];
  let first = true;
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i]!.trim();
    if (raw === '' || raw.startsWith('#')) {
      continue;
    }
    const { fields, problem } = splitCsvLine(raw);
    if (problem !== undefined) {
      throw new DatasetError(file, problem, FIX_CSV, i + 1);
    }
    if (first) {
      first = false;
      if (HEADER_NAMES.test(fields[0] ?? '')) {
        continue;
      }
    }
    if (fields.length !== 2 || fields[0] === '' || fields[1] === '') {
      throw new DatasetError(
        file,
        `expected two non-empty fields (path,label), found ${fields.length === 1 ? 'one' : fields.length}: '${raw}'`,
        FIX_CSV,
        i + 1,
      );
    }
    const source = fields[0]!;
    rows.push({ source, path: isAbsolute(source) ? source : resolve(base, source), label: fields[1]!, line: i + 1 });
  }
  if (rows.length === 0) {
    throw new DatasetError(file, 'no rows', 'a labels file lists `path,label` lines (e.g. written by walt synth)');
  }
  return rows;
}

/**
 * Reads a labels file (see {@link parseLabelsCsv}) and, unless told not to, checks that every
 * listed path exists.
 *
 * @throws DatasetError when the file is missing or malformed, or names files that do not exist.
 */
export async function readLabelsCsv(file: string, opts: ReadLabelsOptions = {}): Promise<LabelRow[]> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    throw new DatasetError(file, 'cannot read the labels file', 'check the path');
  }
  const rows = parseLabelsCsv(text, file);
  if (opts.checkExists ?? true) {
    await checkPaths(
      file,
      rows.map((r) => ({ line: r.line, path: r.path })),
      'video',
    );
  }
  return rows;
}

/** Throws one DatasetError listing (up to 3 of) the paths that do not exist. */
export async function checkPaths(file: string, entries: { line: number; path: string }[], what: string): Promise<void> {
  const missing: { line: number; path: string }[] = [];
  for (const e of entries) {
    const ok = await access(e.path).then(
      () => true,
      () => false,
    );
    if (!ok) {
      missing.push(e);
    }
  }
  if (missing.length > 0) {
    const shown = missing
      .slice(0, 3)
      .map((m) => `line ${m.line}: ${m.path}`)
      .join('; ');
    throw new DatasetError(
      file,
      `${missing.length} ${what} path${missing.length > 1 ? 's' : ''} not found (${shown}${missing.length > 3 ? '; …' : ''})`,
      "paths resolve against the labels file's folder; fix them or move the files",
    );
  }
}

/** Quotes a CSV field when it holds a comma, quote or surrounding space. */
function csvField(s: string): string {
  return /[",\r\n\t]|^\s|\s$/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** The text of a labels file: header `path,label`, then one row per entry (LF line ends). */
export function formatLabelsCsv(rows: readonly { path: string; label: string }[]): string {
  return ['path,label', ...rows.map((r) => `${csvField(r.path)},${csvField(r.label)}`)].join('\n') + '\n';
}

/** Writes {@link formatLabelsCsv}'s text atomically. */
export async function writeLabelsCsv(file: string, rows: readonly { path: string; label: string }[]): Promise<void> {
  await writeBytesAtomic(file, formatLabelsCsv(rows));
}
