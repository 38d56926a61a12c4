// Round trips: `walt synth` writes each task's layout, the loaders read back what was rendered
// (labels, depth in metres, poses, tracks and occlusion, boxes).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  labelFileInfo,
  loadBoxesDataset,
  loadClassification,
  loadDepthDataset,
  loadPointsDataset,
  loadPoseDataset,
  readDepth,
  readTracks,
} from '../../src/datasets/index.js';
import { pixelIntrinsics, relativePose } from '../../src/datasets/realestate10k.js';
import { readIntrinsicMatrix } from '../../src/datasets/scannet.js';
import { boxTracks } from '../../src/datasets/waymo-boxes.js';
import { clipBoxes } from '../../src/synth/boxes.js';
import { COLOURS } from '../../src/synth/palette.js';
import { renderClip, type RenderedClip } from '../../src/synth/render.js';
import { MOTION_CLASSES, type Task } from '../../src/synth/scenes.js';
import { clipName, runSynth, sceneOf } from '../../src/synth/synth.js';
import { trackPoints } from '../../src/synth/tracks.js';
import { hashString, Rng } from '../../src/util/rng.js';

const N = 3;
const SIZE = 32;
const FRAMES = 6;
const SEED = 21;
let root: string;
const out = (task: Task): string => join(root, task);

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'walt-datasets-'));
  for (const task of ['motion', 'depth', 'pose', 'points', 'boxes'] as const) {
    await runSynth({ task, n: N, seed: SEED, out: out(task), size: SIZE, frames: FRAMES });
  }
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

function rendered(task: Task, i: number): RenderedClip {
  return renderClip(sceneOf(task, SEED, N, i, FRAMES), SIZE);
}

describe('round trip through the dataset loaders', () => {
  it('motion: labels.csv and appearance.csv give each clip its motion and colour, classes in index order', async () => {
    const motion = await loadClassification(join(out('motion'), 'labels.csv'));
    const colour = await loadClassification(join(out('motion'), 'appearance.csv'));
    expect(motion.classes).toEqual([...MOTION_CLASSES]);
    expect(colour.classes).toEqual(COLOURS.map((c) => c.name));
    expect((await labelFileInfo(join(out('motion'), 'labels.csv')))?.kind).toBe('class');
    for (let i = 0; i < N; i++) {
      const s = sceneOf('motion', SEED, N, i, FRAMES);
      expect(motion.items[i]!.source).toBe(`videos/${clipName(i, N)}.mp4`);
      expect(motion.items[i]!.path).toBe(join(out('motion'), 'videos', `${clipName(i, N)}.mp4`));
      expect(motion.items[i]!.label).toBe(s.motion);
      expect(motion.classes[motion.items[i]!.index]).toBe(s.motion);
      expect(colour.items[i]!.label).toBe(s.colour);
    }
  });

  it('depth: the ScanNet PNGs read back as the rendered depth in metres (±0.5 mm)', async () => {
    const items = await loadDepthDataset(join(out('depth'), 'labels.csv'));
    expect(items.length).toBe(N);
    for (let i = 0; i < N; i++) {
      const clip = rendered('depth', i);
      const item = items[i]!;
      expect(item.scene).toBe(join(out('depth'), 'scans', clipName(i, N)));
      expect(item.frames.length).toBe(FRAMES);
      const d = await readDepth(item);
      expect([d.numFrames, d.height, d.width]).toEqual([FRAMES, SIZE, SIZE]);
      let worst = 0;
      for (let p = 0; p < d.metres.length; p++) {
        worst = Math.max(worst, Math.abs(d.metres[p]! - clip.depth[p]!));
      }
      expect(worst).toBeLessThanOrEqual(0.0005 + 1e-6);
      const k = await readIntrinsicMatrix(join(item.scene, 'intrinsic', 'intrinsic_depth.txt'));
      expect(k.fx).toBeCloseTo(clip.views[0]!.fx, 5);
      expect(k.cx).toBe(SIZE / 2);
    }
  });

  it('pose: the RealEstate10K files hold every frame’s world-to-camera matrix and intrinsics', async () => {
    const items = await loadPoseDataset(join(out('pose'), 'labels.csv'));
    for (let i = 0; i < N; i++) {
      const clip = rendered('pose', i);
      const cams = items[i]!.cameras;
      expect(cams.url).toBe(`walt-synth://pose/seed-${SEED}/${clipName(i, N)}`);
      expect(cams.frames.length).toBe(FRAMES);
      cams.frames.forEach((f, t) => {
        expect(f.timestampUs).toBe(Math.round((t * 1e6) / 12));
        const v = clip.views[t]!;
        const k = pixelIntrinsics(f, SIZE, SIZE);
        expect(Math.abs(k.fx - v.fx)).toBeLessThan(1e-6);
        expect([k.cx, k.cy]).toEqual([v.cx, v.cy]);
        for (let r = 0; r < 3; r++) {
          for (let c = 0; c < 4; c++) {
            expect(Math.abs(f.worldToCamera[4 * r + c]! - v.w2c[4 * c + r]!)).toBeLessThan(5e-10);
          }
        }
      });
      // OC8's target: identity for a frame with itself, a real motion from first to last.
      const same = relativePose(cams.frames[0]!.worldToCamera, cams.frames[0]!.worldToCamera);
      expect(Array.from(same).map((x) => Math.round(x * 1e6) / 1e6 + 0)).toEqual([1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0]);
      const rel = relativePose(cams.frames[0]!.worldToCamera, cams.frames[FRAMES - 1]!.worldToCamera);
      expect(Math.hypot(rel[9]!, rel[10]!, rel[11]!)).toBeGreaterThan(1e-3);
    }
  });

  it('points: the TAP-Vid .npz holds the frames, tracks and occlusion that were computed', async () => {
    const items = await loadPointsDataset(join(out('points'), 'labels.csv'));
    for (let i = 0; i < N; i++) {
      const clip = rendered('points', i);
      const want = trackPoints(clip, new Rng(hashString(`walt-synth/points/${SEED}/${i}`), 1));
      const got = await readTracks(items[i]!);
      expect([got.numPoints, got.numFrames]).toEqual([64, FRAMES]);
      expect(Array.from(got.points)).toEqual(Array.from(want.points));
      expect(Array.from(got.occluded)).toEqual(Array.from(want.occluded));
      expect(got.video!.shape).toEqual([FRAMES, SIZE, SIZE, 3]);
      expect(Buffer.from(got.video!.data).equals(Buffer.from(clip.rgb))).toBe(true);
    }
  });

  it('boxes: the per-frame JSON holds the boxes of the id buffers, and box tracks follow frame 0', async () => {
    const items = await loadBoxesDataset(join(out('boxes'), 'labels.csv'));
    for (let i = 0; i < N; i++) {
      const scene = sceneOf('boxes', SEED, N, i, FRAMES);
      const want = clipBoxes(scene, rendered('boxes', i), clipName(i, N));
      const got = items[i]!.boxes;
      expect(got).toEqual(want);
      const tr = boxTracks(got);
      expect(tr.ids).toEqual(want.frames[0]!.boxes.map((b) => b.id));
      expect(Array.from(tr.valid.subarray(0, tr.ids.length * FRAMES).filter((_, j) => j % FRAMES === 0))).toEqual(
        tr.ids.map(() => 1),
      );
    }
  });
});
