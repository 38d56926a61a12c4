// walt extract end to end on test-tiny (random weights): good and bad inputs, errors in the
// manifest, non-zero exit, a rerun that rewrites nothing, three shards equal one run, a damaged
// shard recomputed, and features equal to walt forward for the same t, noise and block.
import { spawnSync } from 'node:child_process';
import {
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  statSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { resolveShard } from '../../src/cli/extract-cmds.js';
import { itemNoise } from '../../src/extract/features.js';
import { readManifest } from '../../src/extract/manifest.js';
import { FeatureSet } from '../../src/extract/reader.js';
import { writeNpy } from '../../src/io/npy.js';
import { makeSample } from '../../src/io/sample.js';
import { loadConfig } from '../../src/model/config.js';
import { forwardClip } from '../../src/model/walt.js';
import { randomWeightValues, uploadWeights } from '../../src/model/weights.js';
import { Rng } from '../../src/util/rng.js';
import { expectRelToMax } from '../helpers/compare.js';
import { gpu } from '../helpers/gpu.js';

const CLI = join(process.cwd(), 'dist/cli.js');
const root = mkdtempSync(join(tmpdir(), 'walt-extract-'));
const inputs = join(root, 'inputs');
const run = (args: string[], env: Record<string, string> = {}) =>
  spawnSync(process.execPath, [CLI, 'extract', ...args], {
    encoding: 'utf8',
    timeout: 400_000,
    env: { ...process.env, ...env },
  });

/** Every file of a folder with its content (the log excluded). */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const f of readdirSync(dir).sort()) {
    if (!f.endsWith('.log')) {
      out[f] = `${statSync(join(dir, f)).mtimeMs}:${readFileSync(join(dir, f)).toString('base64')}`;
    }
  }
  return out;
}

async function features(dir: string): Promise<Map<string, string>> {
  const fs = FeatureSet.open(dir);
  const out = new Map<string, string>();
  for (const l of fs.lines) {
    if (l.status === 'ok') {
      const f = await fs.read(l.source, 't200/block.2');
      out.set(l.source, Buffer.from(f.data.buffer).toString('base64'));
    } else {
      out.set(l.source, `error:${l.reason}`);
    }
  }
  await fs.close();
  return out;
}

beforeAll(async () => {
  const sample = join(root, 'sample');
  const m = await makeSample(sample, { withBad: true });
  mkdirSync(inputs);
  // Three good videos with different codecs and sizes, one image, a truncated mp4, a text file named .mp4.
  const pick = (pred: (p: string) => boolean, n: number): string[] =>
    m.files
      .map((f) => f.path)
      .filter(pred)
      .slice(0, n);
  const good = [
    ...pick((p) => p.endsWith('.mp4') && p.includes('testsrc2'), 1),
    ...pick((p) => p.endsWith('.webm') && !p.includes('truncated'), 1),
    ...pick((p) => p.endsWith('.mov'), 1),
    ...pick((p) => p.endsWith('.png'), 1),
    ...pick((p) => p.endsWith('truncated.mp4'), 1),
    ...pick((p) => p.endsWith('notes.mp4'), 1),
  ];
  expect(good.length).toBe(6);
  for (const p of good) {
    copyFileSync(p, join(inputs, p.split('/').pop()!));
  }
}, 120_000);

describe('walt extract', () => {
  const one = join(root, 'one');

  it('extracts the good inputs, reports each bad one with its path and reason, exits non-zero', () => {
    const r = run([inputs, '--out', one, '--blocks', '2']);
    expect(r.status, r.stderr).toBe(1);
    const lines = readManifest(one);
    expect(lines.length).toBe(6);
    const ok = lines.filter((l) => l.status === 'ok');
    const bad = lines.filter((l) => l.status === 'error');
    expect(ok.length).toBe(4);
    expect(bad.map((l) => l.source.split('/').pop()).sort()).toEqual(['notes.mp4', 'truncated.mp4']);
    for (const l of bad) {
      expect(l.status === 'error' && l.error).toContain(l.source);
    }
    expect(r.stderr).toMatch(/4 extracted/);
    expect(r.stderr).toMatch(/2 failed/);
    // The failures are named on the terminal too, with the reason and the fix.
    expect(r.stderr).toMatch(/failed:\n {2}\S*notes\.mp4: not a video .*; remove it or fix its name/);
    expect(r.stderr).toMatch(/\n {2}\S*truncated\.mp4: /);
    // The manifest records the frames used.
    for (const l of ok) {
      expect(l.status === 'ok' && l.frame_indices.length).toBe(17);
      expect(l.status === 'ok' && l.kind).toMatch(/^(video|image)$/);
    }
    const video = ok.find((l) => l.status === 'ok' && l.kind === 'video');
    expect(video?.status === 'ok' && video.pts?.length).toBe(17);
    // The time split: disjoint wall-time stretches that add up to the run; GPU-busy time within it.
    const done =
      /done: .*?, ([\d.]+) s \(.*; wall: (.*?)(; GPU busy \(timestamps\): encoder ([\d.]+) s, denoiser ([\d.]+) s)?$/m.exec(
        readFileSync(join(one, 'extract.log'), 'utf8'),
      );
    expect(done, 'extract.log has a done: line').not.toBeNull();
    const total = Number(done![1]);
    const parts = [...done![2]!.matchAll(/([\w-]+) ([\d.]+) s/g)].map((m) => Number(m[2]));
    expect(Math.abs(parts.reduce((a, b) => a + b, 0) - total)).toBeLessThan(0.2);
    if (done![3]) {
      expect(Number(done![4]) + Number(done![5])).toBeLessThanOrEqual(total * 1.05);
      expect(Number(done![4])).toBeGreaterThan(0);
    }
  });

  it('a rerun rewrites nothing (every file but the log is byte-identical)', () => {
    const before = snapshot(one);
    const r = run([inputs, '--out', one, '--blocks', '2']);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/0 extracted, 6 already done/);
    expect(snapshot(one)).toEqual(before);
  });

  it('refuses to mix options in one folder, naming only the keys that differ', () => {
    const before = snapshot(one);
    const r = run([inputs, '--out', one, '--blocks', '1', '--t', '100']);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(
      /other options:\n {2}t: \[100\] here, \[200\] in the folder\n {2}blocks: \[1\] here, \[2\] in the folder\n/,
    );
    expect(r.stderr).not.toMatch(/"config"/);
    expect(snapshot(one)).toEqual(before);
  });

  it('three shards together equal one run, nothing missing or twice', async () => {
    const dirs = [0, 1, 2].map((i) => join(root, `shard-${i}`));
    for (const [i, d] of dirs.entries()) {
      // The last shard takes its index from the Kubernetes Indexed Job environment.
      const r =
        i < 2
          ? run([inputs, '--out', d, '--blocks', '2', '--shard', `${i}/3`])
          : run([inputs, '--out', d, '--blocks', '2'], { JOB_COMPLETION_INDEX: '2', WALT_SHARDS: '3' });
      expect([0, 1], r.stderr).toContain(r.status);
    }
    const merged = join(root, 'merged');
    const m = spawnSync(process.execPath, [CLI, 'merge', ...dirs, '--out', merged], { encoding: 'utf8' });
    expect(m.status, m.stderr).toBe(0);
    const all = await features(one);
    const union = await features(merged);
    expect([...union.keys()].sort()).toEqual([...all.keys()].sort());
    for (const [k, v] of all) {
      expect(union.get(k), k).toBe(v);
    }
    // Every shard wrote a manifest, also one that got no items.
    for (const d of dirs) {
      expect(readdirSync(d)).toContain('manifest.jsonl');
    }
  });

  it('a damaged shard is detected and only its items are recomputed', () => {
    const dir = join(root, 'damaged');
    run([inputs, '--out', dir, '--blocks', '2', '--shard-size-mb', '0']);
    const shards = readdirSync(dir).filter((f) => f.endsWith('.safetensors'));
    expect(shards.length).toBe(4); // one item per shard
    truncateSync(join(dir, shards[1]!), 100);
    const r = run([inputs, '--out', dir, '--blocks', '2', '--shard-size-mb', '0']);
    expect(r.stderr).toMatch(/1 extracted, 5 already done/);
    expect(readManifest(dir).filter((l) => l.status === 'ok').length).toBe(4);
  });

  it('features equal walt forward for the same t, noise and block', async () => {
    const ctx = await gpu();
    const cfg = loadConfig('test-tiny');
    const clip = new Rng(5).uniforms(17 * 64 * 64 * 3);
    const npy = join(root, 'clip.npy');
    await writeNpy(npy, [17, 64, 64, 3], clip);
    const dir = join(root, 'vs-forward');
    const r = run([npy, '--out', dir, '--blocks', '3', '--t', '150', '--noise-seed', '11', '--weights-seed', '4']);
    expect(r.status, r.stderr).toBe(0);
    const fs = FeatureSet.open(dir);
    const got = await fs.read(npy, 't150/block.3');
    await fs.close();
    const W = uploadWeights(ctx, cfg, randomWeightValues(cfg, 4), { needEncoder: true });
    const want = await forwardClip(ctx, W, {
      input: clip,
      inputShape: [17, 64, 64, 3],
      latent: false,
      t: 150,
      noise: itemNoise(npy, 5 * 8 * 8 * 8, 11),
      taps: [3],
      final: false,
    });
    W.dispose();
    expect(got.shape).toEqual([5, 8, 8, 64]);
    expectRelToMax(got.data, want.blocks.get(3)!.data, 1e-5, 'extract vs forward');
  });
});

describe('walt extract options', () => {
  it('batched runs equal unbatched ones; pooling, f16 storage and several t', async () => {
    const a = join(root, 'b1');
    const b = join(root, 'b3');
    expect(run([inputs, '--out', a, '--blocks', '2', '--batch', '1']).status).toBe(1);
    expect(run([inputs, '--out', b, '--blocks', '2', '--batch', '3']).status).toBe(1);
    const fa = FeatureSet.open(a);
    const fb = FeatureSet.open(b);
    for (const it of fa.ok) {
      expectRelToMax(
        (await fb.read(it.source, 't200/block.2')).data,
        (await fa.read(it.source, 't200/block.2')).data,
        1e-6,
        it.source,
      );
    }
    await fa.close();
    await fb.close();
    const c = join(root, 'pooled');
    expect(
      run([inputs, '--out', c, '--blocks', '1,2', '--t', '100,200', '--pool', 'space', '--dtype', 'f16']).status,
    ).toBe(1);
    const fc = FeatureSet.open(c);
    const it = fc.ok[0]!;
    expect(Object.keys(it.tensors).sort()).toEqual(['t100/block.1', 't100/block.2', 't200/block.1', 't200/block.2']);
    expect(it.tensors['t200/block.2']).toEqual({ shape: [5, 64], dtype: 'F16' });
    // Pooling is the mean over space of the unpooled features.
    const fa2 = FeatureSet.open(a);
    const full = (await fa2.read(it.source, 't200/block.2')).data;
    await fa2.close();
    const pooled = (await fc.read(it.source, 't200/block.2')).data;
    const mean = new Float32Array(5 * 64);
    for (let t = 0; t < 5; t++) {
      for (let p = 0; p < 64; p++) {
        for (let ch = 0; ch < 64; ch++) {
          mean[t * 64 + ch]! += full[(t * 64 + p) * 64 + ch]! / 64;
        }
      }
    }
    expectRelToMax(pooled, mean, 2e-3, 'space pool (f16)');
    await fc.close();
  });

  it('image model: every frame its own image (independent), resampled to 17', () => {
    const d = join(root, 'image-model');
    const r = run([inputs, '--out', d, '--config', 'test-tiny-i', '--blocks', '3']);
    expect(r.status, r.stderr).toBe(1);
    const ok = readManifest(d).filter((l) => l.status === 'ok');
    expect(ok.length).toBe(4);
    for (const l of ok) {
      expect(l.status === 'ok' && l.tensors['t200/block.3']!.shape).toEqual([17, 8, 8, 64]);
    }
    const v = join(root, 'video-resampled');
    expect(run([inputs, '--out', v, '--blocks', '1', '--resample', '17', '--pool', 'time']).status).toBe(1);
    const l = readManifest(v).find((x) => x.status === 'ok');
    expect(l?.status === 'ok' && l.tensors['t200/block.1']!.shape).toEqual([8, 8, 64]);
  });
});

describe('shard selection', () => {
  it('from --shard, JOB_COMPLETION_INDEX or Slurm (0-based)', () => {
    expect(resolveShard('2/5', undefined, {})).toEqual({ index: 2, count: 5 });
    expect(resolveShard(undefined, 4, { JOB_COMPLETION_INDEX: '3' })).toEqual({ index: 3, count: 4 });
    expect(
      resolveShard(undefined, undefined, {
        SLURM_ARRAY_TASK_ID: '5',
        SLURM_ARRAY_TASK_COUNT: '4',
        SLURM_ARRAY_TASK_MIN: '2',
      }),
    ).toEqual({
      index: 3,
      count: 4,
    });
    expect(resolveShard(undefined, undefined, {})).toEqual({ index: 0, count: 1 });
    expect(() => resolveShard('3/3', undefined, {})).toThrow(/0 ≤ i < N/);
    expect(() => resolveShard(undefined, undefined, { JOB_COMPLETION_INDEX: '1' })).toThrow(/--shards/);
    writeFileSync(join(root, 'x'), '');
  });
});
