// walt merge: joins shard runs' manifests into one manifest whose shard paths are relative to the
// merged folder. No feature data is copied.
import { mkdirSync } from 'node:fs';
import { relative, resolve } from 'node:path';
import { readManifest, writeManifest, type ManifestLine } from './manifest.js';

export async function mergeManifests(
  dirs: readonly string[],
  out: string,
): Promise<{ items: number; ok: number; errors: number }> {
  mkdirSync(out, { recursive: true });
  const seen = new Map<string, string>();
  const merged: ManifestLine[] = [];
  for (const dir of dirs) {
    for (const l of readManifest(dir)) {
      const prev = seen.get(l.source);
      if (prev !== undefined) {
        throw new Error(`'${l.source}' appears in both ${prev} and ${dir}: each input must belong to one shard`);
      }
      seen.set(l.source, dir);
      merged.push(l.status === 'ok' ? { ...l, shard: relative(resolve(out), resolve(dir, l.shard)) } : l);
    }
  }
  merged.sort((a, b) => (a.source < b.source ? -1 : a.source > b.source ? 1 : 0));
  await writeManifest(out, merged);
  return {
    items: merged.length,
    ok: merged.filter((l) => l.status === 'ok').length,
    errors: merged.filter((l) => l.status === 'error').length,
  };
}
