import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expandInputs, kindOf, parseListFile, scanInputs } from '../../src/io/inputs.js';
import { loadClip } from '../../src/io/media.js';
import { MediaError } from '../../src/io/media-error.js';

let root: string;

async function touch(rel: string, text = 'x'): Promise<string> {
  const p = join(root, rel);
  await mkdir(join(p, '..'), { recursive: true });
  await writeFile(p, text);
  return p;
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'walt-inputs-'));
  // A small tree: nested folders, mixed case extensions, unknown files, hidden files.
  for (const rel of [
    'data/b.mp4',
    'data/a.MOV',
    'data/sub/c.webm',
    'data/sub/deeper/d.png',
    'data/sub-x/e.jpg',
    'data/z.npy',
    'data/readme.md',
    'data/list-inside.txt',
    'data/.hidden.mp4',
    'data/._b.mp4',
    'other/f.mkv',
    'other/g.avi',
    'other/h.jpeg',
  ]) {
    await touch(rel);
  }
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('kindOf', () => {
  it('classifies by extension, case-insensitively', () => {
    expect(kindOf('x.mp4')).toBe('video');
    expect(kindOf('x.MKV')).toBe('video');
    expect(kindOf('x.Jpeg')).toBe('image');
    expect(kindOf('x.npy')).toBe('npy');
    expect(kindOf('x.gif')).toBe('video'); // often animated
    for (const v of ['A.MP4', 'b.m4v', 'c.mpg', 'd.ts', 'e.M2TS', 'f.3gp', 'g.flv', 'h.wmv', 'i.ogv', 'j.mpeg']) {
      expect(kindOf(v), v).toBe('video');
    }
    for (const i of ['a.webp', 'b.BMP', 'c.tif', 'd.tiff', 'e.JPEG', 'f.png']) {
      expect(kindOf(i), i).toBe('image');
    }
    expect(kindOf('x.xyz')).toBe('unknown');
    expect(kindOf('noext')).toBe('unknown');
  });
});

describe('expandInputs', () => {
  it('walks directories recursively, depth-first in sorted name order, skipping unknown and hidden files', async () => {
    const items = await expandInputs(['data'], { cwd: root });
    expect(items.map((i) => i.source)).toEqual([
      'data/a.MOV',
      'data/b.mp4',
      'data/sub/c.webm',
      'data/sub/deeper/d.png',
      'data/sub-x/e.jpg',
      'data/z.npy',
    ]);
    expect(items.map((i) => i.kind)).toEqual(['video', 'video', 'video', 'image', 'image', 'npy']);
    for (const it of items) {
      expect(it.path).toBe(join(root, it.source));
      expect(it.label).toBeUndefined();
    }
  });

  it('keeps argument order, removes duplicates (first wins) and is deterministic', async () => {
    const args = ['other', join(root, 'data/b.mp4'), 'data', './other/f.mkv'];
    const a = await expandInputs(args, { cwd: root });
    const b = await expandInputs(args, { cwd: root });
    expect(a).toEqual(b);
    expect(a.map((i) => i.source)).toEqual([
      'other/f.mkv',
      'other/g.avi',
      'other/h.jpeg',
      join(root, 'data/b.mp4'),
      'data/a.MOV',
      'data/sub/c.webm',
      'data/sub/deeper/d.png',
      'data/sub-x/e.jpg',
      'data/z.npy',
    ]);
  });

  it('turns missing paths and explicit unknown files into items that fail clearly', async () => {
    const items = await expandInputs(['nope/missing.mp4', 'data/readme.md'], { cwd: root });
    expect(items).toEqual([
      { source: 'nope/missing.mp4', path: join(root, 'nope/missing.mp4'), kind: 'video' },
      { source: 'data/readme.md', path: join(root, 'data/readme.md'), kind: 'unknown' },
    ]);
    const missing = await loadClip(items[0]!).catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(MediaError);
    expect((missing as MediaError).reason).toBe('missing');
    expect((missing as MediaError).path).toBe(join(root, 'nope/missing.mp4'));
    expect((missing as MediaError).message).toMatch(/^nope\/missing\.mp4: no such file; /);
    const unknown = await loadClip(items[1]!).catch((e: unknown) => e);
    expect((unknown as MediaError).reason).toBe('unsupported');
    expect((unknown as MediaError).message).toMatch(/^data\/readme\.md: unsupported file type '\.md' \(supported: mp4/);
  });

  it('reads list files: labels (tab or comma), comments, CRLF, quotes, relative paths, nested lists', async () => {
    await touch(
      'lists/main.csv',
      [
        '\uFEFFpath,label',
        '# a comment',
        '../data/b.mp4,walking',
        '',
        '"../other/g.avi", "running, fast"',
        '../other/f.mkv\tswimming',
        '../data/sub',
        '../nope.webm,ghost',
        '../data/b.mp4,duplicate',
        'nested.lst',
      ].join('\r\n'),
    );
    await touch('lists/nested.lst', '../other/h.jpeg\tjumping\n# trailing comment\nmain.csv\n');
    const items = await expandInputs(['lists/main.csv'], { cwd: root });
    expect(items.map((i) => [i.source, i.label, i.kind])).toEqual([
      // A list entry's source is its path as seen from where the list was named (lists/../data/b.mp4).
      ['data/b.mp4', 'walking', 'video'],
      ['other/g.avi', 'running, fast', 'video'],
      ['other/f.mkv', 'swimming', 'video'],
      ['data/sub/c.webm', undefined, 'video'],
      ['data/sub/deeper/d.png', undefined, 'image'],
      ['nope.webm', 'ghost', 'video'],
      ['other/h.jpeg', 'jumping', 'image'],
    ]);
    expect(items[0]!.path).toBe(join(root, 'data/b.mp4'));
    expect(items[5]!.path).toBe(join(root, 'nope.webm'));
  });

  it('two list files with the same relative entries keep apart', async () => {
    await touch('a/videos/x.mp4', 'x');
    await touch('b/videos/x.mp4', 'x');
    await touch('a/labels.csv', 'path,label\nvideos/x.mp4,one\n');
    await touch('b/labels.csv', 'path,label\nvideos/x.mp4,two\n');
    const items = await expandInputs(['a/labels.csv', 'b/labels.csv'], { cwd: root });
    expect(items.map((i) => [i.source, i.label])).toEqual([
      ['a/videos/x.mp4', 'one'],
      ['b/videos/x.mp4', 'two'],
    ]);
  });

  it('follows symlinks without looping', async () => {
    await symlink(join(root, 'data/sub'), join(root, 'data/sub/deeper/loop'));
    try {
      const items = await expandInputs(['data/sub'], { cwd: root });
      expect(items.map((i) => i.source)).toEqual(['data/sub/c.webm', 'data/sub/deeper/d.png']);
    } finally {
      await rm(join(root, 'data/sub/deeper/loop'));
    }
  });

  it('lists the files a folder walk does not take (not hidden ones)', async () => {
    const { items, skipped } = await scanInputs(['data', 'other/f.mkv'], { cwd: root });
    expect(items.length).toBe(7);
    expect(skipped).toEqual(['data/list-inside.txt', 'data/readme.md']);
  });

  it('does not treat list files inside directories as lists', async () => {
    const items = await expandInputs(['data'], { cwd: root });
    expect(items.some((i) => i.source.endsWith('.txt'))).toBe(false);
  });
});

describe('parseListFile', () => {
  it('parses paths, labels and line numbers', () => {
    expect(parseListFile('a.mp4\n#x\n b.mp4 , cat \nc d.mp4\tdog house\n')).toEqual([
      { path: 'a.mp4', line: 1 },
      { path: 'b.mp4', label: 'cat', line: 3 },
      { path: 'c d.mp4', label: 'dog house', line: 4 },
    ]);
  });
});
