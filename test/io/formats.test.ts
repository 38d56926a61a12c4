// Real-footage formats: a folder scan takes every container and image format ffmpeg decodes
// (case-insensitively), and frame sampling with --start center|random --stride 2 works on every
// codec, including a cinepak AVI whose container lists 444 frames of which 68 decode and an MP4
// with an edit list; the frame indices and timestamps used are reported.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { scanInputs, type InputItem } from '../../src/io/inputs.js';
import { loadClip, probeVideo } from '../../src/io/media.js';
import { makeFormatSample, type FormatFile } from '../../src/io/sample.js';

let dir: string;
let files: FormatFile[];
let skipped: string[];

const item = (f: FormatFile): InputItem => ({ source: f.name, path: f.path, kind: f.kind });
const byName = (name: string): FormatFile => {
  const f = files.find((x) => x.name === name);
  if (!f) {
    throw new Error(`no ${name} (skipped: ${skipped.join('; ')})`);
  }
  return f;
};

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'walt-formats-'));
  ({ files, skipped } = await makeFormatSample(dir));
  await writeFile(join(dir, 'notes.xyz'), 'not media');
  await writeFile(join(dir, 'README.md'), '# clips');
}, 120_000);

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('folder scans', () => {
  it('take .MP4 .m4v .mpg .ts .gif .webp .jpeg (and the rest), and list what they skip', async () => {
    for (const n of ['a.MP4', 'b.m4v', 'c.mpg', 'd.ts', 'e.gif', 'f.webp', 'g.jpeg']) {
      byName(n); // made (a missing encoder would be reported here)
    }
    const scan = await scanInputs([dir]);
    expect(scan.items.map((i) => i.source.split('/').pop()).sort()).toEqual(files.map((f) => f.name).sort());
    expect(scan.skipped.map((s) => s.split('/').pop())).toEqual(['README.md', 'notes.xyz']);
  });
});

describe('sampling on real files', () => {
  it('--start center --stride 2: every file decodes, inside its decodable frames, with timestamps', async () => {
    const failures: string[] = [];
    for (const f of files) {
      for (const start of ['center', 'random'] as const) {
        const c = await loadClip(item(f), { stride: 2, start, size: [32, 32] }).catch((e: unknown) => {
          failures.push(`${f.name} (${start}): ${e instanceof Error ? e.message : String(e)}`);
          return undefined;
        });
        if (!c) {
          continue;
        }
        expect(c.shape, f.name).toEqual([17, 32, 32, 3]);
        expect(c.framesUsed.length).toBe(17);
        expect(Math.max(...c.framesUsed), f.name).toBeLessThan(f.frames);
        if (f.kind === 'video') {
          expect(c.pts?.length, f.name).toBe(17);
          const pts = c.pts!.map((p) => p ?? NaN);
          for (let i = 1; i < 17; i++) {
            expect(pts[i]!, `${f.name} pts ${i}`).toBeGreaterThanOrEqual(pts[i - 1]!);
          }
        } else {
          expect(c.pts).toBeUndefined();
          expect(c.framesUsed).toEqual(new Array<number>(17).fill(0));
        }
      }
    }
    expect(failures).toEqual([]);
  });

  it('a cinepak AVI listing 444 frames of which 68 decode: counted right, window centred in the 68', async () => {
    const f = byName('capture-cinepak.avi');
    const info = await probeVideo(item(f));
    expect(info).toMatchObject({ codec: 'cinepak', packets: 444, frames: 68 });
    const c = await loadClip(item(f), { stride: 2, start: 'center', size: [32, 32] });
    // span 33 of 68: first floor(35 / 2) = 17
    expect(c.framesUsed).toEqual(Array.from({ length: 17 }, (_, i) => 17 + 2 * i));
    expect(c.warnings).toEqual([]);
    // Decodable frame k sits at trunc(k·443/67) on the 30 fps grid.
    expect(c.pts).toEqual(c.framesUsed.map((k) => Math.trunc((k * 443) / 67) / 30));
    const r = await loadClip(item(f), { stride: 2, start: 'random', seed: 3, size: [32, 32] });
    expect(r.framesUsed[16]!).toBeLessThan(68);
  });

  it('an MP4 with an edit list (40 packets, 18 frames) falls back to the decodable count', async () => {
    const f = byName('cut-editlist.mp4');
    const c = await loadClip(item(f), { stride: 2, start: 'center', size: [32, 32] });
    expect(c.framesUsed[0]).toBe(0);
    expect(Math.max(...c.framesUsed)).toBeLessThan(18);
    expect(c.warnings.join('\n')).toMatch(/40 video packets but 18 decodable frames/);
    expect(c.sourceFrames).toBe(18);
  });
});
