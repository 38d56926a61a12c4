import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readNpz, writeNpz } from '../../src/io/npz.js';
import { SafetensorsFile } from '../../src/io/safetensors.js';
import { loadConfig } from '../../src/model/config.js';
import { fullSpec } from '../../src/model/spec.js';
import { initTensor } from '../../src/model/weights.js';

describe('npz → safetensors', () => {
  it('round-trips arrays and converts a full checkpoint with renames, validated against a config', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'walt-npz-'));
    const cfg = loadConfig('micro');
    // A flax-style checkpoint: '/' separators, one tensor under another name.
    const arrays = fullSpec(cfg).map((s) => ({
      name: s.name === 'final_layer.linear.bias' ? 'head/b' : s.name.replaceAll('.', '/'),
      shape: s.shape,
      data: initTensor(s, 1),
    }));
    const npz = join(dir, 'ckpt.npz');
    await writeNpz(npz, arrays);
    const back = readNpz(npz);
    expect(back.length).toBe(arrays.length);
    expect(Array.from(back[3]!.data)).toEqual(Array.from(arrays[3]!.data));
    const map = join(dir, 'map.json');
    await import('node:fs/promises').then((fs) =>
      fs.writeFile(map, JSON.stringify({ 'head/b': 'final_layer.linear.bias' })),
    );
    const out = join(dir, 'w.safetensors');
    const r = spawnSync(
      process.execPath,
      ['dist/cli.js', 'convert', npz, '--out', out, '--rename', map, '--config', 'micro'],
      { encoding: 'utf8' },
    );
    expect(r.status, r.stderr).toBe(0);
    const f = await SafetensorsFile.open(out);
    expect(f.tensors.size).toBe(arrays.length);
    expect(Array.from(await f.readF32('final_layer.linear.bias'))).toEqual(
      Array.from(arrays.find((a) => a.name === 'head/b')!.data),
    );
    await f.close();
    // Without the rename, the config check lists the problem.
    const bad = spawnSync(
      process.execPath,
      ['dist/cli.js', 'convert', npz, '--out', join(dir, 'x.safetensors'), '--config', 'micro'],
      {
        encoding: 'utf8',
      },
    );
    expect(bad.status).not.toBe(0);
    expect(bad.stderr).toMatch(/missing \(1\)[\s\S]*final_layer\.linear\.bias[\s\S]*unknown \(1\)[\s\S]*head\.b/);
  });
});
