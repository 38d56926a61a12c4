// Rendering a scene's frames: colour supersampled 2×2 and box-filtered to 8-bit RGB, depth and
// ids sampled at the output pixel centres (the targets: depth maps, boxes, track visibility).
import { cameraView, drawItems, objectModel, type Scene } from './scenes.js';
import { rasterize, type View } from './raster.js';

/** A rendered clip. */
export interface RenderedClip {
  width: number;
  height: number;
  frames: number;
  /** `[T, H, W, 3]` 8-bit RGB. */
  rgb: Uint8Array;
  /** `[T, H, W]` camera z in metres at each pixel centre (Infinity where nothing is hit). */
  depth: Float64Array;
  /** `[T, H, W]` surface id (0 room, k object k, −1 nothing). */
  ids: Int16Array;
  /** Per frame: the camera at the output resolution. */
  views: View[];
  /** Per frame, per object (scene order): mesh-to-world matrices. */
  models: Float64Array[][];
}

/** Supersampling factor per axis of the colour pass. */
export const SUPERSAMPLE = 2;

/**
 * Renders every frame of `scene` at `size × size`.
 *
 * Colour: a pass at (SUPERSAMPLE·size)² with the intrinsics scaled to it, each output pixel the
 * mean of its SUPERSAMPLE² samples, rgb = round(255 · clamp(mean, 0, 1)). Depth and ids: a pass
 * at size² (pixel centres).
 */
export function renderClip(scene: Scene, size: number): RenderedClip {
  const T = scene.frames;
  const W = size;
  const H = size;
  const n = W * H;
  const rgb = new Uint8Array(T * n * 3);
  const depth = new Float64Array(T * n);
  const ids = new Int16Array(T * n);
  const views: View[] = [];
  const models: Float64Array[][] = [];
  const S = SUPERSAMPLE;
  for (let t = 0; t < T; t++) {
    const items = drawItems(scene, t);
    const view = cameraView(scene.camera, t, T, W, H);
    views.push(view);
    models.push(scene.objects.map((o) => objectModel(o, t, T)));
    const big = rasterize(items, cameraView(scene.camera, t, T, W * S, H * S), { colour: true });
    const small = rasterize(items, view, { colour: false });
    depth.set(small.depth, t * n);
    ids.set(small.id, t * n);
    const col = big.colour!;
    for (let y = 0; y < H; y++) {
      for (let x = 0; x < W; x++) {
        for (let c = 0; c < 3; c++) {
          let s = 0;
          for (let dy = 0; dy < S; dy++) {
            for (let dx = 0; dx < S; dx++) {
              s += col[((y * S + dy) * W * S + (x * S + dx)) * 3 + c]!;
            }
          }
          const v = s / (S * S);
          rgb[(t * n + y * W + x) * 3 + c] = Math.round(255 * Math.min(1, Math.max(0, v)));
        }
      }
    }
  }
  return { width: W, height: H, frames: T, rgb, depth, ids, views, models };
}
