// extract.json: the options that define a folder's features. A rerun into the folder must ask for
// the same ones, and `walt merge` joins only folders whose options agree; both name the keys that
// differ. Also the weights digest that identifies the weights by content, not by path.
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export const SPEC_FILE = 'extract.json';

/** The options of a run, as stored in DIR/extract.json (JSON values only). */
export type RunSpec = Record<string, unknown>;

/** Keys kept for information only: never compared. */
export const INFO_KEYS: readonly string[] = ['weights_path', 'latents_from', 'merged_from'];
/** Keys that may differ between the folders `walt merge` joins (they do not change the features). */
export const MERGE_FREE_KEYS: readonly string[] = ['shard', 'keep_latents', ...INFO_KEYS];

/** Options that cannot work: the run stops before it writes anything (the CLI exits 2). */
export class OptionsError extends Error {
  override name = 'OptionsError';
}

/** Reads DIR/extract.json; null when the folder has none. A malformed file is an error naming it. */
export function readSpec(dir: string): RunSpec | null {
  const path = join(dir, SPEC_FILE);
  if (!existsSync(path)) {
    return null;
  }
  try {
    const v = JSON.parse(readFileSync(path, 'utf8')) as unknown;
    if (typeof v !== 'object' || v === null || Array.isArray(v)) {
      throw new Error('not a JSON object');
    }
    return v as RunSpec;
  } catch (e) {
    throw new OptionsError(
      `${path} is not readable (${e instanceof Error ? e.message : String(e)}); fix or delete it, or use another --out folder`,
    );
  }
}

/** The text stored in extract.json (2-space JSON, one trailing newline). */
export function specText(spec: RunSpec): string {
  return `${JSON.stringify(spec, null, 2)}\n`;
}

/** One key whose values differ between two specs (undefined: the key is absent). */
export interface SpecDifference {
  key: string;
  a: unknown;
  b: unknown;
}

/** The keys (outside `ignore`) whose values differ, in the order of `a`'s keys, then `b`'s. */
export function specDifferences(a: RunSpec, b: RunSpec, ignore: readonly string[]): SpecDifference[] {
  const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].filter((k) => !ignore.includes(k));
  return keys
    .filter((k) => JSON.stringify(a[k]) !== JSON.stringify(b[k]))
    .map((key) => ({ key, a: a[key], b: b[key] }));
}

/** A spec value for a message: JSON, `(none)` when absent. */
export function showValue(v: unknown): string {
  return v === undefined ? '(none)' : JSON.stringify(v);
}

/**
 * The weights' identity in extract.json: `sha256:<hex>` of the file's bytes (a moved or renamed
 * copy has the same digest; a retrained checkpoint another), or `random:<seed>` for seeded random
 * weights.
 */
export async function weightsDigest(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 22 })) {
    h.update(chunk as Buffer);
  }
  return `sha256:${h.digest('hex')}`;
}
