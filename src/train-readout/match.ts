// Matching the rows of a labels file to the items of a `walt extract` manifest by file path.
//
// What the extraction output records: each manifest line's `source` is the input's path as it
// was found — as typed on the command line (relative to the directory `walt extract` ran in), as
// written in a list file (relative to that list file's folder), or as built by a folder walk
// (the folder argument joined with the names below it). When a line also carries `path` (the
// absolute path the extractor resolved), that is used as is. Otherwise a relative `source` is
// resolved against the labels file's folder (the case `walt extract DIR/labels.csv`) and against
// the current directory (the case `walt extract DIR/videos` run from here); both candidates, and
// every labels row, are canonicalised with realpath, so relative and absolute spellings, `./`,
// `..` and symlinks of the same file all match.
import { realpathSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import type { ManifestLine } from '../extract/manifest.js';

/** A file's canonical spelling: its realpath when it exists, else the resolved path. */
export function canonicalPath(p: string): string {
  try {
    return realpathSync.native(p);
  } catch {
    return resolve(p);
  }
}

/** The absolute paths a manifest line's item may be (see the file comment). */
export function manifestCandidates(line: ManifestLine, bases: readonly string[]): string[] {
  const recorded = (line as { path?: unknown }).path;
  if (typeof recorded === 'string' && isAbsolute(recorded)) {
    return [canonicalPath(recorded)];
  }
  if (isAbsolute(line.source)) {
    return [canonicalPath(line.source)];
  }
  return [...new Set(bases.map((b) => canonicalPath(resolve(b, line.source))))];
}

/**
 * How one labels row matched. `ambiguous`: several manifest lines are this file (e.g. two list
 * files with the same relative paths extracted into one folder: their lines share a `source`
 * and an item key, so their features cannot be told apart).
 */
export type RowMatch =
  { status: 'ok'; line: ManifestLine } | { status: 'missing' } | { status: 'ambiguous'; lines: ManifestLine[] };

/**
 * Matches each path (absolute, from a labels file) to the manifest lines that are that file.
 *
 * @param bases folders a relative `source` may be relative to, in order (labels folder, cwd)
 * @returns one match per path, in order
 */
export function matchPaths(
  lines: readonly ManifestLine[],
  paths: readonly string[],
  bases: readonly string[],
): RowMatch[] {
  const byPath = new Map<string, ManifestLine[]>();
  for (const l of lines) {
    for (const c of manifestCandidates(l, bases)) {
      const list = byPath.get(c) ?? [];
      if (!list.includes(l)) {
        list.push(l);
      }
      byPath.set(c, list);
    }
  }
  return paths.map((p) => {
    const hits = byPath.get(canonicalPath(p)) ?? [];
    if (hits.length === 0) {
      return { status: 'missing' };
    }
    if (hits.length === 1) {
      return { status: 'ok', line: hits[0]! };
    }
    return { status: 'ambiguous', lines: hits };
  });
}
