// `walt synth` end to end: same seed → same bytes in every file whatever --out is, reruns
// rewrite identically, bad options exit 2 with one line before anything is written.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { promisify } from 'node:util';
import { PNG } from 'pngjs';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { runCli } from '../../src/cli/commands.js';
import { TASKS } from '../../src/synth/scenes.js';

let root: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'walt-synth-cli-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

/** Runs the CLI, returning its exit code and what it wrote to stderr. */
async function walt(...argv: string[]): Promise<{ code: number; err: string }> {
  let err = '';
  const spy = vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
    err += typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8');
    return true;
  });
  try {
    return { code: await runCli(argv), err };
  } finally {
    spy.mockRestore();
  }
}

/** sha256 of every file under dir, by path relative to dir. */
async function hashes(dir: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const walk = async (d: string): Promise<void> => {
    for (const name of (await readdir(d)).sort()) {
      const p = join(d, name);
      if ((await stat(p)).isDirectory()) {
        await walk(p);
      } else {
        out.set(
          relative(dir, p),
          createHash('sha256')
            .update(await readFile(p))
            .digest('hex'),
        );
      }
    }
  };
  await walk(dir);
  return out;
}

describe('walt synth', () => {
  for (const task of TASKS) {
    it(`--task ${task}: two runs into different folders give identical bytes; a rerun rewrites them identically`, async () => {
      const a = join(root, `${task}-a`);
      const b = join(root, 'elsewhere', 'deeper', `${task}-b`);
      const args = ['--task', task, '--n', '3', '--seed', '7', '--size', '32', '--frames', '5'];
      expect((await walt('synth', ...args, '--out', a)).code).toBe(0);
      expect((await walt('synth', ...args, '--out', b)).code).toBe(0);
      const ha = await hashes(a);
      const hb = await hashes(b);
      expect([...ha.keys()]).toEqual([...hb.keys()]);
      expect(ha).toEqual(hb);
      expect(ha.has('labels.csv') && ha.has('synth.json') && ha.has('videos/clip-0002.mp4')).toBe(true);
      // No path of the output inside any file.
      for (const f of ha.keys()) {
        const bytes = await readFile(join(a, f));
        expect(bytes.includes(Buffer.from(root))).toBe(false);
        expect(bytes.includes(Buffer.from(`${task}-a`))).toBe(false);
      }
      const again = await walt('synth', ...args, '--out', a);
      expect(again.code).toBe(0);
      expect(await hashes(a)).toEqual(ha);
    });
  }

  const bundled = existsSync('dist/cli.js');
  it.skipIf(!bundled)(
    `gives the same bytes from the bundled CLI in another process, time zone and locale${bundled ? '' : ' (skipped: dist/cli.js is not built; run npm run build)'}`,
    async () => {
      const args = ['synth', '--task', 'points', '--n', '2', '--seed=-3', '--size', '24', '--frames', '4'];
      const a = join(root, 'proc-a');
      const b = join(root, 'proc-b');
      expect((await walt(...args, '--out', a)).code).toBe(0);
      await promisify(execFile)(process.execPath, ['dist/cli.js', ...args, '--out', b], {
        env: { ...process.env, TZ: 'Pacific/Chatham', LANG: 'de_DE.UTF-8', LC_ALL: 'de_DE.UTF-8' },
      });
      expect(await hashes(b)).toEqual(await hashes(a));
    },
  );

  it('writes 8 motion clips at the default size in seconds, each with a label and a colour', async () => {
    const out = join(root, 'motion-8');
    const t0 = performance.now();
    const r = await walt('synth', '--task', 'motion', '--n', '8', '--seed', '1', '--out', out);
    const seconds = (performance.now() - t0) / 1000;
    expect(r.code).toBe(0);
    expect(seconds).toBeLessThan(30);
    expect(r.err).toMatch(/8 motion clips \(64×64, 17 frames, (h264|mpeg4)\)/);
    const labels = (await readFile(join(out, 'labels.csv'), 'utf8')).trim().split('\n');
    const colours = (await readFile(join(out, 'appearance.csv'), 'utf8')).trim().split('\n');
    expect(labels.length).toBe(9);
    expect(colours.length).toBe(9);
    expect(labels[0]).toBe('path,label');
    expect(labels[1]).toMatch(
      /^videos\/clip-0000\.mp4,(left|right|up|down|rotate-cw|rotate-ccw|approach|recede|static)$/,
    );
    expect(colours[1]).toMatch(/^videos\/clip-0000\.mp4,(red|yellow|green|cyan|blue|magenta)$/);
  });

  it('draws a preview PNG of clip 0', async () => {
    const out = join(root, 'points-preview');
    const png = join(root, 'pics', 'points.png');
    const r = await walt(
      'synth',
      '--task',
      'points',
      '--n',
      '1',
      '--size',
      '32',
      '--frames',
      '4',
      '--out',
      out,
      '--preview',
      png,
    );
    expect(r.code).toBe(0);
    const img = PNG.sync.read(await readFile(png));
    expect(img.width).toBe(4 * 4 * 32 + 3 * 4);
    expect(img.height).toBe(4 * 32);
  });

  const bad: [string[], RegExp][] = [
    [['--task', 'flow', '--n', '2'], /--task must be one of motion, depth, pose, points, boxes, got 'flow'/],
    [['--n', '2'], /--task is required/],
    [['--task', 'depth', '--n', '0'], /--n must be an integer ≥ 1/],
    [['--task', 'depth', '--n', '2', '--size', '33'], /--size must be even/],
    [['--task', 'depth', '--n', '2', '--size', '8'], /--size must be an integer ≥ 16/],
    [['--task', 'depth', '--n', '2', '--frames', '1'], /--frames must be an integer ≥ 2/],
    [['--task', 'depth', '--n', '2', '--seed', 'x'], /--seed must be an integer/],
    [
      ['--task', 'depth', '--n', '2', '--size', '1024', '--frames', '40'],
      /--frames × --size² is 41943040 pixels per clip, above 33554432/,
    ],
    [['--task', 'depth', '--n', '2', '--preview', 'p.jpg'], /--preview must name a \.png file/],
    [['--task', 'depth', '--n', '2', '--colour', 'red'], /unknown option '?--colour/i],
  ];
  for (const [args, msg] of bad) {
    it(`exits 2 with one line and writes nothing: ${args.join(' ')}`, async () => {
      const out = join(root, `bad-${args.join('_').replace(/[^a-z0-9]/gi, '')}`);
      const r = await walt('synth', ...args, '--out', out);
      expect(r.code).toBe(2);
      expect(r.err).toMatch(msg);
      expect(r.err.trim().split('\n').length).toBe(1);
      expect(await stat(out).catch(() => undefined)).toBeUndefined();
    });
  }

  it('refuses a folder holding other files or another run, with exit 2', async () => {
    const foreign = join(root, 'foreign');
    await mkdir(foreign, { recursive: true });
    await writeFile(join(foreign, 'notes.txt'), 'mine');
    const r1 = await walt('synth', '--task', 'pose', '--n', '1', '--out', foreign);
    expect(r1.code).toBe(2);
    expect(r1.err).toMatch(/not empty and holds no synth\.json/);
    const prev = join(root, 'pose-once');
    expect(
      (await walt('synth', '--task', 'pose', '--n', '1', '--seed', '7', '--size', '32', '--frames', '5', '--out', prev))
        .code,
    ).toBe(0);
    const before = await hashes(prev);
    const r2 = await walt(
      'synth',
      '--task',
      'pose',
      '--n',
      '4',
      '--seed',
      '7',
      '--size',
      '32',
      '--frames',
      '5',
      '--out',
      prev,
    );
    expect(r2.code).toBe(2);
    expect(r2.err).toMatch(/other options/);
    expect(await hashes(prev)).toEqual(before);
  });
});
