// walt merge: joins the folders of shard runs into one self-contained folder. Every folder must
// be a finished `walt extract` folder made with the same options (extract.json, apart from the
// shard); the shards are hard-linked (copied across file systems) into the merged folder under
// new names, so the merged folder can be moved or copied on its own; the manifest lists the
// folders' lines in the order the folders are given, each folder's in its own (input) order.
import { copyFileSync, existsSync, linkSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { writeBytesAtomic } from '../util/atomic.js';
import { MANIFEST, readManifest, writeManifest, type ManifestLine } from './manifest.js';
import {
  INFO_KEYS,
  MERGE_FREE_KEYS,
  readSpec,
  showValue,
  SPEC_FILE,
  specDifferences,
  specText,
  type RunSpec,
} from './spec.js';

/** A folder that cannot be merged; the message names it and says why. */
export class MergeError extends Error {
  override name = 'MergeError';
}

export interface MergeResult {
  items: number;
  ok: number;
  errors: number;
  /** Shard files in the merged folder. */
  shards: number;
  /** True when every shard was hard-linked (false: at least one was copied). */
  linked: boolean;
}

/** Links `src` to `dst`, or copies it where a hard link is impossible (another file system). */
function linkOrCopy(src: string, dst: string): boolean {
  try {
    linkSync(src, dst);
    return true;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EXDEV' || code === 'EPERM' || code === 'EMLINK' || code === 'ENOTSUP') {
      copyFileSync(src, dst);
      return false;
    }
    throw e;
  }
}

/**
 * Merges the `walt extract` folders `dirs` into `out` (a new or empty folder).
 *
 * @throws MergeError for a missing folder, a folder without manifest.jsonl or extract.json,
 *   folders made with different options (the message lists the keys that differ), an input in
 *   two folders, a shard a manifest names that is missing, or a non-empty `out`.
 */
export async function mergeFolders(dirs: readonly string[], out: string): Promise<MergeResult> {
  if (dirs.length === 0) {
    throw new MergeError('give the folders to merge');
  }
  const specs: RunSpec[] = [];
  const manifests: ManifestLine[][] = [];
  for (const dir of dirs) {
    if (!existsSync(dir) || !statSync(dir).isDirectory()) {
      throw new MergeError(`${dir}: no such folder`);
    }
    if (resolve(dir) === resolve(out)) {
      throw new MergeError(`${dir}: the merged folder cannot be one of the inputs; give another --out`);
    }
    const spec = readSpec(dir);
    if (spec === null || !existsSync(join(dir, MANIFEST))) {
      throw new MergeError(
        `${dir}: not a finished walt extract folder (no ${spec === null ? SPEC_FILE : MANIFEST}); run walt extract into it first, or leave it out`,
      );
    }
    specs.push(spec);
    manifests.push(readManifest(dir));
  }
  const first = specs[0]!;
  specs.forEach((spec, i) => {
    const diff = specDifferences(first, spec, MERGE_FREE_KEYS);
    if (diff.length > 0) {
      throw new MergeError(
        `${dirs[i]} was made with other options than ${dirs[0]}:\n` +
          diff.map((d) => `  ${d.key}: ${showValue(d.a)} in ${dirs[0]}, ${showValue(d.b)} in ${dirs[i]}`).join('\n') +
          '\nmerge only folders extracted with the same options',
      );
    }
  });
  if (existsSync(out) && (!statSync(out).isDirectory() || readdirSync(out).length > 0)) {
    throw new MergeError(`--out ${out} exists and is not an empty folder; give a new folder`);
  }

  // Check everything before writing: duplicates and the shards the manifests name.
  const seen = new Map<string, string>();
  manifests.forEach((lines, i) => {
    for (const l of lines) {
      const prev = seen.get(l.source);
      if (prev !== undefined) {
        throw new MergeError(
          `'${l.source}' appears in both ${prev} and ${dirs[i]}: each input must belong to one shard`,
        );
      }
      seen.set(l.source, dirs[i]!);
      if (l.status === 'ok' && !existsSync(join(dirs[i]!, l.shard))) {
        throw new MergeError(
          `${dirs[i]}: shard ${l.shard} of '${l.source}' is missing; rerun walt extract into ${dirs[i]} to recompute it`,
        );
      }
    }
  });

  mkdirSync(out, { recursive: true });
  const merged: ManifestLine[] = [];
  let next = 0;
  let linked = true;
  manifests.forEach((lines, i) => {
    const renamed = new Map<string, string>();
    for (const l of lines) {
      if (l.status !== 'ok') {
        merged.push(l);
        continue;
      }
      let name = renamed.get(l.shard);
      if (name === undefined) {
        name = `features-${String(next++).padStart(5, '0')}.safetensors`;
        linked = linkOrCopy(join(dirs[i]!, l.shard), join(out, name)) && linked;
        renamed.set(l.shard, name);
      }
      merged.push({ ...l, shard: name });
    }
  });
  const spec: RunSpec = {
    ...Object.fromEntries(Object.entries(first).filter(([k]) => !INFO_KEYS.includes(k))),
    keep_latents: specs.every((s) => s.keep_latents === true),
    shard: 'merged',
    merged_from: dirs.map((d) => resolve(d)),
  };
  await writeBytesAtomic(join(out, SPEC_FILE), specText(spec));
  await writeManifest(out, merged);
  return {
    items: merged.length,
    ok: merged.filter((l) => l.status === 'ok').length,
    errors: merged.filter((l) => l.status === 'error').length,
    shards: next,
    linked,
  };
}
