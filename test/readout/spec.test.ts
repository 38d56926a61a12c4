// Readout head specs: the ten built-in counts, canonical names and shapes, default heads of a
// kind, JSON head files and their errors, and `walt readout info` in-process.
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SafetensorsFile } from '../../src/io/safetensors.js';
import {
  BUILTIN_HEAD_NAMES,
  BUILTIN_HEADS,
  BUILTIN_PARAM_COUNTS,
  blockWidth,
  defaultHeadForKind,
  featureWidth,
  HEAD_KEYS,
  HEAD_KINDS,
  headDim,
  headWeights,
  paramCount,
  resolveHead,
  validateHeadConfig,
  weightList,
  type AttentionHeadConfig,
  type HeadConfig,
} from '../../src/readout/spec.js';
import { captureCli } from '../metrics/cli-helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'walt-readout-spec-'));
let fileNo = 0;
const headFile = (obj: unknown): string => {
  const p = join(dir, `head-${fileNo++}.json`);
  writeFileSync(p, typeof obj === 'string' ? obj : JSON.stringify(obj));
  return p;
};

const shapeOf = (cfg: HeadConfig, name: string): number[] | undefined => weightList(cfg).find(([n]) => n === name)?.[1];

describe('built-in heads', () => {
  it('reproduce all ten quoted parameter counts exactly', () => {
    expect(BUILTIN_HEAD_NAMES).toHaveLength(10);
    const got = Object.fromEntries(BUILTIN_HEAD_NAMES.map((n) => [n, paramCount(BUILTIN_HEADS[n])]));
    expect(got).toEqual({
      imagenet: 7_678_184,
      places365: 7_189_869,
      inat2018: 13_170_382,
      ssv2: 7_042_990,
      k400: 11_975_056,
      k700: 12_282_556,
      'camera-pose': 1_650_444,
      depth: 3_284_353,
      points: 12_897_668,
      boxes: 12_931_462,
    });
    expect(got).toEqual(BUILTIN_PARAM_COUNTS);
  });

  it('attention counts follow the §7.1 formula (odd sizes)', () => {
    for (const [C, P, heads, K, T] of [
      [7, 3, 1, 1, 1],
      [97, 12, 4, 7, 17],
      [1024, 768, 12, 1000, 17],
      [33, 10, 5, 3, 5],
    ] as const) {
      const cfg: AttentionHeadConfig = { kind: 'attention', prefix: 'readout.x', C, P, heads, K, T };
      const formula =
        2 * C + T * C + P + 2 * (C * P + P) + (P * P + P) + 2 * P + (4 * P * P + 4 * P) + (4 * P * P + P) + (P * K + K);
      expect(paramCount(cfg)).toBe(formula);
    }
  });

  it('attention weights: canonical order and shapes (imagenet)', () => {
    expect(weightList(BUILTIN_HEADS.imagenet)).toEqual([
      ['readout.imagenet.feat_norm.weight', [1024]],
      ['readout.imagenet.feat_norm.bias', [1024]],
      ['readout.imagenet.temporal_posenc', [17, 1024]],
      ['readout.imagenet.query', [1, 12, 64]],
      ['readout.imagenet.key.weight', [768, 1024]],
      ['readout.imagenet.key.bias', [768]],
      ['readout.imagenet.value.weight', [768, 1024]],
      ['readout.imagenet.value.bias', [768]],
      ['readout.imagenet.out.weight', [768, 768]],
      ['readout.imagenet.out.bias', [768]],
      ['readout.imagenet.mlp_norm.weight', [768]],
      ['readout.imagenet.mlp_norm.bias', [768]],
      ['readout.imagenet.mlp.fc1.weight', [3072, 768]],
      ['readout.imagenet.mlp.fc1.bias', [3072]],
      ['readout.imagenet.mlp.fc2.weight', [768, 3072]],
      ['readout.imagenet.mlp.fc2.bias', [768]],
      ['readout.imagenet.head.weight', [1000, 768]],
      ['readout.imagenet.head.bias', [1000]],
    ]);
  });

  it('camera-pose: prefix readout.camera-pose, C 2048, T 1', () => {
    const c = BUILTIN_HEADS['camera-pose'];
    expect(c.prefix).toBe('readout.camera-pose');
    expect(shapeOf(c, 'readout.camera-pose.temporal_posenc')).toEqual([1, 2048]);
    expect(shapeOf(c, 'readout.camera-pose.query')).toEqual([1, 8, 32]);
    expect(shapeOf(c, 'readout.camera-pose.key.weight')).toEqual([256, 2048]);
    expect(shapeOf(c, 'readout.camera-pose.head.weight')).toEqual([12, 256]);
    expect(featureWidth(c)).toBe(1024);
    expect(headDim(c)).toBe(32);
  });

  it('depth weights: §7.3 names and shapes, block width C + 4·nfb', () => {
    const d = BUILTIN_HEADS.depth;
    expect(blockWidth(d)).toBe(1088);
    const p = 'readout.depth.transformer';
    expect(weightList(d)).toEqual([
      [`${p}.layer_0.norm_q.weight`, [1088]],
      [`${p}.layer_0.cross_att.dense_query.weight`, [512, 1088]],
      [`${p}.layer_0.cross_att.dense_key.weight`, [512, 1024]],
      [`${p}.layer_0.cross_att.dense_value.weight`, [512, 1024]],
      [`${p}.layer_0.cross_att.norm_query.weight`, [256]],
      [`${p}.layer_0.cross_att.norm_key.weight`, [256]],
      [`${p}.layer_0.cross_att.dense_out.weight`, [1088, 512]],
      [`${p}.layer_0.cross_att.dense_out.bias`, [1088]],
      [`${p}.layer_0.norm_attn.weight`, [1088]],
      [`${p}.layer_0.mlp_in.weight`, [512, 1088]],
      [`${p}.layer_0.mlp_in.bias`, [512]],
      [`${p}.layer_0.mlp_out.weight`, [1088, 512]],
      [`${p}.layer_0.mlp_out.bias`, [1088]],
      [`${p}.norm_encoder.weight`, [1088]],
      ['readout.depth.recon.weight', [1, 1088]],
      ['readout.depth.recon.bias', [1]],
    ]);
  });

  it('points / boxes weights: §7.4 names and shapes', () => {
    const pts = BUILTIN_HEADS.points;
    const names = weightList(pts).map(([n]) => n);
    expect(names.slice(0, 6)).toEqual([
      'readout.points.init.fc1.weight',
      'readout.points.init.fc1.bias',
      'readout.points.init.fc2.weight',
      'readout.points.init.fc2.bias',
      'readout.points.backbone.in_proj.weight',
      'readout.points.backbone.in_proj.bias',
    ]);
    expect(names.slice(-17)).toEqual([
      'readout.points.backbone.layer_2.mlp_out.bias',
      'readout.points.backbone.norm_encoder.weight',
      'readout.points.backbone.out_proj.weight',
      'readout.points.backbone.out_proj.bias',
      'readout.points.predictor.fc1.weight',
      'readout.points.predictor.fc1.bias',
      'readout.points.predictor.fc2.weight',
      'readout.points.predictor.fc2.bias',
      'readout.points.state_norm.weight',
      'readout.points.out_values.fc1.weight',
      'readout.points.out_values.fc1.bias',
      'readout.points.out_values.fc2.weight',
      'readout.points.out_values.fc2.bias',
      'readout.points.out_logits.fc1.weight',
      'readout.points.out_logits.fc1.bias',
      'readout.points.out_logits.fc2.weight',
      'readout.points.out_logits.fc2.bias',
    ]);
    expect(shapeOf(pts, 'readout.points.init.fc1.weight')).toEqual([512, 64]);
    expect(shapeOf(pts, 'readout.points.backbone.layer_1.cross_att.dense_key.weight')).toEqual([512, 1024]);
    expect(shapeOf(pts, 'readout.points.backbone.layer_2.cross_att.norm_query.weight')).toEqual([64]);
    expect(shapeOf(pts, 'readout.points.backbone.layer_0.mlp_in.weight')).toEqual([2048, 512]);
    expect(shapeOf(pts, 'readout.points.out_values.fc2.weight')).toEqual([2, 512]);
    const bx = BUILTIN_HEADS.boxes;
    expect(shapeOf(bx, 'readout.boxes.init.fc1.weight')).toEqual([512, 128]);
    expect(shapeOf(bx, 'readout.boxes.out_values.fc2.weight')).toEqual([4, 512]);
    expect(shapeOf(bx, 'readout.boxes.out_logits.fc2.bias')).toEqual([2]);
    // §7.4: the boxes head has 64·512 + 2·513 more parameters.
    expect(paramCount(bx) - paramCount(pts)).toBe(33_794);
  });

  it('every name is unique, starts with the prefix, and roles fit shapes', () => {
    for (const n of BUILTIN_HEAD_NAMES) {
      const cfg = BUILTIN_HEADS[n];
      const ws = headWeights(cfg);
      expect(new Set(ws.map((w) => w.name)).size).toBe(ws.length);
      for (const w of ws) {
        expect(w.name.startsWith(`${cfg.prefix}.`)).toBe(true);
        if (w.role === 'dense') {
          expect(w.shape).toHaveLength(2);
          expect(w.fanIn).toBe(w.shape[1]);
        } else if (w.role === 'bias' || w.role === 'norm_scale' || w.role === 'norm_bias') {
          expect(w.shape).toHaveLength(1);
        }
      }
    }
  });
});

describe('default heads of a kind', () => {
  it('at the study size equal the built-ins (structure)', () => {
    const strip = (c: HeadConfig): Omit<HeadConfig, 'prefix'> => {
      const { prefix: _p, ...rest } = c;
      return rest;
    };
    const s = { C: 1024, T: 17 };
    expect(defaultHeadForKind('depth', s)).toEqual(BUILTIN_HEADS.depth);
    expect(defaultHeadForKind('points', s)).toEqual(BUILTIN_HEADS.points);
    expect(defaultHeadForKind('boxes', s)).toEqual(BUILTIN_HEADS.boxes);
    expect(strip(defaultHeadForKind('camera', s))).toEqual(strip(BUILTIN_HEADS['camera-pose']));
    expect(strip(defaultHeadForKind('attention', { ...s, K: 1000 }))).toEqual(strip(BUILTIN_HEADS.imagenet));
  });

  it('scale down for small features and stay valid (odd widths)', () => {
    expect(defaultHeadForKind('attention', { C: 64, T: 17, K: 10 })).toEqual({
      kind: 'attention',
      prefix: 'readout.attention',
      C: 64,
      P: 64,
      heads: 1,
      K: 10,
      T: 17,
    });
    expect(paramCount(defaultHeadForKind('attention', { C: 64, T: 17, K: 10 }))).toBe(47_626);
    expect(defaultHeadForKind('camera', { C: 64, T: 17 })).toMatchObject({ C: 128, P: 128, heads: 4, K: 12, T: 1 });
    expect(defaultHeadForKind('depth', { C: 97, T: 5 })).toMatchObject({ C: 97, qkv: 64, heads: 2, mlp: 64 });
    expect(defaultHeadForKind('points', { C: 7, T: 3 })).toMatchObject({ width: 64, qkv: 64, heads: 1, mlp: 256 });
    for (const kind of HEAD_KINDS) {
      for (const C of [1, 3, 7, 97, 130, 1000, 4096]) {
        const cfg = defaultHeadForKind(kind, { C, T: 17, K: kind === 'camera' ? 12 : 5 });
        expect(() => validateHeadConfig(cfg)).not.toThrow();
        expect(featureWidth(cfg)).toBe(C);
      }
    }
  });

  it('attention needs K; camera refuses K ≠ 12', () => {
    expect(() => defaultHeadForKind('attention', { C: 64, T: 17 })).toThrow(/class count K/);
    expect(() => defaultHeadForKind('camera', { C: 64, T: 17, K: 5 })).toThrow(/12 outputs/);
    expect(() => defaultHeadForKind('depth', { C: 0, T: 17 })).toThrow(/C \(feature width\) ≥ 1/);
  });
});

describe('resolveHead', () => {
  it('built-in names, and kinds with or without sizing', () => {
    expect(resolveHead('k400')).toBe(BUILTIN_HEADS.k400);
    expect(resolveHead('depth')).toBe(BUILTIN_HEADS.depth);
    expect(resolveHead('depth', { sizing: { C: 64, T: 17 } })).toMatchObject({ kind: 'depth', C: 64, qkv: 64 });
    expect(resolveHead('attention', { sizing: { C: 64, T: 17, K: 3 } })).toMatchObject({ P: 64, K: 3 });
    expect(() => resolveHead('attention')).toThrow(/is a kind whose widths come from the features/);
    expect(() => resolveHead('camera')).toThrow(/built-in heads: imagenet, places365/);
  });

  it('a missing name or file names the head and lists the choices', () => {
    expect(() => resolveHead('imagenet21k')).toThrow(
      /head 'imagenet21k' is neither a built-in head \(built-in heads: imagenet, .*boxes\), a kind \(attention, camera, depth, points, boxes\) nor an existing JSON file/,
    );
    expect(() => resolveHead(dir)).toThrow(/is a folder/);
  });

  it('reads a valid JSON head file of every kind', () => {
    const att = { kind: 'attention', prefix: 'readout.tiny', C: 7, P: 6, heads: 3, K: 5, T: 3 };
    expect(resolveHead(headFile(att))).toEqual(att);
    const cam = { kind: 'camera', prefix: 'readout.cam', C: 14, P: 4, heads: 2, K: 12, T: 1 };
    expect(resolveHead(headFile(cam))).toEqual(cam);
    const dep = { kind: 'depth', prefix: 'readout.d', C: 7, nfb: 3, qkv: 6, heads: 2, mlp: 5, layers: 2 };
    const dcfg = resolveHead(headFile(dep));
    expect(dcfg).toEqual(dep);
    expect(shapeOf(dcfg, 'readout.d.transformer.layer_1.cross_att.dense_query.weight')).toEqual([6, 19]);
    const pts = {
      kind: 'points',
      prefix: 'readout.p.small',
      C: 7,
      n_coords: 2,
      n_values: 2,
      n_logits: 2,
      nfb: 3,
      width: 9,
      qkv: 6,
      heads: 3,
      mlp: 11,
      layers: 1,
    };
    const pcfg = resolveHead(headFile(pts));
    expect(shapeOf(pcfg, 'readout.p.small.init.fc1.weight')).toEqual([9, 12]);
    expect(shapeOf(pcfg, 'readout.p.small.backbone.layer_0.cross_att.norm_key.weight')).toEqual([2]);
    const box = { ...pts, kind: 'boxes', prefix: 'readout.b', n_coords: 4, n_values: 4 };
    expect(shapeOf(resolveHead(headFile(box)), 'readout.b.init.fc1.weight')).toEqual([9, 24]);
  });

  const base = { kind: 'attention', prefix: 'readout.t', C: 8, P: 4, heads: 2, K: 3, T: 2 };
  const expectedKeys = 'kind, prefix, C, P, heads, K, T';
  it.each([
    [{ ...base, Q: 1 }, `unknown key "Q" (a 'attention' head has exactly the keys ${expectedKeys})`],
    [{ ...base, T: undefined }, `missing key "T" (a 'attention' head has exactly the keys ${expectedKeys})`],
    [{ ...base, heads: 2.5 }, '"heads" must be a positive integer, got 2.5'],
    [{ ...base, K: 0 }, '"K" must be a positive integer, got 0'],
    [{ ...base, C: '8' }, '"C" must be a positive integer, got "8"'],
    [{ ...base, P: 5 }, '"P" (5) must be divisible by "heads" (2)'],
    [{ ...base, prefix: 'head.t' }, '"prefix" must be "readout." followed by a name'],
    [{ ...base, prefix: 'readout.' }, '"prefix" must be "readout." followed by a name'],
    [{ ...base, prefix: 'readout.a..b' }, '"prefix" must be "readout." followed by a name'],
    [{ ...base, prefix: 'readout.a b' }, '"prefix" must be "readout." followed by a name'],
    [{ ...base, kind: 'linear' }, '"kind" must be one of attention, camera, depth, points, boxes, got "linear"'],
    [{ ...base, kind: 'camera' }, '"T" must be 1 for a camera head'],
    [
      { kind: 'depth', prefix: 'readout.d', C: 8, nfb: 2, qkv: 6, heads: 4, mlp: 3, layers: 1 },
      '"qkv" (6) must be divisible by "heads" (4)',
    ],
    [
      {
        kind: 'boxes',
        prefix: 'readout.b',
        C: 8,
        n_coords: 2,
        n_values: 4,
        n_logits: 2,
        nfb: 2,
        width: 4,
        qkv: 4,
        heads: 2,
        mlp: 4,
        layers: 1,
      },
      '"n_coords" must be 4 for boxes',
    ],
    [[1, 2], 'got an array'],
  ])('rejects a bad head file (%j)', (obj, msg) => {
    const p = headFile(obj);
    expect(() => resolveHead(p)).toThrow(`head file ${p}: `);
    expect(() => resolveHead(p)).toThrow(msg);
  });

  it('names both an unknown and a missing key, and rejects non-JSON', () => {
    const p = headFile({ kind: 'depth', prefix: 'readout.d', C: 8, nfb: 2, qkv: 6, heads: 2, mlp: 3, layer: 1 });
    expect(() => resolveHead(p)).toThrow(
      `unknown key "layer"; missing key "layers" (a 'depth' head has exactly the keys ${['kind', 'prefix', ...HEAD_KEYS.depth].join(', ')})`,
    );
    const q = headFile('{"kind": "depth",');
    expect(() => resolveHead(q)).toThrow(`head file ${q} is not valid JSON`);
  });
});

describe('walt readout info (in-process)', () => {
  it('--json prints params and the weight list on one line', async () => {
    const r = await captureCli(['readout', 'info', '--head', 'camera-pose', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines).toHaveLength(1);
    const j = JSON.parse(lines[0]!) as { params: number; weights: [string, number[]][] };
    expect(Object.keys(j)).toEqual(['params', 'weights']);
    expect(j.params).toBe(1_650_444);
    expect(j.weights).toEqual(weightList(BUILTIN_HEADS['camera-pose']));
  });

  it('prints a table without --json; sizes a kind from --width/--frames/--classes', async () => {
    const r = await captureCli(['readout', 'info', '--head', 'depth']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('readout.depth.recon.weight');
    expect(r.stdout).toContain('3,284,353 parameters');
    const k = await captureCli([
      'readout',
      'info',
      '--head',
      'attention',
      '--width',
      '64',
      '--classes',
      '10',
      '--json',
    ]);
    expect(k.code, k.stderr).toBe(0);
    expect((JSON.parse(k.stdout) as { params: number }).params).toBe(47_626);
  });

  it('usage errors exit 2 with one line naming the input', async () => {
    const cases: [string[], RegExp][] = [
      [['readout', 'info', '--head', 'nope'], /--head: head 'nope' is neither a built-in head/],
      [['readout', 'info', '--head', 'attention'], /is a kind whose widths come from the features/],
      [['readout', 'info', '--head', 'k400', '--width', '64'], /'k400' is not one \(drop them\)/],
      [['readout', 'info'], /--head is required/],
      [['readout', 'forwardx'], /unknown subcommand 'forwardx' \(expected one of: info, init/],
    ];
    for (const [argv, re] of cases) {
      const r = await captureCli(argv);
      expect(r.code, argv.join(' ')).toBe(2);
      expect(r.stderr).toMatch(re);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stdout).toBe('');
    }
    const none = await captureCli(['readout']);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('give a subcommand (info, init');
  });
});

// The reference (tools/reference, PyTorch) writes its own list of the built-in heads and tiny
// heads of every kind; the spec must agree with it name for name.
const FX = join(process.cwd(), 'test/fixtures/readout');
const builtinFx = join(FX, 'builtin-heads.json');
const TINY = ['attention', 'camera', 'depth', 'points', 'boxes'] as const;

describe('against the reference fixtures (test/fixtures/readout)', () => {
  if (!existsSync(builtinFx)) {
    it.skip('builtin-heads.json: not written yet (tools/reference writes it)', () => undefined);
  } else {
    it('builtin-heads.json: every config, count and weight list', () => {
      const ref = JSON.parse(readFileSync(builtinFx, 'utf8')) as Record<
        string,
        { config: HeadConfig; params: number; weights: [string, number[]][] }
      >;
      expect(Object.keys(ref).sort()).toEqual([...BUILTIN_HEAD_NAMES].sort());
      for (const name of BUILTIN_HEAD_NAMES) {
        const r = ref[name]!;
        // Ours is readout.camera-pose (no '-' in weight names); the reference may spell it
        // readout.camera-pose: compare under our prefix.
        const theirs = r.config.prefix;
        const ours = BUILTIN_HEADS[name].prefix;
        if (name === 'camera-pose') {
          expect(['readout.camera-pose', 'readout.camera-pose']).toContain(theirs);
        }
        const rename = (n: string): string => (n.startsWith(`${theirs}.`) ? ours + n.slice(theirs.length) : n);
        expect(BUILTIN_HEADS[name], name).toEqual({ ...r.config, prefix: ours });
        expect(paramCount(BUILTIN_HEADS[name]), name).toBe(r.params);
        expect(weightList(BUILTIN_HEADS[name]), name).toEqual(r.weights.map(([n, sh]) => [rename(n), sh]));
      }
    });
  }
  for (const kind of TINY) {
    const d = join(FX, kind);
    if (!existsSync(join(d, 'weights.safetensors'))) {
      it.skip(`${kind}: no tiny-head fixture yet (tools/reference writes ${kind}/head.json, weights.safetensors)`, () =>
        undefined);
      continue;
    }
    it(`${kind}: head.json resolves and weights.safetensors holds exactly weightList, in order`, async () => {
      const cfg = resolveHead(join(d, 'head.json'));
      expect(cfg.kind).toBe(kind);
      const f = await SafetensorsFile.open(join(d, 'weights.safetensors'));
      try {
        const entries = [...f.tensors.values()].sort((a, b) => a.offset - b.offset);
        expect(entries.map((e) => [e.name, e.shape])).toEqual(weightList(cfg));
      } finally {
        await f.close();
      }
    });
  }
});
