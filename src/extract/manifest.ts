// manifest.jsonl: one line per input, in input order. Deterministic content only (no times or
// durations: those go to extract.log), so a rerun that has nothing to do rewrites nothing.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SafetensorsFile } from '../io/safetensors.js';
import { writeBytesAtomic } from '../util/atomic.js';

export interface TensorInfo {
  shape: number[];
  dtype: 'F32' | 'F16';
}

/** What an input is: a video, a still image (replicated to the clip length) or a .npy clip. */
export type ItemKind = 'video' | 'image' | 'npy' | 'unknown';

/** An extracted item. */
export interface ManifestOk {
  /** The input's path as found (on the command line, in a list file or by the folder walk). */
  source: string;
  status: 'ok';
  kind: ItemKind;
  /** Tensor group of this item inside its shard: tensors are named `<key>/<name>`. */
  key: string;
  /** Shard file, relative to the manifest's folder. */
  shard: string;
  /** Feature name (e.g. t200/block.16) → shape and dtype. Only features: the latents are apart. */
  tensors: Record<string, TensorInfo>;
  /**
   * With `--keep-latents`: `z0` (the normalised latent, the model's dtype) and `eps` (its noise,
   * F32), both (n, T', h, w, c) with n = 1, or the frame count for an image model's independent
   * frames; stored in the shard as `<key>/latent/z0` and `<key>/latent/eps`.
   */
  latents?: { z0: TensorInfo; eps: TensorInfo };
  /** The source frame (decoded-frame index, 0-based) of each frame of the clip; 0s for an image. */
  frame_indices: number[];
  /** Videos: the presentation time in seconds of each frame used (null where the file has none). */
  pts?: (number | null)[];
  warnings?: string[];
  /** The label column of a list file. */
  label?: string;
}

/** An input that failed; a rerun skips it unless `--retry-errors`. */
export interface ManifestError {
  source: string;
  status: 'error';
  kind?: ItemKind;
  /** `<source>: <what is wrong>; <what to do>`. */
  error: string;
  /** Why, for filtering: missing, unreadable, unsupported, not-media, empty, truncated, corrupt, no-frames, … */
  reason?: string;
  label?: string;
}

export type ManifestLine = ManifestOk | ManifestError;

export const MANIFEST = 'manifest.jsonl';

/** Reads DIR/manifest.jsonl (empty when absent). A malformed line is an error naming the line. */
export function readManifest(dir: string): ManifestLine[] {
  const path = join(dir, MANIFEST);
  if (!existsSync(path)) {
    return [];
  }
  const text = readFileSync(path, 'utf8');
  return text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l, i) => {
      try {
        const v = JSON.parse(l) as ManifestLine;
        if (typeof v.source !== 'string' || (v.status !== 'ok' && v.status !== 'error')) {
          throw new Error('missing source/status');
        }
        return v;
      } catch (e) {
        throw new Error(
          `${path}:${i + 1}: not a manifest line (${e instanceof Error ? e.message : String(e)}); fix or delete it`,
        );
      }
    });
}

export function manifestText(lines: readonly ManifestLine[]): string {
  return lines.map((l) => JSON.stringify(l)).join('\n') + (lines.length ? '\n' : '');
}

/** Writes the manifest atomically, and only when its content changes. Returns whether it wrote. */
export async function writeManifest(dir: string, lines: readonly ManifestLine[]): Promise<boolean> {
  const path = join(dir, MANIFEST);
  const text = manifestText(lines);
  if (existsSync(path) && readFileSync(path, 'utf8') === text) {
    return false;
  }
  await writeBytesAtomic(path, text);
  return true;
}

/**
 * Checks that every ok item's shard exists and holds its tensors with the recorded shapes
 * (header and sizes; a damaged or deleted shard invalidates only its items). Returns the
 * sources whose features must be recomputed, with the reason per shard.
 */
export async function damagedItems(
  dir: string,
  lines: readonly ManifestLine[],
): Promise<{ sources: Set<string>; problems: string[] }> {
  const byShard = new Map<string, ManifestOk[]>();
  for (const l of lines) {
    if (l.status === 'ok') {
      const list = byShard.get(l.shard) ?? [];
      list.push(l);
      byShard.set(l.shard, list);
    }
  }
  const sources = new Set<string>();
  const problems: string[] = [];
  for (const [shard, items] of byShard) {
    const path = join(dir, shard);
    let file: SafetensorsFile | null = null;
    try {
      file = await SafetensorsFile.open(path);
      for (const it of items) {
        const all: Record<string, TensorInfo> = { ...it.tensors };
        if (it.latents) {
          all['latent/z0'] = it.latents.z0;
          all['latent/eps'] = it.latents.eps;
        }
        for (const [name, info] of Object.entries(all)) {
          const e = file.tensors.get(`${it.key}/${name}`);
          if (!e || e.shape.join() !== info.shape.join() || e.dtype !== info.dtype) {
            throw new Error(`tensor ${it.key}/${name} is missing or has another shape`);
          }
        }
      }
    } catch (e) {
      problems.push(`${shard}: ${e instanceof Error ? e.message : String(e)}; recomputing its ${items.length} item(s)`);
      for (const it of items) {
        sources.add(it.source);
      }
    } finally {
      await file?.close();
    }
  }
  return { sources, problems };
}
