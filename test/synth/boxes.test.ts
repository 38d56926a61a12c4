// Boxes from id buffers: tight pixel-edge boxes, the 0.5% floor, the 25-box cap, clip boxes
// against a brute-force pass over the rendered ids.
import { describe, expect, it } from 'vitest';
import { clipBoxes, frameBoxes, MAX_BOXES, MIN_BOX_FRACTION } from '../../src/synth/boxes.js';
import { renderClip } from '../../src/synth/render.js';
import { sceneOf } from '../../src/synth/synth.js';

function paint(ids: Int16Array, W: number, id: number, y0: number, x0: number, h: number, w: number): void {
  for (let y = y0; y < y0 + h; y++) {
    for (let x = x0; x < x0 + w; x++) {
      ids[y * W + x] = id;
    }
  }
}

describe('frameBoxes', () => {
  it('gives [ymin, xmin, ymax, xmax] pixel edges and drops boxes under 0.5% of the frame', () => {
    const W = 97;
    const H = 31;
    const ids = new Int16Array(W * H);
    paint(ids, W, 4, 3, 5, 7, 11); // 77 px ≥ 0.005·97·31 = 15.0
    paint(ids, W, 9, 20, 50, 3, 5); // 15 px: under the floor
    paint(ids, W, 2, 0, 90, 1, 7); // 7 px along the top edge: dropped
    ids[30 * W + 96] = 7; // a single pixel
    paint(ids, W, 5, 10, 70, 4, 4); // 16 px: kept
    const boxes = frameBoxes(ids, W, H);
    expect(MIN_BOX_FRACTION * W * H).toBeCloseTo(15.035, 6);
    expect(boxes).toEqual([
      { id: '4', box: [3, 5, 10, 16] },
      { id: '5', box: [10, 70, 14, 74] },
    ]);
  });

  it('keeps the 25 largest boxes, listed by id', () => {
    const W = 120;
    const H = 100;
    const ids = new Int16Array(W * H);
    // 30 objects; object k is a (k+5)×4 bar, so larger ids are larger boxes.
    for (let k = 1; k <= 30; k++) {
      paint(ids, W, k, (k - 1) * 3, 0, 3, k + 5 + 60);
    }
    const boxes = frameBoxes(ids, W, H);
    expect(boxes.length).toBe(MAX_BOXES);
    expect(boxes.map((b) => b.id)).toEqual(Array.from({ length: 25 }, (_, i) => String(i + 6)));
  });
});

describe('clipBoxes', () => {
  it('boxes every visible object pixel of every frame, with types and timestamps', () => {
    const scene = sceneOf('boxes', 2, 3, 1, 5);
    const clip = renderClip(scene, 50);
    const boxes = clipBoxes(scene, clip, 'clip-0001');
    expect(boxes.frames.map((f) => f.timestampUs)).toEqual([0, 83333, 166667, 250000, 333333]);
    const n = 50 * 50;
    for (let t = 0; t < 5; t++) {
      for (const b of boxes.frames[t]!.boxes) {
        const id = Number(b.id);
        expect(b.type).toBe(scene.objects[id - 1]!.shape);
        let inside = 0;
        let all = 0;
        for (let p = 0; p < n; p++) {
          if (clip.ids[t * n + p] === id) {
            all++;
            const y = Math.floor(p / 50);
            const x = p % 50;
            if (y >= b.box[0] && x >= b.box[1] && y < b.box[2] && x < b.box[3]) {
              inside++;
            }
          }
        }
        expect(inside).toBe(all);
        expect((b.box[2] - b.box[0]) * (b.box[3] - b.box[1])).toBeGreaterThanOrEqual(MIN_BOX_FRACTION * n);
      }
    }
    expect(boxes.frames[0]!.boxes.length).toBeGreaterThan(0);
  });
});
