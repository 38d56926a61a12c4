import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { coverGeometry, f16ToF32, resizeCropBilinear, rgb24ToFloat } from '../../src/io/convert.js';
import { loadClip } from '../../src/io/media.js';
import { openNpyClip, parseNpyHeader, writeNpyClip } from '../../src/io/npy-clip.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'walt-convert-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('coverGeometry', () => {
  it('matches ffmpeg scale=...:force_original_aspect_ratio=increase + crop', () => {
    // 160x120 -> 128x128: scaled to 171x128 (rounded), crop x = floor(43 / 2) = 21.
    expect(coverGeometry(120, 160, 128, 128)).toEqual({ scaledH: 128, scaledW: 171, y0: 0, x0: 21 });
    expect(coverGeometry(80, 64, 128, 128)).toEqual({ scaledH: 160, scaledW: 128, y0: 16, x0: 0 });
    expect(coverGeometry(64, 64, 32, 32)).toEqual({ scaledH: 32, scaledW: 32, y0: 0, x0: 0 });
    expect(coverGeometry(120, 160, 48, 96)).toEqual({ scaledH: 72, scaledW: 96, y0: 12, x0: 0 });
  });
});

describe('resizeCropBilinear', () => {
  it('is the identity at the same size', () => {
    const src = Float32Array.from({ length: 2 * 5 * 7 * 3 }, (_, i) => (i % 13) / 13);
    expect(resizeCropBilinear(src, 2, 5, 7, 3, 5, 7)).toEqual(src);
  });

  it('reproduces a linear ramp exactly away from the borders (half-pixel centres)', () => {
    const h = 8;
    const w = 8;
    const src = new Float32Array(h * w);
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        src[y * w + x] = x / 10;
      }
    }
    const out = resizeCropBilinear(src, 1, h, w, 1, 16, 16);
    // Output pixel x samples source coordinate (x + 0.5) / 2 - 0.5.
    for (let x = 1; x < 15; x++) {
      expect(out[5 * 16 + x]).toBeCloseTo(((x + 0.5) / 2 - 0.5) / 10, 6);
    }
    expect(out[0]).toBe(0); // clamped at the border
  });

  it('centre-crops after scaling', () => {
    // 4x8 frame whose columns are numbered; 4x4 target keeps the middle columns.
    const src = Float32Array.from({ length: 4 * 8 }, (_, i) => i % 8);
    const out = resizeCropBilinear(src, 1, 4, 8, 1, 4, 4);
    expect(Array.from(out.subarray(0, 4))).toEqual([2, 3, 4, 5]);
  });
});

describe('pixel conversion', () => {
  it('rgb24ToFloat maps bytes to [0, 1] and reorders frames', () => {
    const bytes = Uint8Array.of(0, 128, 255, 10, 20, 30);
    expect(Array.from(rgb24ToFloat(bytes, 3, [1, 0, 1]))).toEqual(
      [10, 20, 30, 0, 128, 255, 10, 20, 30].map((v) => Math.fround(v / 255)),
    );
  });

  it('f16ToF32 decodes half floats', () => {
    expect(Array.from(f16ToF32(Uint16Array.of(0x0000, 0x3c00, 0x3800, 0xc000, 0x7c00, 0x0001)))).toEqual([
      0,
      1,
      0.5,
      -2,
      Infinity,
      2 ** -24,
    ]);
  });
});

describe('npy clips', () => {
  it('round-trips float32 and uint8 headers', async () => {
    const p = join(dir, 'a.npy');
    await writeNpyClip(p, [2, 3, 4, 3], new Float32Array(72).fill(0.5));
    const f = await openNpyClip(p);
    expect(f.header).toMatchObject({ shape: [2, 3, 4, 3], dtype: 'f32', itemSize: 4 });
    expect(f.header.dataOffset % 64).toBe(0);
    const raw = await f.readElements(36, 36);
    expect(new Float32Array(raw.buffer)[0]).toBe(0.5);
    await f.close();
  });

  it('reads float16 clips', async () => {
    // Hand-made v1.0 header for '<f2' [1, 1, 2, 3] holding 0, 0.5, 1, 0.5, 0, 1.
    const dict = "{'descr': '<f2', 'fortran_order': False, 'shape': (1, 1, 2, 3), }";
    const padded = dict + ' '.repeat((64 - ((10 + dict.length + 1) % 64)) % 64) + '\n';
    const head = Buffer.alloc(10 + padded.length);
    head.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]);
    head.writeUInt16LE(padded.length, 8);
    head.write(padded, 10, 'latin1');
    const body = Buffer.from(Uint16Array.of(0, 0x3800, 0x3c00, 0x3800, 0, 0x3c00).buffer);
    const p = join(dir, 'half.npy');
    await writeFile(p, Buffer.concat([head, body]));
    expect(parseNpyHeader(head)).toMatchObject({ dtype: 'f16', shape: [1, 1, 2, 3] });
    const c = await loadClip(p, { frames: 2 });
    expect(c.shape).toEqual([2, 1, 2, 3]);
    expect(Array.from(c.data.subarray(0, 6))).toEqual([0, 0.5, 1, 0.5, 0, 1]);
  });

  it('rejects big-endian and Fortran-ordered arrays', () => {
    const mk = (dict: string): Uint8Array => {
      const head = Buffer.alloc(10 + dict.length);
      head.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]);
      head.writeUInt16LE(dict.length, 8);
      head.write(dict, 10, 'latin1');
      return head;
    };
    expect(() => parseNpyHeader(mk("{'descr': '>f4', 'fortran_order': False, 'shape': (1,), }\n"))).toThrow(
      /unsupported dtype '>f4'/,
    );
    expect(() => parseNpyHeader(mk("{'descr': '<f4', 'fortran_order': True, 'shape': (1,), }\n"))).toThrow(/Fortran/);
    expect(() => parseNpyHeader(Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8, 9, 10))).toThrow(/bad magic/);
  });
});
