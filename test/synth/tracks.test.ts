// Point tracks against an independent ray caster: a track is occluded exactly when the segment
// from the camera to its 3-D point hits a surface well before the point, or it leaves the frame.
import { mat4, vec3 } from 'gl-matrix';
import { describe, expect, it } from 'vitest';
import { renderClip } from '../../src/synth/render.js';
import { cameraEye, drawItems, type Scene } from '../../src/synth/scenes.js';
import { sceneOf } from '../../src/synth/synth.js';
import { OCCLUSION_TOLERANCE, POINTS_PER_CLIP, trackPoints } from '../../src/synth/tracks.js';
import { Rng } from '../../src/util/rng.js';

/** World-space triangles of frame t, 9 numbers each. */
function triangles(scene: Scene, t: number): Float64Array[] {
  const out: Float64Array[] = [];
  for (const item of drawItems(scene, t)) {
    const { positions, indices } = item.mesh;
    for (let f = 0; f < indices.length; f += 3) {
      const tri = new Float64Array(9);
      for (let k = 0; k < 3; k++) {
        const i = indices[f + k]!;
        const w = vec3.transformMat4(
          new Float64Array(3),
          [positions[3 * i]!, positions[3 * i + 1]!, positions[3 * i + 2]!],
          item.model,
        );
        tri.set(w, 3 * k);
      }
      out.push(tri);
    }
  }
  return out;
}

/** Smallest s in (0, 1) with eye + s·(p − eye) on a triangle (Möller–Trumbore), or Infinity. */
function firstHit(tris: Float64Array[], eye: number[], p: number[]): number {
  const d = [p[0]! - eye[0]!, p[1]! - eye[1]!, p[2]! - eye[2]!];
  let best = Infinity;
  for (const t of tris) {
    const e1 = [t[3]! - t[0]!, t[4]! - t[1]!, t[5]! - t[2]!];
    const e2 = [t[6]! - t[0]!, t[7]! - t[1]!, t[8]! - t[2]!];
    const h = [d[1]! * e2[2]! - d[2]! * e2[1]!, d[2]! * e2[0]! - d[0]! * e2[2]!, d[0]! * e2[1]! - d[1]! * e2[0]!];
    const a = e1[0]! * h[0]! + e1[1]! * h[1]! + e1[2]! * h[2]!;
    if (Math.abs(a) < 1e-12) {
      continue;
    }
    const s0 = [eye[0]! - t[0]!, eye[1]! - t[1]!, eye[2]! - t[2]!];
    const u = (s0[0]! * h[0]! + s0[1]! * h[1]! + s0[2]! * h[2]!) / a;
    if (u < 0 || u > 1) {
      continue;
    }
    const q = [s0[1]! * e1[2]! - s0[2]! * e1[1]!, s0[2]! * e1[0]! - s0[0]! * e1[2]!, s0[0]! * e1[1]! - s0[1]! * e1[0]!];
    const v = (d[0]! * q[0]! + d[1]! * q[1]! + d[2]! * q[2]!) / a;
    if (v < 0 || u + v > 1) {
      continue;
    }
    const s = (e2[0]! * q[0]! + e2[1]! * q[1]! + e2[2]! * q[2]!) / a;
    if (s > 1e-9 && s < best) {
      best = s;
    }
  }
  return best;
}

describe('trackPoints', () => {
  it('puts the queries on visible frame-0 pixel centres, half of them on objects', () => {
    const scene = sceneOf('points', 4, 1, 0, 5);
    const clip = renderClip(scene, 40);
    const tr = trackPoints(clip, new Rng(1));
    expect(tr.numPoints).toBe(POINTS_PER_CLIP);
    let onObjects = 0;
    for (let k = 0; k < tr.numPoints; k++) {
      expect(tr.occluded[k * 5]).toBe(0);
      const x = tr.points[k * 5 * 2]! * 40 - 0.5;
      const y = tr.points[k * 5 * 2 + 1]! * 40 - 0.5;
      expect(Math.abs(x - Math.round(x))).toBeLessThan(1e-4);
      expect(Math.abs(y - Math.round(y))).toBeLessThan(1e-4);
      if (clip.ids[Math.round(y) * 40 + Math.round(x)]! >= 1) {
        onObjects++;
      }
    }
    expect(onObjects).toBeGreaterThanOrEqual(POINTS_PER_CLIP / 2);
  });

  it('agrees with a ray caster on occlusion and leaving the frame', () => {
    let agree = 0;
    let total = 0;
    let hiddenInFrame = 0;
    let outOfFrame = 0;
    for (let i = 0; i < 4; i++) {
      const T = 9;
      const scene = sceneOf('points', 11, 4, i, T);
      const size = 36;
      const clip = renderClip(scene, size);
      const tr = trackPoints(clip, new Rng(i));
      const c2w0 = mat4.invert(new Float64Array(16), clip.views[0]!.w2c) as Float64Array;
      for (let t = 0; t < T; t++) {
        const tris = triangles(scene, t);
        const eye = cameraEye(scene.camera, t, T);
        for (let k = 0; k < tr.numPoints; k++) {
          // The tracked point, re-derived from its query pixel and moved with its surface.
          const u0 = tr.points[k * T * 2]! * size;
          const v0 = tr.points[k * T * 2 + 1]! * size;
          const p0 = Math.floor(v0) * size + Math.floor(u0);
          const z0 = clip.depth[p0]!;
          const view0 = clip.views[0]!;
          const cam0 = [((u0 - view0.cx) / view0.fx) * z0, ((v0 - view0.cy) / view0.fy) * z0, z0];
          const w0 = vec3.transformMat4(new Float64Array(3), cam0, c2w0);
          const id = clip.ids[p0]!;
          let w = w0;
          if (id >= 1) {
            const local = vec3.transformMat4(
              new Float64Array(3),
              w0,
              mat4.invert(new Float64Array(16), clip.models[0]![id - 1]!) as Float64Array,
            );
            w = vec3.transformMat4(new Float64Array(3), local, clip.models[t]![id - 1]!);
          }
          const u = tr.points[(k * T + t) * 2]! * size;
          const v = tr.points[(k * T + t) * 2 + 1]! * size;
          const inFrame = u >= 0 && u < size && v >= 0 && v < size;
          const s = firstHit(tris, eye, Array.from(w));
          const truth = !inFrame || s < 1 - OCCLUSION_TOLERANCE;
          if (!inFrame) {
            outOfFrame++;
            expect(tr.occluded[k * T + t]).toBe(1);
          } else if (truth) {
            hiddenInFrame++;
          }
          agree += (tr.occluded[k * T + t] === 1) === truth ? 1 : 0;
          total++;
        }
      }
    }

    expect(hiddenInFrame).toBeGreaterThan(5);
    expect(outOfFrame).toBeGreaterThan(5);
    expect(agree / total).toBeGreaterThan(0.97);
  });
});
