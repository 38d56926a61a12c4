// walt as a new user meets it: one clean line and exit 2 for every usage error (unknown flags,
// --blocks 99, a config that does not exist, --t 5000, an input that does not exist), a failed
// first run that leaves no folder behind, walt --version, walt pca naming the features it has.
import { existsSync, mkdirSync, mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { writeNpy } from '../../src/io/npy.js';
import pkg from '../../package.json';
import { sampleInputs, walt } from './helpers.js';

const root = mkdtempSync(join(tmpdir(), 'walt-usage-'));
const inputs = join(root, 'inputs');

beforeAll(async () => {
  await sampleInputs(root, inputs, { videos: 2, images: true });
}, 120_000);

/** stderr lines without Dawn's adapter warnings. */
const lines = (stderr: string): string[] =>
  stderr.split('\n').filter((l) => l !== '' && !l.startsWith('Warning: maxDynamic'));

describe('usage errors: one line, exit 2', () => {
  it('walt --version', () => {
    const r = walt(['--version']);
    expect(r.status).toBe(0);
    expect(r.stdout).toBe(`walt-webgpu ${pkg.version}\n`);
  });

  it('an unknown flag', () => {
    const r = walt(['extract', inputs, '--out', join(root, 'x'), '--fooo']);
    expect(r.status).toBe(2);
    expect(lines(r.stderr)).toEqual(['walt extract: unknown option --fooo (see walt extract --help)']);
    const near = walt(['extract', inputs, '--out', join(root, 'x'), '--weight', 'w']);
    expect(lines(near.stderr)).toEqual([
      'walt extract: unknown option --weight (did you mean --weights?) (see walt extract --help)',
    ]);
    const value = walt(['extract', inputs, '--out']);
    expect(lines(value.stderr)).toEqual(['walt extract: --out needs a value (see walt extract --help)']);
    const top = walt(['--frobnicate']);
    expect(top.status).toBe(2);
    expect(lines(top.stderr)).toEqual(["walt: unknown option '--frobnicate' (see walt --help)"]);
  });

  it('--blocks 99 names --blocks', () => {
    const r = walt(['extract', inputs, '--out', join(root, 'x'), '--blocks', '99']);
    expect(r.status).toBe(2);
    expect(lines(r.stderr)).toEqual(["walt extract: --blocks: '99' is not a block in 1…4 (1-based)"]);
  });

  it('forward: --config Q and --t 5000', async () => {
    const q = walt(['forward', '--config', 'Q', '--input', 'x.npy']);
    expect(q.status).toBe(2);
    expect(lines(q.stderr)).toHaveLength(1);
    expect(q.stderr).toMatch(/--config Q: not a built-in config/);
    const npy = join(root, 'x.npy');
    await writeNpy(npy, [1, 64, 64, 3], new Float32Array(64 * 64 * 3));
    const t = walt(['forward', '--config', 'test-tiny', '--input', npy, '--t', '5000']);
    expect(t.status).toBe(2);
    expect(lines(t.stderr)).toEqual(['walt forward: --t 5000: steps are 0…999']);
    const e = walt(['extract', inputs, '--out', join(root, 'x'), '--config', 'Q']);
    expect(e.status).toBe(2);
  });

  it('an input that does not exist is refused before the device starts, and nothing is written', () => {
    const out = join(root, 'never');
    const r = walt(['extract', inputs, join(root, 'nope.mp4'), '--out', out]);
    expect(r.status).toBe(2);
    expect(lines(r.stderr)).toEqual([`walt extract: '${join(root, 'nope.mp4')}': no such file or folder`]);
    expect(existsSync(out)).toBe(false);
  });
});

describe('a failed run never locks its folder', () => {
  it('--weights without --config fails its checks and writes nothing; the right options then work', () => {
    const w = join(root, 'w.safetensors');
    expect(walt(['init', '--config', 'test-tiny', '--seed', '1', '--out', w]).status).toBe(0);
    const out = join(root, 'feats');
    const bad = walt(['extract', inputs, '--out', out, '--weights', w, '--blocks', '2']);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/--weights: .* does not fit config 'L'/);
    expect(existsSync(out)).toBe(false);
    // An existing empty folder (made by the user) is not locked either.
    mkdirSync(out);
    expect(walt(['extract', inputs, '--out', out, '--weights', w, '--t', '100']).status).toBe(2);
    expect(readdirSync(out)).toEqual([]);
    const good = walt(['extract', inputs, '--out', out, '--weights', w, '--config', 'test-tiny', '--blocks', '2']);
    expect(good.status, good.stderr).toBe(0);
    expect(readdirSync(out).sort()).toEqual([
      'extract.json',
      'extract.log',
      'features-00000.safetensors',
      'manifest.jsonl',
    ]);
  });

  it('walt pca names the features that exist when asked for one that does not', () => {
    const out = join(root, 'feats');
    const r = walt(['pca', out, '--out', join(root, 'p.png'), '--feature', 't200/block.16']);
    expect(r.status).toBe(2);
    expect(lines(r.stderr)).toHaveLength(1);
    expect(r.stderr).toMatch(/--feature t200\/block\.16: .* has no such feature; it has t200\/block\.2/);
    const ok = walt(['pca', out, '--out', join(root, 'p.png')]);
    expect(ok.status, ok.stderr).toBe(0);
  });
});
