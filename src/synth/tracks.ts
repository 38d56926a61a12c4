// Point tracks (TAP-Vid style) from a rendered clip: query points on frame 0 at visible pixel
// centres, carried with their surface (object or room) through the clip, visibility from the
// z-buffer.
import { mat4, vec3 } from 'gl-matrix';
import type { TapVidClip } from '../datasets/tapvid.js';
import type { Rng } from '../util/rng.js';
import { NEAR } from './raster.js';
import type { RenderedClip } from './render.js';

/** Tracks per clip (spec §7.4: 64 points). */
export const POINTS_PER_CLIP = 64;

/**
 * A point is occluded when the z-buffer at its pixel is nearer than the point by more than this
 * fraction of the point's depth (absorbs the depth change across a pixel on slanted surfaces).
 */
export const OCCLUSION_TOLERANCE = 0.03;

function sampleWithout(rng: Rng, pool: number[], k: number, taken: Set<number>): number[] {
  const free = pool.filter((p) => !taken.has(p));
  const out: number[] = [];
  for (let i = 0; i < k && i < free.length; i++) {
    const j = i + rng.int(free.length - i);
    [free[i], free[j]] = [free[j]!, free[i]!];
    out.push(free[i]!);
    taken.add(free[i]!);
  }
  return out;
}

/**
 * Tracks `m` points through `clip`.
 *
 * Queries: up to m/2 pixels of frame 0 drawn without replacement among object pixels (id ≥ 1),
 * the rest among all pixels with a surface. Each query's 3-D point is its pixel centre
 * (x + 0.5, y + 0.5) unprojected at the z-buffer depth, X_cam = ((u − cx)/fx·z, (v − cy)/fy·z, z),
 * expressed in the frame of the surface it lies on (object mesh frame, or world for the room).
 * At frame t the point is moved with that surface and projected: (u, v) = (fx·x/z + cx, fy·y/z + cy),
 * stored as (u/W, v/H). Occluded when z ≤ near, (u, v) is outside [0, W) × [0, H), or the
 * z-buffer at pixel (⌊u⌋, ⌊v⌋) is below z·(1 − {@link OCCLUSION_TOLERANCE}).
 */
export function trackPoints(clip: RenderedClip, rng: Rng, m = POINTS_PER_CLIP): TapVidClip {
  const { width: W, height: H, frames: T } = clip;
  const n = W * H;
  const objectPx: number[] = [];
  const anyPx: number[] = [];
  for (let p = 0; p < n; p++) {
    const id = clip.ids[p]!;
    if (id >= 0 && Number.isFinite(clip.depth[p]!)) {
      anyPx.push(p);
      if (id >= 1) {
        objectPx.push(p);
      }
    }
  }
  const taken = new Set<number>();
  const queries = [...sampleWithout(rng, objectPx, Math.floor(m / 2), taken)];
  queries.push(...sampleWithout(rng, anyPx, m - queries.length, taken));
  const M = queries.length;
  const v0 = clip.views[0]!;
  const c2w0 = mat4.invert(new Float64Array(16), v0.w2c) as Float64Array;
  // Each point in its surface's frame, and that surface's id.
  const local: Float64Array[] = [];
  const surf: number[] = [];
  for (const p of queries) {
    const x = p % W;
    const y = Math.floor(p / W);
    const z = clip.depth[p]!;
    const cam = [((x + 0.5 - v0.cx) / v0.fx) * z, ((y + 0.5 - v0.cy) / v0.fy) * z, z];
    const world = vec3.transformMat4(new Float64Array(3), cam, c2w0) as Float64Array;
    const id = clip.ids[p]!;
    if (id >= 1) {
      const inv = mat4.invert(new Float64Array(16), clip.models[0]![id - 1]!) as Float64Array;
      local.push(vec3.transformMat4(new Float64Array(3), world, inv) as Float64Array);
    } else {
      local.push(world);
    }
    surf.push(id);
  }
  const points = new Float32Array(M * T * 2);
  const occluded = new Uint8Array(M * T);
  const world = new Float64Array(3);
  const cam = new Float64Array(3);
  for (let t = 0; t < T; t++) {
    const view = clip.views[t]!;
    for (let k = 0; k < M; k++) {
      const id = surf[k]!;
      if (id >= 1) {
        vec3.transformMat4(world, local[k]!, clip.models[t]![id - 1]!);
      } else {
        world.set(local[k]!);
      }
      vec3.transformMat4(cam, world, view.w2c);
      const z = Math.max(cam[2]!, NEAR);
      const u = (view.fx * cam[0]!) / z + view.cx;
      const v = (view.fy * cam[1]!) / z + view.cy;
      points[(k * T + t) * 2] = u / W;
      points[(k * T + t) * 2 + 1] = v / H;
      let hidden = cam[2]! <= NEAR || !(u >= 0 && u < W && v >= 0 && v < H);
      if (!hidden) {
        const zb = clip.depth[t * n + Math.floor(v) * W + Math.floor(u)]!;
        hidden = zb < cam[2]! * (1 - OCCLUSION_TOLERANCE);
      }
      occluded[k * T + t] = hidden ? 1 : 0;
    }
  }
  return { numPoints: M, numFrames: T, points, occluded };
}
