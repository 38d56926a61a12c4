// Scene sampling: motion classes do what their names say (in the image), labels and colours are
// balanced, MOVi cameras look at the origin from inside the room, rendering is reproducible.
import { vec3 } from 'gl-matrix';
import { describe, expect, it } from 'vitest';
import { COLOURS } from '../../src/synth/palette.js';
import { renderClip, type RenderedClip } from '../../src/synth/render.js';
import {
  cameraEye,
  cameraView,
  MOTION_CLASSES,
  motionScene,
  objectModel,
  ROOM_HALF,
  ROOM_HEIGHT,
} from '../../src/synth/scenes.js';
import { sceneOf } from '../../src/synth/synth.js';
import { Rng } from '../../src/util/rng.js';

/** Pixel count and centroid (x, y) of id 1 in frame t. */
function blob(clip: RenderedClip, t: number): { n: number; x: number; y: number } {
  const W = clip.width;
  const n0 = W * clip.height;
  let n = 0;
  let sx = 0;
  let sy = 0;
  for (let p = 0; p < n0; p++) {
    if (clip.ids[t * n0 + p] === 1) {
      n++;
      sx += (p % W) + 0.5;
      sy += Math.floor(p / W) + 0.5;
    }
  }
  return { n, x: sx / n, y: sy / n };
}

/** Image angle (atan2(dy, dx), y down: increasing = clockwise on screen) of a body point about the body centre. */
function bodyAngle(clip: RenderedClip, scene: ReturnType<typeof motionScene>, t: number): number {
  const view = clip.views[t]!;
  const m = objectModel(scene.objects[0]!, t, scene.frames);
  const project = (p: number[]): number[] => {
    const w = vec3.transformMat4(new Float64Array(3), p, m);
    const c = vec3.transformMat4(new Float64Array(3), w, view.w2c);
    return [(view.fx * c[0]) / c[2] + view.cx, (view.fy * c[1]) / c[2] + view.cy];
  };
  const o = project([0, 0, 0]);
  const q = project([0.45, 0.3, 0.2]);
  return Math.atan2(q[1]! - o[1]!, q[0]! - o[0]!);
}

describe('motion scenes', () => {
  const size = 48;
  const frames = 9;
  for (const motion of MOTION_CLASSES) {
    it(`'${motion}' moves the main object as named`, () => {
      for (const seed of [1, 2, 3]) {
        const scene = motionScene(new Rng(seed), motion, COLOURS[seed % 6]!, frames);
        const clip = renderClip(scene, size);
        const a = blob(clip, 0);
        const b = blob(clip, frames - 1);
        expect(a.n).toBeGreaterThan(30);
        const dx = (b.x - a.x) / size;
        const dy = (b.y - a.y) / size;
        const grow = b.n / a.n;
        switch (motion) {
          case 'left':
            expect(dx).toBeLessThan(-0.15);
            break;
          case 'right':
            expect(dx).toBeGreaterThan(0.15);
            break;
          case 'up':
            expect(dy).toBeLessThan(-0.1);
            break;
          case 'down':
            expect(dy).toBeGreaterThan(0.1);
            break;
          case 'approach':
            expect(grow).toBeGreaterThan(1.4);
            break;
          case 'recede':
            expect(grow).toBeLessThan(0.7);
            break;
          case 'rotate-cw':
          case 'rotate-ccw': {
            const mid = Math.floor(frames / 2);
            let d = bodyAngle(clip, scene, mid) - bodyAngle(clip, scene, 0);
            d = Math.atan2(Math.sin(d), Math.cos(d));
            expect(motion === 'rotate-cw' ? d : -d).toBeGreaterThan(0.5);
            // It turns in place: its centre does not move.
            expect(scene.objects[0]!.start).toEqual(scene.objects[0]!.end);
            break;
          }
          case 'static':
            expect(
              Buffer.from(clip.rgb.subarray(0, size * size * 3)).equals(
                Buffer.from(clip.rgb.subarray((frames - 1) * size * size * 3)),
              ),
            ).toBe(true);
            break;
        }
        // The camera is fixed in the motion task.
        expect(Array.from(clip.views[0]!.w2c)).toEqual(Array.from(clip.views[frames - 1]!.w2c));
      }
    });
  }

  it('balances motion classes and colours over the clips', () => {
    for (const n of [1, 7, 20, 97]) {
      const motions = new Map<string, number>();
      const colours = new Map<string, number>();
      for (let i = 0; i < n; i++) {
        const s = sceneOf('motion', 5, n, i, 3);
        motions.set(s.motion!, (motions.get(s.motion!) ?? 0) + 1);
        colours.set(s.colour!, (colours.get(s.colour!) ?? 0) + 1);
        expect(s.objects[0]!.colour).toBe(s.colour);
        expect(s.objects.slice(1).every((o) => !COLOURS.some((c) => c.name === o.colour))).toBe(true);
      }
      const spread = (m: Map<string, number>, k: number): number => {
        const counts = [...m.values(), ...Array<number>(k - m.size).fill(0)];
        return Math.max(...counts) - Math.min(...counts);
      };
      expect(spread(motions, MOTION_CLASSES.length)).toBeLessThanOrEqual(1);
      expect(spread(colours, COLOURS.length)).toBeLessThanOrEqual(1);
    }
  });
});

describe('MOVi scenes', () => {
  it('keep the camera inside the room, moving on a line, looking at the origin', () => {
    for (const task of ['depth', 'pose', 'points', 'boxes'] as const) {
      for (let i = 0; i < 12; i++) {
        const s = sceneOf(task, 3, 12, i, 7);
        expect(s.objects.length).toBeGreaterThanOrEqual(task === 'boxes' ? 4 : 3);
        expect(s.objects.length).toBeLessThanOrEqual(task === 'boxes' ? 8 : 6);
        for (let t = 0; t < 7; t++) {
          const e = cameraEye(s.camera, t, 7);
          expect(Math.abs(e[0])).toBeLessThan(ROOM_HALF);
          expect(Math.abs(e[1])).toBeLessThan(ROOM_HALF);
          expect(e[2]).toBeGreaterThan(0);
          expect(e[2]).toBeLessThan(ROOM_HEIGHT);
          const v = cameraView(s.camera, t, 7, 31, 31);
          const o = vec3.transformMat4(new Float64Array(3), [0, 0, 0], v.w2c);
          expect(o[2]).toBeGreaterThan(0);
          expect(Math.abs((v.fx * o[0]) / o[2] + v.cx - 15.5)).toBeLessThan(1e-9);
          expect(Math.abs((v.fy * o[1]) / o[2] + v.cy - 15.5)).toBeLessThan(1e-9);
        }
      }
    }
  });

  it('renders the same bits twice', () => {
    const s = sceneOf('points', 9, 2, 1, 4);
    const a = renderClip(s, 34);
    const b = renderClip(sceneOf('points', 9, 2, 1, 4), 34);
    expect(Buffer.from(a.rgb).equals(Buffer.from(b.rgb))).toBe(true);
    expect(Buffer.from(a.depth.buffer).equals(Buffer.from(b.depth.buffer))).toBe(true);
    expect(a.depth.every((d) => Number.isFinite(d))).toBe(true);
  });
});
