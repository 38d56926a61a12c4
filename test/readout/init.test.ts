// Readout head initialisation (OC24): determinism, per-scheme statistics, the written file, and
// `walt readout init` in-process (including that a refused run writes nothing).
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SafetensorsFile } from '../../src/io/safetensors.js';
import {
  EMBEDDING_INIT_STD,
  initHeadWeights,
  initWeight,
  TRUNCATED_NORMAL_STD,
  writeHeadWeights,
} from '../../src/readout/init.js';
import { BUILTIN_HEADS, headWeights, weightList, type HeadConfig } from '../../src/readout/spec.js';
import { captureCli } from '../metrics/cli-helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'walt-readout-init-'));

function stats(x: Float32Array): { mean: number; std: number; maxAbs: number } {
  let s = 0;
  let m = 0;
  for (const v of x) {
    s += v;
    m = Math.max(m, Math.abs(v));
  }
  const mean = s / x.length;
  let q = 0;
  for (const v of x) {
    q += (v - mean) ** 2;
  }
  return { mean, std: Math.sqrt(q / x.length), maxAbs: m };
}

const tiny: HeadConfig = {
  kind: 'points',
  prefix: 'readout.tiny',
  C: 7,
  n_coords: 2,
  n_values: 2,
  n_logits: 2,
  nfb: 3,
  width: 9,
  qkv: 6,
  heads: 3,
  mlp: 11,
  layers: 2,
};

describe('initHeadWeights', () => {
  it('is deterministic per seed and differs across seeds and schemes', () => {
    for (const scheme of ['flax', 'test'] as const) {
      const a = initHeadWeights(tiny, scheme, 7);
      const b = initHeadWeights(tiny, scheme, 7);
      const c = initHeadWeights(tiny, scheme, 8);
      expect([...a.keys()]).toEqual(weightList(tiny).map(([n]) => n));
      for (const [name, v] of a) {
        expect(Buffer.from(b.get(name)!.buffer)).toEqual(Buffer.from(v.buffer));
      }
      const w = 'readout.tiny.backbone.layer_1.cross_att.dense_key.weight';
      expect(c.get(w)).not.toEqual(a.get(w));
    }
    expect(initHeadWeights(tiny, 'flax', 7).get('readout.tiny.init.fc1.weight')).not.toEqual(
      initHeadWeights(tiny, 'test', 7).get('readout.tiny.init.fc1.weight'),
    );
  });

  it("a tensor's values depend only on seed, name and shape", () => {
    const a = initHeadWeights({ ...tiny, layers: 1 }, 'test', 3);
    const b = initHeadWeights(tiny, 'test', 3);
    for (const [name, v] of a) {
      if (b.get(name)?.length === v.length) {
        expect(b.get(name)).toEqual(v);
      }
    }
  });

  it('flax: truncated lecun-normal kernels, zero biases, unit scales, N(0, 0.02) query and posenc', () => {
    const cfg = BUILTIN_HEADS['camera-pose'];
    const w = initHeadWeights(cfg, 'flax', 1);
    for (const spec of headWeights(cfg)) {
      const x = w.get(spec.name)!;
      const s = stats(x);
      switch (spec.role) {
        case 'dense': {
          const want = Math.sqrt(1 / spec.fanIn!);
          expect(s.maxAbs).toBeLessThanOrEqual((2 * want) / TRUNCATED_NORMAL_STD + 1e-7);
          if (x.length > 100_000) {
            expect(Math.abs(s.std / want - 1)).toBeLessThan(0.01);
            expect(Math.abs(s.mean)).toBeLessThan(0.01 * want);
            // truncation: beyond 2σ/0.8796 nothing, and the tail near it is populated
            expect(s.maxAbs).toBeGreaterThan((1.95 * want) / TRUNCATED_NORMAL_STD);
          }
          break;
        }
        case 'bias':
        case 'norm_bias':
          expect(s.maxAbs).toBe(0);
          break;
        case 'norm_scale':
          expect(x.every((v) => v === 1)).toBe(true);
          break;
        case 'query':
        case 'posenc':
          expect(Math.abs(s.std / EMBEDDING_INIT_STD - 1)).toBeLessThan(spec.role === 'posenc' ? 0.05 : 0.2);
          break;
      }
    }
  });

  it('test: every tensor N(0, 0.05), norm scales 1 + N(0, 0.05)', () => {
    const big = initWeight({ name: 'readout.x.key.weight', shape: [301, 997], role: 'dense', fanIn: 997 }, 'test', 5);
    const s = stats(big);
    expect(Math.abs(s.std / 0.05 - 1)).toBeLessThan(0.01);
    expect(Math.abs(s.mean)).toBeLessThan(0.001);
    expect(s.maxAbs).toBeGreaterThan(0.05 * 4); // not truncated
    const scale = stats(
      initWeight({ name: 'readout.x.feat_norm.weight', shape: [99_991], role: 'norm_scale' }, 'test', 5),
    );
    expect(Math.abs(scale.mean - 1)).toBeLessThan(0.002);
    expect(Math.abs(scale.std / 0.05 - 1)).toBeLessThan(0.02);
    const bias = stats(initWeight({ name: 'readout.x.key.bias', shape: [99_991], role: 'bias' }, 'test', 5));
    expect(Math.abs(bias.std / 0.05 - 1)).toBeLessThan(0.02);
  });
});

describe('writeHeadWeights', () => {
  it('writes F32 tensors in canonical order with the head in the metadata; same seed, same bytes', async () => {
    const a = join(dir, 'a.safetensors');
    const b = join(dir, 'b.safetensors');
    const n = await writeHeadWeights(a, tiny, 'test', 11);
    await writeHeadWeights(b, tiny, 'test', 11);
    expect(readFileSync(a)).toEqual(readFileSync(b));
    const f = await SafetensorsFile.open(a);
    try {
      expect([...f.tensors.values()].map((e) => [e.name, e.shape])).toEqual(weightList(tiny));
      expect([...f.tensors.values()].every((e) => e.dtype === 'F32')).toBe(true);
      expect(JSON.parse(f.metadata['walt.head']!)).toEqual(tiny);
      expect(f.metadata['walt.init.scheme']).toBe('test');
      const name = 'readout.tiny.out_values.fc2.weight';
      expect(await f.readF32(name)).toEqual(initHeadWeights(tiny, 'test', 11).get(name));
      expect(n).toBe([...f.tensors.values()].reduce((s, e) => s + e.byteLength / 4, 0));
    } finally {
      await f.close();
    }
  });
});

describe('walt readout init (in-process)', () => {
  it('writes the weights of a built-in head and of a JSON head file', async () => {
    const out = join(dir, 'depth.safetensors');
    const r = await captureCli(['readout', 'init', '--head', 'depth', '--scheme', 'flax', '--seed', '3', '--out', out]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain('3,284,353 parameters');
    const f = await SafetensorsFile.open(out);
    try {
      expect([...f.tensors.keys()]).toEqual(weightList(BUILTIN_HEADS.depth).map(([x]) => x));
    } finally {
      await f.close();
    }
    const head = join(dir, 'tiny.json');
    writeFileSync(head, JSON.stringify(tiny));
    const o1 = join(dir, 't1.safetensors');
    const o2 = join(dir, 't2.safetensors');
    for (const o of [o1, o2]) {
      const q = await captureCli(['readout', 'init', '--head', head, '--scheme', 'test', '--seed', '9', '--out', o]);
      expect(q.code, q.stderr).toBe(0);
    }
    expect(readFileSync(o1)).toEqual(readFileSync(o2));
  });

  it('refuses bad input with exit 2 and one line, and writes nothing', async () => {
    const sub = join(dir, 'refused');
    const before = readdirSync(dir).length;
    const cases: [string[], RegExp][] = [
      [
        ['--head', 'depth', '--scheme', 'kaiming', '--out', join(dir, 'x.safetensors')],
        /--scheme must be flax or test/,
      ],
      [['--head', 'depth', '--out', join(dir, 'x.safetensors')], /--scheme is required/],
      [
        ['--head', 'depth', '--scheme', 'test', '--out', join(sub, 'x.safetensors')],
        /does not exist \(create it first\)/,
      ],
      [['--head', 'depth', '--scheme', 'test', '--out', dir], /is a folder/],
      [
        ['--head', 'depth', '--scheme', 'test', '--seed', '1.5', '--out', join(dir, 'x.safetensors')],
        /--seed must be an integer/,
      ],
      [['--head', 'nope.json', '--scheme', 'test', '--out', join(dir, 'x.safetensors')], /head 'nope.json' is neither/],
    ];
    for (const [argv, re] of cases) {
      const r = await captureCli(['readout', 'init', ...argv]);
      expect(r.code, argv.join(' ')).toBe(2);
      expect(r.stderr).toMatch(re);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
    }
    expect(readdirSync(dir).length).toBe(before);
    expect(existsSync(sub)).toBe(false);
  });
});
