// Waymo-style 2-D boxes from the id buffer: the tight box of each object's visible pixels.
import type { Box2d, BoxesClip } from '../datasets/waymo-boxes.js';
import type { RenderedClip } from './render.js';
import type { Scene } from './scenes.js';

/** Boxes smaller than this fraction of the frame's area are dropped. */
export const MIN_BOX_FRACTION = 0.005;
/** At most this many boxes per frame (the largest are kept). */
export const MAX_BOXES = 25;

/**
 * The boxes of one frame's id buffer `ids` (`[H, W]`, objects have ids ≥ 1): for each id, the
 * pixel-edge box [ymin, xmin, ymax, xmax] = [min row, min col, max row + 1, max col + 1] of its
 * pixels; boxes with (ymax − ymin)(xmax − xmin) < MIN_BOX_FRACTION·H·W dropped; the MAX_BOXES
 * largest kept (ties: lower id first); returned by increasing id.
 *
 * @param types the type name of each id (optional).
 */
export function frameBoxes(
  ids: Int16Array,
  width: number,
  height: number,
  types?: ReadonlyMap<number, string>,
): Box2d[] {
  const ext = new Map<number, [number, number, number, number]>();
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const id = ids[y * width + x]!;
      if (id < 1) {
        continue;
      }
      const e = ext.get(id);
      if (e === undefined) {
        ext.set(id, [y, x, y + 1, x + 1]);
      } else {
        e[0] = Math.min(e[0], y);
        e[1] = Math.min(e[1], x);
        e[2] = Math.max(e[2], y + 1);
        e[3] = Math.max(e[3], x + 1);
      }
    }
  }
  const minArea = MIN_BOX_FRACTION * width * height;
  const kept = [...ext.entries()]
    .map(([id, b]) => ({ id, b, area: (b[2] - b[0]) * (b[3] - b[1]) }))
    .filter((e) => e.area >= minArea)
    .sort((a, b) => b.area - a.area || a.id - b.id)
    .slice(0, MAX_BOXES)
    .sort((a, b) => a.id - b.id);
  return kept.map((e) => {
    const type = types?.get(e.id);
    return { id: String(e.id), ...(type !== undefined ? { type } : {}), box: e.b };
  });
}

/** Every frame's boxes of a rendered clip, with timestamps round(t·10⁶/fps) µs. */
export function clipBoxes(scene: Scene, clip: RenderedClip, name: string): BoxesClip {
  const types = new Map(scene.objects.map((o) => [o.id, o.shape]));
  const n = clip.width * clip.height;
  const frames = [];
  for (let t = 0; t < clip.frames; t++) {
    frames.push({
      frame: t,
      timestampUs: Math.round((t * 1e6) / scene.fps),
      boxes: frameBoxes(clip.ids.subarray(t * n, (t + 1) * n), clip.width, clip.height, types),
    });
  }
  return { name, width: clip.width, height: clip.height, frames };
}
