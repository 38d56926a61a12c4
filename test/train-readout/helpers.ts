// Shared by the training tests: fake `walt extract` folders (manifest + one shard of seeded
// random features, no GPU), the batch worker built with esbuild, and the CLI.
import { spawn, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { build } from 'esbuild';
import { writeSafetensors } from '../../src/io/safetensors.js';
import { itemKey } from '../../src/extract/run.js';
import { Rng } from '../../src/util/rng.js';

export const CLI = join(process.cwd(), 'dist/cli.js');

/** Runs `walt ARGS…` to the end (in `cwd`). */
export function walt(args: string[], cwd = process.cwd()): SpawnSyncReturns<string> {
  return spawnSync(process.execPath, [CLI, ...args], {
    cwd,
    encoding: 'utf8',
    timeout: 300_000,
    env: { ...process.env, XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? '/tmp' },
  });
}

/** Starts `walt ARGS…`; `stderr()` is what it wrote so far; `done` its end. */
export function waltAsync(
  args: string[],
  cwd = process.cwd(),
): {
  child: ReturnType<typeof spawn>;
  stderr: () => string;
  done: Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>;
} {
  const child = spawn(process.execPath, [CLI, ...args], {
    cwd,
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? '/tmp' },
  });
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => {
    stderr += c.toString('utf8');
  });
  const done = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>((res) => {
    child.on('close', (code, signal) => res({ code, signal, stderr }));
  });
  return { child, stderr: () => stderr, done };
}

/** Dawn's adapter warnings, which every GPU command prints on lavapipe. */
export function withoutDawnWarnings(s: string): string {
  return s
    .split('\n')
    .filter((l) => !l.startsWith('Warning: maxDynamic'))
    .join('\n');
}

export interface FakeItem {
  source: string;
  status?: 'ok' | 'error';
  frames?: number;
}

/**
 * A folder shaped like `walt extract`'s output: manifest.jsonl, extract.json and one shard of
 * seeded N(0, 1) features `[T', h, w, C]` per ok item under `feature` (default t200/block.2).
 * @returns the features of each ok item by source
 */
export async function fakeFeatures(
  dir: string,
  items: readonly FakeItem[],
  shape: readonly number[] = [5, 2, 3, 8],
  opts: { seed?: number; features?: readonly string[]; dtype?: 'F32' | 'F16' } = {},
): Promise<Map<string, Float32Array>> {
  mkdirSync(dir, { recursive: true });
  const rng = new Rng(opts.seed ?? 1);
  const names = opts.features ?? ['t200/block.2'];
  const n = shape.reduce((a, b) => a * b, 1);
  const tensors: { name: string; shape: readonly number[]; data: Float32Array; dtype: 'F32' | 'F16' }[] = [];
  const lines: string[] = [];
  const out = new Map<string, Float32Array>();
  for (const it of items) {
    if (it.status === 'error') {
      lines.push(
        JSON.stringify({
          source: it.source,
          status: 'error',
          kind: 'video',
          error: `${it.source}: corrupt; re-encode it`,
          reason: 'corrupt',
        }),
      );
      continue;
    }
    const key = itemKey(it.source);
    const t: Record<string, { shape: readonly number[]; dtype: string }> = {};
    for (const name of names) {
      const data = rng.normals(n);
      tensors.push({ name: `${key}/${name}`, shape, data, dtype: opts.dtype ?? 'F32' });
      t[name] = { shape, dtype: opts.dtype ?? 'F32' };
      if (name === names[0]) {
        out.set(it.source, data);
      }
    }
    const frames = it.frames ?? 17;
    lines.push(
      JSON.stringify({
        source: it.source,
        status: 'ok',
        kind: 'video',
        key,
        shard: 'features-00000.safetensors',
        tensors: t,
        frame_indices: Array.from({ length: frames }, (_, i) => i),
        pts: Array.from({ length: frames }, (_, i) => i / 12),
      }),
    );
  }
  await writeSafetensors(join(dir, 'features-00000.safetensors'), tensors);
  writeFileSync(join(dir, 'manifest.jsonl'), `${lines.join('\n')}\n`);
  writeFileSync(join(dir, 'extract.json'), `${JSON.stringify({ config: 'fake', seed: opts.seed ?? 1 })}\n`);
  return out;
}

let workerBuild: Promise<string> | null = null;

/** The batch worker bundled into `dir` (as tools/build.mjs would), once per test file. */
export function buildWorker(dir: string): Promise<string> {
  workerBuild ??= build({
    entryPoints: { 'train-worker': 'src/train-readout/batch-worker.ts' },
    outdir: dir,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    logLevel: 'warning',
  }).then(() => join(dir, 'train-worker.js'));
  return workerBuild;
}
