import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DecodePool, type DecodeResult } from '../../src/io/decode-pool.js';
import { handleRequest } from '../../src/io/decode-worker.js';
import { expandInputs, type InputItem } from '../../src/io/inputs.js';
import { loadClip } from '../../src/io/media.js';
import { MediaError } from '../../src/io/media-error.js';
import { writeNpyClip } from '../../src/io/npy-clip.js';
import { makeSample, type SampleManifest } from '../../src/io/sample.js';

let dir: string;
let sample: SampleManifest;
let items: InputItem[];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'walt-pool-'));
  sample = await makeSample(dir, { withBad: true });
  const npy = join(dir, 'clip.npy');
  await writeNpyClip(
    npy,
    [6, 20, 30, 3],
    Uint8Array.from({ length: 6 * 20 * 30 * 3 }, (_, i) => i % 256),
  );
  items = await expandInputs([
    join(dir, 'videos'),
    join(dir, 'bad'),
    join(dir, 'images'),
    npy,
    join(dir, 'missing.mp4'),
  ]);
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function collect(
  pool: DecodePool,
  input: Iterable<InputItem> | AsyncIterable<InputItem>,
): Promise<DecodeResult[]> {
  const out: DecodeResult[] = [];
  for await (const r of pool.decode(input)) {
    out.push(r);
  }
  return out;
}

function same(a: Float32Array, b: Float32Array): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

describe('DecodePool', () => {
  it('yields one result per item, in input order, with errors inline', async () => {
    const pool = new DecodePool({ concurrency: 3, clip: { frames: 5, size: [32, 32], verify: true } });
    async function* slowSource(): AsyncGenerator<InputItem> {
      for (const it of items) {
        await new Promise((r) => setTimeout(r, 1));
        yield it;
      }
    }
    for (const input of [items, slowSource()]) {
      const results = await collect(pool, input);
      expect(results.map((r) => r.index)).toEqual(items.map((_, i) => i));
      expect(results.map((r) => r.item)).toEqual(items);
      for (const r of results) {
        const bad = sample.files.find((f) => f.path === r.item.path)?.bad;
        if (r.item.path.endsWith('missing.mp4')) {
          expect(r.error?.reason).toBe('missing');
        } else if (bad !== undefined) {
          expect(r.error, r.item.source).toBeInstanceOf(MediaError);
          expect(r.error?.reason).toBe(bad);
          expect(r.error?.path).toBe(r.item.path);
        } else {
          expect(r.error, r.item.source).toBeUndefined();
          expect(r.ok?.shape).toEqual([5, 32, 32, 3]);
        }
      }
    }
    await pool.close();
  });

  it('matches loadClip exactly', async () => {
    const pool = new DecodePool({ concurrency: 2, clip: { frames: 4, stride: 2, start: 'center', size: [24, 40] } });
    const good = items.filter((it) => !it.source.includes('bad') && !it.source.includes('missing'));
    for await (const r of pool.decode(good)) {
      const ref = await loadClip(r.item, { frames: 4, stride: 2, start: 'center', size: [24, 40] });
      expect(r.ok?.framesUsed).toEqual(ref.framesUsed);
      expect(same(r.ok!.data, ref.data)).toBe(true);
    }
    await pool.close();
  });

  it('stops promptly when the consumer breaks out, and on abort', async () => {
    const pool = new DecodePool({ concurrency: 2, lookahead: 4, clip: { frames: 3 } });
    const many = Array.from({ length: 200 }, () => items[0]!);
    let n = 0;
    const t0 = performance.now();
    for await (const r of pool.decode(many)) {
      expect(r.ok).toBeDefined();
      if (++n === 3) {
        break;
      }
    }
    expect(performance.now() - t0).toBeLessThan(10_000);

    const ac = new AbortController();
    const seen: number[] = [];
    const run = (async () => {
      for await (const r of pool.decode(many, ac.signal)) {
        seen.push(r.index);
        if (seen.length === 2) {
          ac.abort(new Error('stop now'));
        }
      }
    })();
    await expect(run).rejects.toThrow('stop now');
    expect(seen).toEqual([0, 1]);
    await pool.close();
  });

  it('converts in worker threads when given the built worker, with identical results', async () => {
    const outdir = await mkdtemp(join(tmpdir(), 'walt-worker-'));
    try {
      await build({
        entryPoints: { 'decode-worker': 'src/io/decode-worker.ts' },
        outdir,
        outExtension: { '.js': '.mjs' },
        bundle: true,
        platform: 'node',
        format: 'esm',
        logLevel: 'warning',
      });
      const opts = { frames: 4, size: [24, 24] as const };
      const pool = new DecodePool({
        concurrency: 2,
        clip: opts,
        workerUrl: pathToFileURL(join(outdir, 'decode-worker.mjs')),
      });
      expect(pool.usesWorkers).toBe(true);
      const good = items.filter((it) => !it.source.includes('bad') && !it.source.includes('missing'));
      const results = await collect(pool, good);
      expect(pool.usesWorkers).toBe(true);
      for (const r of results) {
        const ref = await loadClip(r.item, opts);
        expect(same(r.ok!.data, ref.data), r.item.source).toBe(true);
      }
      await pool.close();
    } finally {
      await rm(outdir, { recursive: true, force: true });
    }
  });

  it('falls back to in-process conversion when the worker cannot start', async () => {
    const pool = new DecodePool({ concurrency: 2, clip: { frames: 2 }, workerUrl: join(dir, 'no-such-worker.mjs') });
    const results = await collect(pool, items.slice(0, 3));
    expect(results.every((r) => r.ok !== undefined)).toBe(true);
    expect(pool.usesWorkers).toBe(false);
    await pool.close();
  });
});

describe('decode worker handler', () => {
  it('converts rgb24 and reports errors as messages', () => {
    const ok = handleRequest({ id: 1, op: 'rgb24', bytes: Uint8Array.of(0, 255, 51), frameSize: 3, frameMap: [0, 0] });
    expect(ok).toEqual({ id: 1, ok: true, data: Float32Array.of(0, 1, 0.2, 0, 1, 0.2) });
    const bad = handleRequest({ id: 2, op: 'rgb24', bytes: Uint8Array.of(0, 1, 2), frameSize: 3, frameMap: [1] });
    expect(bad).toMatchObject({ id: 2, ok: false });
  });
});
