import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resizeCropBilinear } from '../../src/io/convert.js';
import { expandInputs, type InputItem } from '../../src/io/inputs.js';
import { findFfmpeg, loadClip, probeVideo, windowStart, type Clip } from '../../src/io/media.js';
import { MediaError } from '../../src/io/media-error.js';
import { writeNpyClip } from '../../src/io/npy-clip.js';
import { makeSample, type SampleFile, type SampleManifest } from '../../src/io/sample.js';

let dir: string;
let sample: SampleManifest;

const item = (f: SampleFile): InputItem => ({ source: f.name, path: f.path, kind: f.kind });
const good = (): SampleFile[] => sample.files.filter((f) => f.bad === undefined);
const byName = (prefix: string): SampleFile => {
  const f = sample.files.find((x) => x.name.startsWith(prefix));
  if (f === undefined) {
    throw new Error(`sample has no ${prefix}`);
  }
  return f;
};

function range(c: Clip): [number, number] {
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of c.data) {
    lo = Math.min(lo, v);
    hi = Math.max(hi, v);
  }
  return [lo, hi];
}

function frame(c: Clip, t: number): Float32Array {
  const n = c.shape[1] * c.shape[2] * 3;
  return c.data.subarray(t * n, (t + 1) * n);
}

/** Typed-array equality without vitest's slow deep diff. */
function same(a: ArrayLike<number>, b: ArrayLike<number>): boolean {
  if (a.length !== b.length) {
    return false;
  }
  for (let i = 0; i < a.length; i++) {
    if (a[i] !== b[i]) {
      return false;
    }
  }
  return true;
}

async function mediaError(p: Promise<unknown>): Promise<MediaError> {
  const e = await p.then(
    () => undefined,
    (x: unknown) => x,
  );
  expect(e).toBeInstanceOf(MediaError);
  return e as MediaError;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'walt-media-'));
  sample = await makeSample(dir, { withBad: true });
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('ffmpeg and the sample', () => {
  it('finds the bundled ffmpeg', async () => {
    const ff = await findFfmpeg();
    expect(['bundled', 'system']).toContain(ff.source);
    expect(ff.version.length).toBeGreaterThan(0);
  });

  it('makes every sample file, and keeps existing ones on a second run', async () => {
    expect(sample.skipped).toEqual([]);
    expect(good().length).toBe(8);
    const again = await makeSample(dir, { withBad: true });
    expect(again.files.map((f) => f.name)).toEqual(sample.files.map((f) => f.name));
  });
});

describe('probeVideo', () => {
  it('reports exact frame count, size, fps and codec for every sample video', async () => {
    for (const f of good().filter((x) => x.kind === 'video')) {
      const info = await probeVideo(item(f));
      expect(info, f.name).toMatchObject({ frames: f.frames, width: f.width, height: f.height, codec: f.codec });
      expect(info.fps).toBeGreaterThan(0);
      expect(info.truncated).toBe(false);
    }
  });
});

describe('loadClip: good inputs', () => {
  it('decodes every good item to [17, H, W, 3] in [0, 1] at native size', async () => {
    for (const f of good()) {
      const c = await loadClip(item(f));
      expect(c.shape, f.name).toEqual([17, f.height, f.width, 3]);
      expect(c.data.length).toBe(17 * f.height * f.width * 3);
      const [lo, hi] = range(c);
      expect(lo).toBeGreaterThanOrEqual(0);
      expect(hi).toBeLessThanOrEqual(1);
      expect(hi - lo, `${f.name} is not flat`).toBeGreaterThan(0.2);
      if (f.kind === 'image') {
        expect(c.framesUsed).toEqual(new Array<number>(17).fill(0));
        expect(same(frame(c, 16), frame(c, 0))).toBe(true);
      } else if (f.frames >= 17) {
        expect(c.framesUsed).toEqual([...Array(17).keys()]);
        expect(c.warnings).toEqual([]);
      }
    }
  });

  it('resizes to [128, 128] (cover + centre crop) for every good item', async () => {
    for (const f of good()) {
      const c = await loadClip(item(f), { size: [128, 128], frames: 4 });
      expect(c.shape, f.name).toEqual([4, 128, 128, 3]);
      const [lo, hi] = range(c);
      expect(lo).toBeGreaterThanOrEqual(0);
      expect(hi).toBeLessThanOrEqual(1);
    }
    const rect = await loadClip(item(byName('videos/testsrc2')), { size: [48, 96], frames: 1 });
    expect(rect.shape).toEqual([1, 48, 96, 3]);
  });

  it('decodes PNG pixels exactly, channels-last and row-major', async () => {
    const f = byName('images/testsrc2');
    const png = PNG.sync.read(await readFile(f.path));
    const c = await loadClip(item(f), { imageFrames: 1 });
    expect(c.shape).toEqual([1, png.height, png.width, 3]);
    let mismatches = 0;
    for (let p = 0; p < png.width * png.height; p++) {
      for (let k = 0; k < 3; k++) {
        if (c.data[p * 3 + k] !== Math.fround(png.data[p * 4 + k]! / 255)) {
          mismatches++;
        }
      }
    }
    expect(mismatches).toBe(0);
  });

  it('scales with ffmpeg consistently with a bilinear resize of the native frames (same crop geometry)', async () => {
    const f = byName('videos/testsrc2');
    const native = await loadClip(item(f), { frames: 2 });
    const scaled = await loadClip(item(f), { frames: 2, size: [64, 64] });
    const ref = resizeCropBilinear(native.data, 2, f.height, f.width, 3, 64, 64);
    let sum = 0;
    for (let i = 0; i < ref.length; i++) {
      sum += Math.abs(ref[i]! - scaled.data[i]!);
    }
    // A one-pixel shift of testsrc2's sharp pattern gives > 0.05; filter differences stay well below.
    expect(sum / ref.length).toBeLessThan(0.03);
  });
});

describe('loadClip: frame sampling', () => {
  let all: Clip; // every frame of the 32-frame mp4, native size
  beforeAll(async () => {
    all = await loadClip(item(byName('videos/testsrc2')), { frames: 32 });
    expect(all.warnings).toEqual([]);
  });

  function expectFrames(c: Clip, indices: number[]): void {
    expect(c.framesUsed).toEqual(indices);
    indices.forEach((src, t) => expect(same(frame(c, t), frame(all, src)), `frame ${t} = source ${src}`).toBe(true));
  }

  it('first: frames 0, stride, 2 * stride, ...', async () => {
    const c = await loadClip(item(byName('videos/testsrc2')), { frames: 8, stride: 3 });
    expectFrames(c, [0, 3, 6, 9, 12, 15, 18, 21]);
  });

  it('center: the window is centred in the video', async () => {
    const c = await loadClip(item(byName('videos/testsrc2')), { frames: 8, stride: 3, start: 'center' });
    // span 22 of 32 frames: start floor(10 / 2) = 5
    expectFrames(c, [5, 8, 11, 14, 17, 20, 23, 26]);
    expect(c.sourceFrames).toBe(32);
  });

  it('random: deterministic from seed and source path, inside the video', async () => {
    const f = byName('videos/testsrc2');
    const a = await loadClip(item(f), { frames: 5, stride: 2, start: 'random', seed: 7 });
    const b = await loadClip(item(f), { frames: 5, stride: 2, start: 'random', seed: 7 });
    expect(a.framesUsed).toEqual(b.framesUsed);
    expectFrames(a, a.framesUsed);
    const s0 = a.framesUsed[0]!;
    expect(a.framesUsed).toEqual([s0, s0 + 2, s0 + 4, s0 + 6, s0 + 8]);
    const starts = new Set<number>();
    for (let seed = 0; seed < 40; seed++) {
      const s = windowStart('random', 32, 9, seed, f.name);
      expect(s).toBeGreaterThanOrEqual(0);
      expect(s).toBeLessThanOrEqual(23);
      starts.add(s);
    }
    expect(starts.size).toBeGreaterThan(5);
    expect(windowStart('random', 32, 9, 3, 'a.mp4')).toBe(windowStart('random', 32, 9, 3, 'a.mp4'));
  });

  it('a short video repeats its last frame and warns', async () => {
    const f = byName('videos/short');
    const c = await loadClip(item(f), { stride: 2, size: [32, 32] });
    expect(c.shape).toEqual([17, 32, 32, 3]);
    expect(c.framesUsed).toEqual([0, 2, 4, 6, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8]);
    expect(c.warnings).toEqual(['video has 9 frames; needed 17 at stride 2; repeated the last frame']);
    expect(same(frame(c, 16), frame(c, 4))).toBe(true);
    expect(same(frame(c, 4), frame(c, 3))).toBe(false);
    for (const start of ['center', 'random'] as const) {
      const d = await loadClip(item(f), { stride: 1, start });
      expect(d.framesUsed).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 8, 8, 8, 8, 8, 8, 8, 8]);
      expect(d.warnings).toEqual(['video has 9 frames; needed 17 at stride 1; repeated the last frame']);
    }
  });

  it('images: 17 copies by default, or one frame', async () => {
    const f = byName('images/smptebars');
    expect((await loadClip(item(f))).shape).toEqual([17, 80, 120, 3]);
    expect((await loadClip(item(f), { imageFrames: 1, size: [64, 64] })).shape).toEqual([1, 64, 64, 3]);
  });
});

describe('loadClip: bad inputs', () => {
  it('gives a MediaError with the path and a clear reason for every bad sample file', async () => {
    const expected: Record<string, RegExp> = {
      'bad/truncated.mp4':
        /^bad\/truncated\.mp4: ffmpeg could not decode it \(moov atom not found: the file is truncated/,
      'bad/truncated.webm': /^bad\/truncated\.webm: the file is truncated or damaged \(/,
      'bad/notes.mp4':
        /^bad\/notes\.mp4: not a video \(the file holds text, not MP4 data\); remove it or fix its name$/,
      'bad/empty-stream.avi': /^bad\/empty-stream\.avi: zero decodable frames/,
      'bad/audio-only.mp4': /^bad\/audio-only\.mp4: no video stream in the file; /,
    };
    const bad = sample.files.filter((f) => f.bad !== undefined);
    expect(bad.map((f) => f.name).sort()).toEqual(Object.keys(expected).sort());
    for (const f of bad) {
      for (const start of ['first', 'center'] as const) {
        const e = await mediaError(loadClip(item(f), { start }));
        expect(e.path).toBe(f.path);
        expect(e.source).toBe(f.name);
        expect(e.reason, `${f.name} (${start})`).toBe(f.bad);
        expect(e.message).toMatch(expected[f.name]!);
        expect(e.message).toMatch(/; (re-|remove|pass|fix|check)/); // says what to do
      }
    }
  });

  it("start 'first' reads only the needed frames; verify also checks the rest of the file", async () => {
    const f = byName('bad/truncated.webm');
    const c = await loadClip(item(f), { frames: 2 });
    expect(c.shape).toEqual([2, 64, 96, 3]);
    const e = await mediaError(loadClip(item(f), { frames: 2, verify: true }));
    expect(e.reason).toBe('truncated');
    expect(e.message).toMatch(
      /^bad\/truncated\.webm: the file is truncated or damaged \(ffmpeg could read only \d+ frames: /,
    );
  });

  it('reports missing files, unsupported extensions, empty files, corrupt data and renamed files', async () => {
    const missing = await mediaError(loadClip(join(dir, 'nope.mp4')));
    expect(missing.reason).toBe('missing');
    expect(missing.message).toContain('nope.mp4: no such file');

    const odd = join(dir, 'clip.xyz');
    await writeFile(odd, 'data');
    expect((await mediaError(loadClip(odd))).reason).toBe('unsupported');

    const empty = join(dir, 'empty.webm');
    await writeFile(empty, '');
    const e0 = await mediaError(loadClip(empty));
    expect(e0.reason).toBe('empty');
    expect(e0.message).toMatch(/empty\.webm: the file is empty \(0 bytes\)/);

    const noise = join(dir, 'noise.mkv');
    const bytes = new Uint8Array(4096);
    for (let i = 0; i < bytes.length; i++) {
      bytes[i] = (i * 7919 + 13) % 251;
    }
    await writeFile(noise, bytes);
    const en = await mediaError(loadClip(noise));
    expect(['not-media', 'corrupt']).toContain(en.reason);
    expect(en.message).toMatch(/noise\.mkv: /);

    // A PNG named .mp4 still decodes (ffmpeg sniffs the content).
    const renamed = join(dir, 'actually-png.mp4');
    await writeFile(renamed, await readFile(byName('images/testsrc2').path));
    const c = await loadClip(renamed, { frames: 3 });
    expect(c.shape).toEqual([3, 76, 100, 3]);
    expect(c.warnings[0]).toMatch(/video has 1 frame; needed 3/);
  });

  it.skipIf(process.getuid?.() === 0)(
    'reports unreadable files (skipped as root, who can read every file)',
    async () => {
      const f = join(dir, 'locked.mp4');
      await writeFile(f, await readFile(byName('videos/testsrc2').path));
      await chmod(f, 0o000);
      const e = await mediaError(loadClip(f));
      expect(e.reason).toBe('unreadable');
      expect(e.message).toMatch(/locked\.mp4: permission denied/);
    },
  );

  it('expandInputs + loadClip (verify) over the whole sample', async () => {
    const items = await expandInputs(['videos', 'images', 'bad'].map((d) => join(dir, d)));
    expect(items.length).toBe(sample.files.length);
    const outcomes = await Promise.all(
      items.map((it) =>
        loadClip(it, { frames: 2, size: [32, 32], verify: true }).then(
          () => 'ok',
          (e: MediaError) => e.reason,
        ),
      ),
    );
    const want = items.map((it) => sample.files.find((f) => f.path === it.path)?.bad ?? 'ok');
    expect(outcomes).toEqual(want);
  });
});

describe('loadClip: .npy clips', () => {
  const T = 20;
  const H = 24;
  const W = 32;
  let u8: Uint8Array;
  let u8Path: string;
  beforeAll(async () => {
    u8 = new Uint8Array(T * H * W * 3);
    for (let i = 0; i < u8.length; i++) {
      u8[i] = (i * 31 + Math.floor(i / 97)) % 256;
    }
    u8Path = join(dir, 'clip-u8.npy');
    await writeNpyClip(u8Path, [T, H, W, 3], u8);
  });

  it('reads uint8 0..255 and float32 [0, 1] clips, with frame sampling', async () => {
    const f32 = Float32Array.from(u8, (v) => v / 255);
    const f32Path = join(dir, 'clip-f32.npy');
    await writeNpyClip(f32Path, [T, H, W, 3], f32);
    for (const p of [u8Path, f32Path]) {
      const c = await loadClip(p, { frames: 4, stride: 3, start: 'center' });
      expect(c.shape).toEqual([4, H, W, 3]);
      // span 10 of 20: start 5
      expect(c.framesUsed).toEqual([5, 8, 11, 14]);
      const n = H * W * 3;
      for (let t = 0; t < 4; t++) {
        const src = c.framesUsed[t]!;
        expect(same(frame(c, t), f32.subarray(src * n, (src + 1) * n))).toBe(true);
      }
    }
  });

  it('resizes .npy clips with the TypeScript bilinear resize', async () => {
    const c = await loadClip(u8Path, { frames: 2, size: [16, 16] });
    const ref = resizeCropBilinear(
      Float32Array.from(u8.subarray(0, 2 * H * W * 3), (v) => v / 255),
      2,
      H,
      W,
      3,
      16,
      16,
    );
    expect(c.shape).toEqual([2, 16, 16, 3]);
    expect(same(c.data, ref)).toBe(true);
  });

  it('a short clip repeats its last frame and warns', async () => {
    const c = await loadClip(u8Path, { frames: 17, stride: 2 });
    expect(c.framesUsed.slice(-8)).toEqual([18, 18, 18, 18, 18, 18, 18, 18]);
    expect(c.warnings).toEqual(['clip has 20 frames; needed 17 at stride 2; repeated the last frame']);
  });

  it('rejects wrong layouts and value ranges with a bad-npy MediaError', async () => {
    const chw = join(dir, 'chw.npy');
    await writeNpyClip(chw, [2, 3, 8, 8], new Float32Array(2 * 3 * 8 * 8));
    const e1 = await mediaError(loadClip(chw));
    expect(e1.reason).toBe('bad-npy');
    expect(e1.message).toMatch(/chw\.npy: array shape \[2, 3, 8, 8\] is not a clip; save it as \[T, H, W, 3\]/);

    const big = join(dir, 'big.npy');
    await writeNpyClip(
      big,
      [1, 2, 2, 3],
      Float32Array.from({ length: 12 }, (_, i) => i * 20),
    );
    const e2 = await mediaError(loadClip(big));
    expect(e2.reason).toBe('bad-npy');
    expect(e2.message).toMatch(/divide by 255/);

    const cut = join(dir, 'cut.npy');
    const whole = await readFile(u8Path);
    await writeFile(cut, whole.subarray(0, whole.length - 1000));
    expect((await mediaError(loadClip(cut))).reason).toBe('truncated');
  });
});
