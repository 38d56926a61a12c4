// walt extract on a folder of real-footage formats: every file is extracted (the seven
// extensions a mixed folder has: .MP4 .m4v .mpg .ts .gif .webp .jpeg, and more codecs and
// containers, with --start center --stride 2); files that are not media are counted, listed in
// extract.log, and do not fail the run.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { readManifest } from '../../src/extract/manifest.js';
import { makeFormatSample, type FormatFile } from '../../src/io/sample.js';
import { walt } from './helpers.js';

const root = mkdtempSync(join(tmpdir(), 'walt-extract-formats-'));
const dir = join(root, 'footage');
let files: FormatFile[];

beforeAll(async () => {
  ({ files } = await makeFormatSample(dir));
  writeFileSync(join(dir, 'notes.xyz'), 'shot list');
  writeFileSync(join(dir, 'README.md'), '# footage');
}, 120_000);

describe('walt extract on real-footage formats', () => {
  it('--start center --stride 2: every file extracted, unknown files counted', () => {
    const out = join(root, 'feats');
    const r = walt(['extract', dir, '--out', out, '--blocks', '1', '--start', 'center', '--stride', '2']);
    expect(r.status, r.stderr).toBe(0);
    const lines = readManifest(out);
    expect(lines.filter((l) => l.status !== 'ok').map((l) => l.status === 'error' && l.error)).toEqual([]);
    expect(lines.map((l) => l.source.split('/').pop()).sort()).toEqual(files.map((f) => f.name).sort());
    for (const n of ['a.MP4', 'b.m4v', 'c.mpg', 'd.ts', 'e.gif', 'f.webp', 'g.jpeg', 'capture-cinepak.avi']) {
      expect(
        lines.some((l) => l.source.endsWith(`/${n}`)),
        n,
      ).toBe(true);
    }
    expect(r.stderr).toMatch(
      /skipped 2 files with unknown extensions: README\.md, notes\.xyz \(listed in extract\.log\)/,
    );
    expect(readFileSync(join(out, 'extract.log'), 'utf8')).toMatch(/notes\.xyz/);
    const cinepak = lines.find((l) => l.source.endsWith('capture-cinepak.avi'));
    expect(cinepak?.status === 'ok' && cinepak.frame_indices).toEqual(Array.from({ length: 17 }, (_, i) => 17 + 2 * i));
    expect(cinepak?.status === 'ok' && cinepak.pts?.[0]).toBeCloseTo(Math.trunc((17 * 443) / 67) / 30, 9);
  });
});
