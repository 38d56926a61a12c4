// Shared by the extraction tests: the built CLI, sample inputs, and feature bytes per item.
import { spawn, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { copyFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { FeatureSet } from '../../src/extract/reader.js';
import { makeSample } from '../../src/io/sample.js';

export const CLI = join(process.cwd(), 'dist/cli.js');

/** Runs `walt ARGS…` to the end. */
export function walt(args: string[], env: Record<string, string> = {}): SpawnSyncReturns<string> {
  return spawnSync(process.execPath, [CLI, ...args], {
    encoding: 'utf8',
    timeout: 400_000,
    env: { ...process.env, ...env },
  });
}

/** Starts `walt ARGS…`: the child, its stderr so far, and its end (exit code and stderr). */
export function waltAsync(args: string[]): {
  child: ReturnType<typeof spawn>;
  stderr: () => string;
  done: Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>;
} {
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => {
    stderr += c.toString('utf8');
  });
  const done = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>((res) => {
    child.on('close', (code, signal) => res({ code, signal, stderr }));
  });
  return { child, stderr: () => stderr, done };
}

/**
 * Copies the sample's good videos (and, with `images`, its two images) into `dir`; returns the
 * copies' paths in name order.
 */
export async function sampleInputs(
  root: string,
  dir: string,
  opts: { videos?: number; images?: boolean } = {},
): Promise<string[]> {
  const m = await makeSample(join(root, 'sample'));
  mkdirSync(dir, { recursive: true });
  const videos = m.files.filter((f) => f.kind === 'video').slice(0, opts.videos ?? 6);
  const images = opts.images ? m.files.filter((f) => f.kind === 'image') : [];
  return [...videos, ...images]
    .map((f) => {
      const dst = join(dir, f.path.split('/').pop()!);
      copyFileSync(f.path, dst);
      return dst;
    })
    .sort();
}

/** Every feature (and status) of a folder: `source name` → base64 of the f32 bytes, or `error:reason`. */
export async function featureBytes(dir: string): Promise<Map<string, string>> {
  const fs = FeatureSet.open(dir);
  const out = new Map<string, string>();
  try {
    for (const l of fs.lines) {
      if (l.status !== 'ok') {
        out.set(l.source, `error:${l.reason}`);
        continue;
      }
      for (const name of Object.keys(l.tensors)) {
        const f = await fs.read(l.source, name);
        out.set(
          `${l.source} ${name}`,
          Buffer.from(f.data.buffer, f.data.byteOffset, f.data.byteLength).toString('base64'),
        );
      }
    }
  } finally {
    await fs.close();
  }
  return out;
}
