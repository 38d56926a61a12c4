// walt merge that checks: folders made with other options (a t100 run and a t200 run), missing or
// empty folders are refused with the folder named; compatible folders merge into a self-contained
// folder (shards linked in) that still reads after it is moved; the manifest keeps the order of
// the folders given, each in its input order.
import { existsSync, mkdirSync, mkdtempSync, readdirSync, renameSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { readManifest } from '../../src/extract/manifest.js';
import { featureBytes, sampleInputs, walt } from './helpers.js';

const root = mkdtempSync(join(tmpdir(), 'walt-merge-'));
const inputs = join(root, 'inputs');
const dirs = {
  a100: join(root, 'a-t100'),
  b100: join(root, 'b-t100'),
  b200: join(root, 'b-t200'),
};

beforeAll(async () => {
  await sampleInputs(root, inputs, { videos: 3, images: true });
  const run = (out: string, t: string, shard: string): void => {
    const r = walt(['extract', inputs, '--out', out, '--blocks', '1', '--t', t, '--shard', shard]);
    expect(r.status, r.stderr).toBe(0);
  };
  run(dirs.a100, '100', '0/2');
  run(dirs.b100, '100', '1/2');
  run(dirs.b200, '200', '1/2');
}, 400_000);

const merge = (args: string[]) => walt(['merge', ...args]);

describe('walt merge', () => {
  it('refuses a t100 run with a t200 run, naming the key', () => {
    const out = join(root, 'mixed');
    const r = merge([dirs.a100, dirs.b200, '--out', out]);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(`${dirs.b200} was made with other options than ${dirs.a100}:`);
    expect(r.stderr).toContain(`t: [100] in ${dirs.a100}, [200] in ${dirs.b200}`);
    expect(existsSync(out)).toBe(false);
  });

  it('refuses missing and empty folders, naming them', () => {
    const missing = merge([dirs.a100, join(root, 'nope'), '--out', join(root, 'm1')]);
    expect(missing.status).toBe(1);
    expect(missing.stderr).toContain(`${join(root, 'nope')}: no such folder`);
    const empty = join(root, 'empty');
    mkdirSync(empty);
    const e = merge([dirs.a100, empty, '--out', join(root, 'm2')]);
    expect(e.status).toBe(1);
    expect(e.stderr).toContain(`${empty}: not a finished walt extract folder`);
    expect(existsSync(join(root, 'm1')) || existsSync(join(root, 'm2'))).toBe(false);
  });

  it('merges compatible runs into a self-contained, ordered folder that reads after a move', async () => {
    const out = join(root, 'merged');
    const r = merge([dirs.b100, dirs.a100, '--out', out]);
    expect(r.status, r.stderr).toBe(0);
    // Shards are in the merged folder (hard links: the same inode as the shard run's file).
    const shards = readdirSync(out).filter((f) => f.endsWith('.safetensors'));
    expect(shards.sort()).toEqual(['features-00000.safetensors', 'features-00001.safetensors']);
    expect(statSync(join(out, shards[0]!)).ino).toBe(statSync(join(dirs.b100, 'features-00000.safetensors')).ino);
    // Ordered: the folders as given, each in its input order.
    const want = [...readManifest(dirs.b100), ...readManifest(dirs.a100)].map((l) => l.source);
    expect(readManifest(out).map((l) => l.source)).toEqual(want);
    const before = await featureBytes(out);
    expect(before.size).toBe(5);
    const moved = join(root, 'elsewhere', 'merged');
    mkdirSync(join(root, 'elsewhere'));
    renameSync(out, moved);
    expect(await featureBytes(moved)).toEqual(before);
    // The same bytes as the shard runs.
    const parts = new Map([...(await featureBytes(dirs.a100)), ...(await featureBytes(dirs.b100))]);
    expect(new Map([...before].sort())).toEqual(new Map([...parts].sort()));
    // A non-empty --out is refused.
    const again = merge([dirs.b100, dirs.a100, '--out', moved]);
    expect(again.status).toBe(1);
    expect(again.stderr).toMatch(/not an empty folder/);
  });
});
