// Stopping like a cluster expects: SIGTERM in the middle of a run finishes the current batch and
// shard and exits 143; a rerun skips what was written and computes the rest (no batch twice),
// and the features are bit-identical to an uninterrupted run. A second signal (or a grace period
// of 0) stops at once; the rerun still completes the folder.
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { beforeAll, describe, expect, it } from 'vitest';
import { readManifest } from '../../src/extract/manifest.js';
import { featureBytes, sampleInputs, walt, waltAsync } from './helpers.js';

const root = mkdtempSync(join(tmpdir(), 'walt-signals-'));
const inputs = join(root, 'inputs');
const ref = join(root, 'ref');
// One clip per batch and per shard: every finished batch is on disk at once.
const OPTS = ['--blocks', '2', '--batch', '1', '--shard-size-mb', '0', '--workers', '1'];
let refBytes: Map<string, string>;

beforeAll(async () => {
  await sampleInputs(root, inputs, { videos: 6, images: true });
  const r = walt(['extract', inputs, '--out', ref, ...OPTS]);
  expect(r.status, r.stderr).toBe(0);
  refBytes = await featureBytes(ref);
  expect(refBytes.size).toBe(8);
}, 400_000);

/** Waits until DIR holds `n` shard files (or the process ends). */
async function shardsOnDisk(dir: string, n: number, done: { value: boolean }): Promise<void> {
  for (let i = 0; i < 3000 && !done.value; i++) {
    if (existsSync(dir) && readdirSync(dir).filter((f) => /^features-\d+\.safetensors$/.test(f)).length >= n) {
      return;
    }
    await sleep(50);
  }
}

/** Batches of every finished run, from extract.log's "done:" lines. */
function batchesInLog(dir: string): number[] {
  return [...readFileSync(join(dir, 'extract.log'), 'utf8').matchAll(/ done: .*?, (\d+) batches,/g)].map((m) =>
    Number(m[1]),
  );
}

describe('SIGTERM', () => {
  it('finishes the current batch and shard, exits 143; the rerun completes it, bit-identical, no batch twice', async () => {
    const dir = join(root, 'term');
    const { child, done } = waltAsync(['extract', inputs, '--out', dir, ...OPTS]);
    const ended = { value: false };
    void done.then(() => (ended.value = true));
    await shardsOnDisk(dir, 1, ended);
    expect(ended.value, 'the run ended before it could be interrupted').toBe(false);
    child.kill('SIGTERM');
    const r = await done;
    expect(r.code, r.stderr).toBe(143);
    expect(r.stderr).toMatch(/SIGTERM: finishing the current batch and shard \(up to 25 s/);
    expect(r.stderr).toMatch(/interrupted by SIGTERM: the items written stay done/);
    const first = readManifest(dir).filter((l) => l.status === 'ok').length;
    expect(first).toBeGreaterThanOrEqual(1);
    expect(first).toBeLessThan(8);
    expect(readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);

    const again = walt(['extract', inputs, '--out', dir, ...OPTS]);
    expect(again.status, again.stderr).toBe(0);
    expect(again.stderr).toMatch(new RegExp(`${8 - first} extracted, ${first} already done`));
    expect(await featureBytes(dir)).toEqual(refBytes);
    // One shard per clip and one batch per clip: nothing was computed twice.
    expect(readdirSync(dir).filter((f) => f.endsWith('.safetensors')).length).toBe(8);
    const batches = batchesInLog(dir);
    expect(batches.reduce((a, b) => a + b, 0)).toBe(8);
  });

  it('a second signal stops at once; the unfinished shard is recomputed by the rerun', async () => {
    const dir = join(root, 'twice');
    // Default shard size: every clip waits in the one unfinished shard until the end. Batches of 4
    // (seconds each here), so the second signal lands while the first batch is still computed.
    const opts = ['--blocks', '2', '--batch', '4', '--workers', '1'];
    const { child, stderr, done } = waltAsync(['extract', inputs, '--out', dir, ...opts]);
    const ended = { value: false };
    void done.then(() => (ended.value = true));
    // Wait for the device to start, then for a batch or two to be under way.
    for (let i = 0; i < 1200 && !ended.value && !/walt extract: device /.test(stderr()); i++) {
      await sleep(50);
    }
    await sleep(1500);
    child.kill('SIGTERM');
    // The second signal as soon as the first is handled (signals sent closer together can merge).
    for (let i = 0; i < 400 && !ended.value && !/SIGTERM: finishing/.test(stderr()); i++) {
      await sleep(25);
    }
    child.kill('SIGTERM');
    const t0 = performance.now();
    const r = await done;
    expect(performance.now() - t0).toBeLessThan(15_000);
    expect({ code: r.code, signal: r.signal }, r.stderr).toEqual({ code: 143, signal: null });
    expect(r.stderr).toMatch(/SIGTERM: stopping now/);
    expect(r.stderr).toMatch(/stopped at once/);
    expect(readManifest(dir).filter((l) => l.status === 'ok').length).toBe(0);
    const again = walt(['extract', inputs, '--out', dir, ...opts]);
    expect(again.status, again.stderr).toBe(0);
    expect(await featureBytes(dir)).toEqual(refBytes);
  });

  it('--grace-seconds 0: the first signal stops at once', async () => {
    const dir = join(root, 'nograce');
    const { child, done } = waltAsync(['extract', inputs, '--out', dir, ...OPTS, '--grace-seconds', '0']);
    const ended = { value: false };
    void done.then(() => (ended.value = true));
    await shardsOnDisk(dir, 1, ended);
    child.kill('SIGINT');
    const r = await done;
    expect(r.code, r.stderr).toBe(130);
    expect(r.stderr).toMatch(/grace period is over: stopping now/);
    const again = walt(['extract', inputs, '--out', dir, ...OPTS]);
    expect(again.status, again.stderr).toBe(0);
    expect(await featureBytes(dir)).toEqual(refBytes);
  });
});
