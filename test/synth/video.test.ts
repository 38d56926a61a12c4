// Video encoding: the integer BT.601 conversion, and an encoded clip decodes close to its frames.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { findFfmpeg } from '../../src/io/ffmpeg.js';
import { loadClip } from '../../src/io/media.js';
import { renderClip } from '../../src/synth/render.js';
import { sceneOf } from '../../src/synth/synth.js';
import { encodeVideo, pickCodec, rgbToYuv420p } from '../../src/synth/video.js';

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) {
    await rm(d, { recursive: true, force: true });
  }
});

describe('rgbToYuv420p', () => {
  it('maps reference colours to BT.601 limited range', () => {
    const colours = [
      [255, 255, 255, 235, 128, 128],
      [0, 0, 0, 16, 128, 128],
      [255, 0, 0, 82, 90, 240],
      [0, 255, 0, 144, 54, 34],
      [0, 0, 255, 41, 240, 110],
    ];
    for (const [r, g, b, y, u, v] of colours) {
      const rgb = new Uint8Array(2 * 2 * 3);
      for (let i = 0; i < 4; i++) {
        rgb.set([r!, g!, b!], 3 * i);
      }
      expect(Array.from(rgbToYuv420p(rgb, 1, 2, 2))).toEqual([y, y, y, y, u, v]);
    }
  });

  it('averages chroma over 2×2 blocks and refuses odd sizes', () => {
    const rgb = new Uint8Array([255, 0, 0, 0, 0, 255, 0, 0, 255, 255, 0, 0]);
    const yuv = rgbToYuv420p(rgb, 1, 2, 2);
    expect(yuv[4]).toBe((90 + 240 + 240 + 90 + 2) >> 2);
    expect(() => rgbToYuv420p(new Uint8Array(27), 1, 3, 3)).toThrow(/even/);
  });
});

describe('encodeVideo', () => {
  it('writes an mp4 that decodes to the rendered frames (PSNR ≥ 30 dB)', async () => {
    const ff = await findFfmpeg();
    const codec = await pickCodec(ff);
    const dir = await mkdtemp(join(tmpdir(), 'walt-synth-video-'));
    dirs.push(dir);
    const clip = renderClip(sceneOf('motion', 3, 4, 2, 7), 48);
    const path = join(dir, 'clip.mp4');
    await encodeVideo(ff, codec, clip.rgb, 7, 48, 48, 12, path, dir);
    const dec = await loadClip(path, { frames: 7 });
    expect(dec.shape).toEqual([7, 48, 48, 3]);
    let se = 0;
    for (let i = 0; i < clip.rgb.length; i++) {
      const d = dec.data[i]! * 255 - clip.rgb[i]!;
      se += d * d;
    }
    const psnr = 10 * Math.log10((255 * 255) / (se / clip.rgb.length));
    expect(psnr).toBeGreaterThan(30);
  });
});
