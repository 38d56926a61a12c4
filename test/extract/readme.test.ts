// The README's "Reading features" works verbatim: its TypeScript snippet imports the built package
// (`import { FeatureSet } from 'walt-webgpu'`) and type-checks against dist/index.d.ts; its Python
// snippet reads the tensor names from the manifest's `tensors` field (run with /usr/bin/python3
// and numpy when present; the same reading is checked in TypeScript always). The extraction
// sections link nowhere outside the repository.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { writeManifest, type ManifestLine } from '../../src/extract/manifest.js';
import { ShardWriter } from '../../src/extract/shards.js';
import { SPEC_FILE } from '../../src/extract/spec.js';
import { Rng } from '../../src/util/rng.js';

const repo = process.cwd();
const readme = readFileSync(join(repo, 'README.md'), 'utf8');
const root = mkdtempSync(join(tmpdir(), 'walt-readme-'));
const feats = join(root, 'feats');
const PY = '/usr/bin/python3';
const hasNumpy = existsSync(PY) && spawnSync(PY, ['-c', 'import numpy'], { encoding: 'utf8' }).status === 0;

/** The text of a README section, from its heading to the next heading of the same or a higher level. */
function section(title: string): string {
  const start = readme.indexOf(title);
  expect(start, title).toBeGreaterThanOrEqual(0);
  const level = /^#+/.exec(title)![0];
  const rest = readme.slice(start + title.length);
  const next = rest.search(new RegExp(`\\n#{1,${level.length}} `));
  return rest.slice(0, next < 0 ? undefined : next);
}

/** The code blocks of a language in a text. */
function blocks(text: string, lang: string): string[] {
  return [...text.matchAll(new RegExp('```' + lang + '\\n([\\s\\S]*?)```', 'g'))].map((m) => m[1]!);
}

const reading = section('### Reading features');
const values = new Map<string, Float32Array>();

beforeAll(async () => {
  // dist/index.js and dist/index.d.ts: the global setup builds them (WALT_SKIP_BUILD=1 skips that).
  if (!existsSync(join(repo, 'dist/index.js')) || !existsSync(join(repo, 'dist/index.d.ts'))) {
    execFileSync(process.execPath, ['tools/build.mjs'], { cwd: repo, stdio: 'inherit' });
  }
  // A features folder as walt extract writes it: two shards, an F16 feature, an error line.
  mkdirSync(feats);
  const rng = new Rng(3);
  const lines: ManifestLine[] = [];
  const w = new ShardWriter(feats, 0); // one item per shard
  for (const [i, source] of ['clips/a.MP4', 'clips/b.webm', 'clips/c.png'].entries()) {
    const data = rng.uniforms(5 * 3 * 7 * 4);
    values.set(source, data);
    const key = `item-${i}`;
    const feature = { shape: [5, 3, 7, 4], data, dtype: 'f32' as const };
    const { shard, tensors } = w.add({ key, tensors: new Map([['t200/block.2', feature]]) });
    await w.flush({});
    const kind = i === 2 ? ('image' as const) : ('video' as const);
    lines.push({ source, status: 'ok', kind, key, shard, tensors, frame_indices: new Array<number>(17).fill(0) });
  }
  lines.push({
    source: 'clips/bad.mp4',
    status: 'error',
    kind: 'video',
    error: 'clips/bad.mp4: not a video; remove it',
    reason: 'not-media',
  });
  await writeManifest(feats, lines);
  writeFileSync(join(feats, SPEC_FILE), '{}\n');
  // A consumer project with the package installed.
  mkdirSync(join(root, 'node_modules'));
  symlinkSync(repo, join(root, 'node_modules', 'walt-webgpu'));
  writeFileSync(join(root, 'package.json'), '{ "type": "module" }\n');
}, 120_000);

describe('README: reading features', () => {
  it('the TypeScript snippet runs verbatim against the built package', () => {
    const [ts] = blocks(reading, 'ts');
    expect(ts).toMatch(/from 'walt-webgpu'/);
    writeFileSync(join(root, 'snippet.mjs'), ts!);
    const r = spawnSync(process.execPath, ['snippet.mjs'], { cwd: root, encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^clips\/a\.MP4 t200\/block\.2 \[ 5, 3, 7, 4 \]/);
    expect(r.stdout.trim().split('\n')).toHaveLength(3);
  });

  it('the TypeScript snippet type-checks against dist/index.d.ts', () => {
    const [ts] = blocks(reading, 'ts');
    writeFileSync(join(root, 'snippet.ts'), ts!);
    writeFileSync(
      join(root, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          target: 'es2022',
          module: 'nodenext',
          moduleResolution: 'nodenext',
          strict: true,
          noEmit: true,
          skipLibCheck: true,
          types: ['node'],
          typeRoots: [join(repo, 'node_modules/@types')],
        },
        files: ['snippet.ts'],
      }),
    );
    const r = spawnSync(process.execPath, [join(repo, 'node_modules/typescript/bin/tsc'), '-p', root], {
      encoding: 'utf8',
    });
    expect(r.status, r.stdout + r.stderr).toBe(0);
  });

  it.skipIf(!hasNumpy)('the Python snippet runs verbatim (skipped where /usr/bin/python3 with numpy is absent)', () => {
    const [py] = blocks(reading, 'python');
    expect(py).toMatch(/\['tensors'\]/);
    expect(py).not.toMatch(/\+ '\/t\d+\/block/); // no hard-coded feature name
    writeFileSync(
      join(root, 'snippet.py'),
      `${py!}\nprint('SUM', float(sum(float(v.sum()) for s in shards.values() for v in s.values())))\n`,
    );
    const r = spawnSync(PY, ['snippet.py'], { cwd: root, encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^3 items; t200\/block\.2 \(5, 3, 7, 4\)/);
    const want = [...values.values()].reduce((a, v) => a + v.reduce((x, y) => x + y, 0), 0);
    expect(Number(/SUM (\S+)/.exec(r.stdout)![1])).toBeCloseTo(want, 2);
  });

  it('the manifest read as the Python snippet reads it (names from `tensors`), in TypeScript', () => {
    const items = readFileSync(join(feats, 'manifest.jsonl'), 'utf8')
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => JSON.parse(l) as ManifestLine);
    const ok = items.filter((it) => it.status === 'ok');
    expect(ok).toHaveLength(3);
    for (const it of ok) {
      const raw = readFileSync(join(feats, it.shard));
      const n = Number(raw.readBigUInt64LE(0));
      const head = JSON.parse(raw.subarray(8, 8 + n).toString('utf8')) as Record<
        string,
        { dtype: string; shape: number[]; data_offsets: [number, number] }
      >;
      for (const [name, info] of Object.entries(it.tensors)) {
        const e = head[`${it.key}/${name}`]!;
        expect(e.shape).toEqual(info.shape);
        expect(e.dtype).toBe(info.dtype);
        const body = raw.subarray(8 + n + e.data_offsets[0], 8 + n + e.data_offsets[1]);
        const x = new Float32Array(body.buffer.slice(body.byteOffset, body.byteOffset + body.byteLength));
        expect(x).toEqual(values.get(it.source));
      }
    }
  });

  it('the extraction sections link nowhere outside the repository', () => {
    for (const title of ['## Feature extraction', '### Reading features', '### Beyond one machine']) {
      const text = section(title);
      expect(text, title).not.toMatch(/\]\((\.\.\/|\/)/);
      expect(text, title).not.toMatch(/\.\.\/shared/);
      for (const m of text.matchAll(/\]\(([^)#]+)(#[^)]*)?\)/g)) {
        if (!/^https?:/.test(m[1]!)) {
          expect(existsSync(join(repo, m[1]!)), m[1]).toBe(true);
        }
      }
    }
  });
});
