// The rasterizer against analytic geometry: floor depth and checker colour per pixel, the
// z-buffer's choice between overlapping objects, closed surfaces without holes, near clipping.
import { mat4 } from 'gl-matrix';
import { describe, expect, it } from 'vitest';
import { roomMeshes, shapeMesh } from '../../src/synth/meshes.js';
import { rasterize, type DrawItem, type Material } from '../../src/synth/raster.js';
import {
  cameraView,
  drawItems,
  FOV_Y,
  ROOM_HALF,
  ROOM_HEIGHT,
  type CameraSpec,
  type Scene,
  type V3,
} from '../../src/synth/scenes.js';

const PLAIN_A: Material = {
  base: [0.8, 0.2, 0.1],
  alt: [0.1, 0.3, 0.9],
  pattern: 'checker',
  cell: 1,
  phase: [0.3, 0.3, 0.3],
};
const I = mat4.identity(new Float64Array(16)) as Float64Array;

function camera(eye: V3, target: V3 = [0, 0, 0]): CameraSpec {
  return { start: eye, end: eye, target, fovY: FOV_Y };
}

/** The world ray through pixel centre (x, y): eye + s·dir with dir's camera z = 1. */
function ray(view: ReturnType<typeof cameraView>, x: number, y: number): { eye: number[]; dir: number[] } {
  const c2w = mat4.invert(new Float64Array(16), view.w2c) as Float64Array;
  const d = [(x + 0.5 - view.cx) / view.fx, (y + 0.5 - view.cy) / view.fy, 1];
  const dir = [0, 1, 2].map((r) => c2w[r]! * d[0]! + c2w[4 + r]! * d[1]! + c2w[8 + r]! * d[2]!);
  return { eye: [c2w[12]!, c2w[13]!, c2w[14]!], dir };
}

describe('rasterize', () => {
  it('gives the floor its analytic depth and checker colour at every pixel (odd size 37×23)', () => {
    const floor: DrawItem = { id: 0, mesh: roomMeshes(5, 4).floor, model: I, material: PLAIN_A };
    const cam = camera([0.7, -3.1, 1.9]);
    const view = cameraView(cam, 0, 1, 37, 23);
    const out = rasterize([floor], view, { colour: true });
    let checked = 0;
    for (let y = 0; y < 23; y++) {
      for (let x = 0; x < 37; x++) {
        const { eye, dir } = ray(view, x, y);
        const s = -eye[2]! / dir[2]!;
        const hx = eye[0]! + s * dir[0]!;
        const hy = eye[1]! + s * dir[1]!;
        const p = y * 37 + x;
        if (!(s > 0) || Math.abs(hx) > 5 || Math.abs(hy) > 5) {
          expect(out.id[p]).toBe(-1);
          continue;
        }
        expect(out.id[p]).toBe(0);
        expect(Math.abs(out.depth[p]! - s) / s).toBeLessThan(1e-9);
        const fxc = (hx + 0.3) % 1;
        const fyc = (hy + 0.3) % 1;
        const nearEdge = [fxc, fyc].some((f) => Math.min(Math.abs(f), 1 - Math.abs(f)) < 1e-3);
        if (!nearEdge) {
          const k = Math.floor(hx + 0.3) + Math.floor(hy + 0.3) + Math.floor(0.3);
          const c = ((k % 2) + 2) % 2 === 1 ? PLAIN_A.alt : PLAIN_A.base;
          const ratio = out.colour![3 * p]! / c[0];
          expect(Math.abs(out.colour![3 * p + 1]! - ratio * c[1])).toBeLessThan(1e-12);
          expect(Math.abs(out.colour![3 * p + 2]! - ratio * c[2])).toBeLessThan(1e-12);
          checked++;
        }
      }
    }
    expect(checked).toBeGreaterThan(300);
  });

  it('keeps the nearer of two overlapping cubes and its face depth', () => {
    const cube = shapeMesh('cube');
    const at = (x: number, y: number, z: number): Float64Array =>
      mat4.fromTranslation(new Float64Array(16), [x, y, z]) as Float64Array;
    const near: DrawItem = { id: 1, mesh: cube, model: at(0, -1, 0), material: PLAIN_A };
    const far: DrawItem = { id: 2, mesh: cube, model: at(0.8, 1, 0), material: PLAIN_A };
    const view = cameraView(camera([0, -5, 0], [0, 0, 0]), 0, 1, 31, 31);
    for (const order of [
      [near, far],
      [far, near],
    ]) {
      const out = rasterize(order, view, { colour: false });
      const centre = 15 * 31 + 15;
      expect(out.id[centre]).toBe(1);
      // The near cube's front face is the plane y = −1.5: 3.5 m from the camera at y = −5.
      expect(out.depth[centre]).toBeCloseTo(3.5, 12);
      expect(out.id.filter((v) => v === 2).length).toBeGreaterThan(0);
    }
  });

  it('draws closed shapes without holes', () => {
    for (const shape of ['cube', 'sphere', 'cylinder', 'cone'] as const) {
      const item: DrawItem = {
        id: 3,
        mesh: shapeMesh(shape),
        model: mat4.fromScaling(new Float64Array(16), [2, 2, 2]) as Float64Array,
        material: PLAIN_A,
      };
      const view = cameraView(camera([2.2, -3.3, 1.7]), 0, 1, 41, 41);
      const out = rasterize([item], view, { colour: false });
      for (let y = 0; y < 41; y++) {
        const row = Array.from(out.id.subarray(y * 41, (y + 1) * 41));
        const a = row.indexOf(3);
        const b = row.lastIndexOf(3);
        if (a >= 0) {
          expect(row.slice(a, b + 1).every((v) => v === 3)).toBe(true);
        }
      }
      expect(out.id.filter((v) => v === 3).length).toBeGreaterThan(100);
    }
  });

  it('covers every pixel from inside the room, wherever the camera is (near-plane clipping)', () => {
    const scene: Scene = {
      task: 'depth',
      frames: 1,
      fps: 12,
      room: { half: ROOM_HALF, height: ROOM_HEIGHT },
      camera: camera([0, 0, 1]),
      objects: [],
    };
    const eyes: V3[] = [
      [4.9, 4.9, 3.9],
      [-4.85, 0.2, 0.12],
      [0.1, -4.88, 2],
      [1, 1, 0.15],
    ];
    for (const eye of eyes) {
      const s = { ...scene, camera: camera(eye, [0, 0, 1.5]) };
      const out = rasterize(drawItems(s, 0), cameraView(s.camera, 0, 1, 33, 33), { colour: false });
      expect(out.id.every((v) => v === 0)).toBe(true);
      expect(out.depth.every((d) => Number.isFinite(d) && d > 0)).toBe(true);
    }
  });
});
