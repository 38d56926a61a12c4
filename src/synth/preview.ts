// Pictures of synthetic clips for people: frames enlarged with nearest-neighbour, point tracks
// (trails, filled dots when visible, rings when occluded), boxes, depth maps in a colour map.
// Written as PNG with pngjs.
import { PNG } from 'pngjs';
import type { TapVidClip } from '../datasets/tapvid.js';
import type { BoxesClip } from '../datasets/waymo-boxes.js';
import type { Rgb } from './palette.js';

/** An 8-bit RGB picture. */
export class Canvas {
  readonly width: number;
  readonly height: number;
  /** `[H, W, 3]`. */
  readonly data: Uint8Array;

  constructor(width: number, height: number, fill: readonly [number, number, number] = [255, 255, 255]) {
    this.width = width;
    this.height = height;
    this.data = new Uint8Array(width * height * 3);
    for (let i = 0; i < width * height; i++) {
      this.data.set(fill, 3 * i);
    }
  }

  /** Frame t of `[T, H, W, 3]` RGB, each pixel drawn as a `scale × scale` block. */
  static fromFrame(rgb: Uint8Array, t: number, width: number, height: number, scale: number): Canvas {
    const c = new Canvas(width * scale, height * scale);
    for (let y = 0; y < c.height; y++) {
      for (let x = 0; x < c.width; x++) {
        const s = ((t * height + Math.floor(y / scale)) * width + Math.floor(x / scale)) * 3;
        c.data.set(rgb.subarray(s, s + 3), (y * c.width + x) * 3);
      }
    }
    return c;
  }

  /** Sets one pixel (ignored outside the canvas). */
  set(x: number, y: number, c: readonly [number, number, number]): void {
    const xi = Math.round(x);
    const yi = Math.round(y);
    if (xi >= 0 && yi >= 0 && xi < this.width && yi < this.height) {
      this.data.set(c, (yi * this.width + xi) * 3);
    }
  }

  /** A line from (x0, y0) to (x1, y1), `thick` pixels wide. */
  line(x0: number, y0: number, x1: number, y1: number, c: readonly [number, number, number], thick = 1): void {
    const steps = Math.max(1, Math.ceil(Math.max(Math.abs(x1 - x0), Math.abs(y1 - y0))));
    const r = (thick - 1) / 2;
    for (let i = 0; i <= steps; i++) {
      const x = x0 + ((x1 - x0) * i) / steps;
      const y = y0 + ((y1 - y0) * i) / steps;
      for (let dy = -Math.floor(r); dy <= Math.ceil(r); dy++) {
        for (let dx = -Math.floor(r); dx <= Math.ceil(r); dx++) {
          this.set(x + dx, y + dy, c);
        }
      }
    }
  }

  /** The outline of the box with corners (x0, y0) and (x1, y1). */
  rect(x0: number, y0: number, x1: number, y1: number, c: readonly [number, number, number], thick = 2): void {
    this.line(x0, y0, x1, y0, c, thick);
    this.line(x1, y0, x1, y1, c, thick);
    this.line(x1, y1, x0, y1, c, thick);
    this.line(x0, y1, x0, y0, c, thick);
  }

  /** A filled disc, or with `ring` only its outline. */
  disc(cx: number, cy: number, r: number, c: readonly [number, number, number], ring = false): void {
    for (let y = Math.floor(cy - r - 1); y <= Math.ceil(cy + r + 1); y++) {
      for (let x = Math.floor(cx - r - 1); x <= Math.ceil(cx + r + 1); x++) {
        const d = Math.hypot(x - cx, y - cy);
        if (ring ? Math.abs(d - r) <= 0.6 : d <= r) {
          this.set(x, y, c);
        }
      }
    }
  }

  /** Copies `src` with its top-left corner at (x, y). */
  blit(src: Canvas, x: number, y: number): void {
    for (let r = 0; r < src.height; r++) {
      for (let k = 0; k < src.width; k++) {
        const o = ((y + r) * this.width + x + k) * 3;
        if (x + k < this.width && y + r < this.height) {
          this.data.set(src.data.subarray((r * src.width + k) * 3, (r * src.width + k) * 3 + 3), o);
        }
      }
    }
  }

  /** PNG bytes (pngjs). */
  png(): Buffer {
    const png = new PNG({ width: this.width, height: this.height });
    for (let i = 0; i < this.width * this.height; i++) {
      png.data[4 * i] = this.data[3 * i]!;
      png.data[4 * i + 1] = this.data[3 * i + 1]!;
      png.data[4 * i + 2] = this.data[3 * i + 2]!;
      png.data[4 * i + 3] = 255;
    }
    return PNG.sync.write(png);
  }
}

/** Canvases side by side (or stacked with `vertical`), `gap` white pixels apart. */
export function stack(tiles: readonly Canvas[], gap = 4, vertical = false): Canvas {
  const w = vertical
    ? Math.max(...tiles.map((t) => t.width))
    : tiles.reduce((s, t) => s + t.width, 0) + gap * (tiles.length - 1);
  const h = vertical
    ? tiles.reduce((s, t) => s + t.height, 0) + gap * (tiles.length - 1)
    : Math.max(...tiles.map((t) => t.height));
  const out = new Canvas(w, h);
  let at = 0;
  for (const t of tiles) {
    if (vertical) {
      out.blit(t, 0, at);
      at += t.height + gap;
    } else {
      out.blit(t, at, 0);
      at += t.width + gap;
    }
  }
  return out;
}

function hsv(h: number, s: number, v: number): [number, number, number] {
  const f = (n: number): number => {
    const k = (n + h * 6) % 6;
    return Math.round(255 * (v - v * s * Math.max(0, Math.min(k, 4 - k, 1))));
  };
  return [f(5), f(3), f(1)];
}

/** A distinct bright colour for track or box k (golden-ratio hues). */
export function markColour(k: number): [number, number, number] {
  return hsv((k * 0.618034) % 1, 0.85, 1);
}

/** A perceptually ordered colour for u ∈ [0, 1] (near = warm, far = cool; a turbo-like ramp). */
export function rampColour(u: number): Rgb {
  const x = Math.min(1, Math.max(0, u));
  const stops: [number, Rgb][] = [
    [0, [0.5, 0.0, 0.0]],
    [0.15, [0.95, 0.2, 0.05]],
    [0.35, [0.98, 0.75, 0.1]],
    [0.5, [0.6, 0.95, 0.25]],
    [0.65, [0.15, 0.85, 0.75]],
    [0.85, [0.2, 0.4, 0.95]],
    [1, [0.2, 0.05, 0.4]],
  ];
  for (let i = 1; i < stops.length; i++) {
    const [b, cb] = stops[i]!;
    const [a, ca] = stops[i - 1]!;
    if (x <= b) {
      const s = (x - a) / (b - a);
      return [ca[0] + (cb[0] - ca[0]) * s, ca[1] + (cb[1] - ca[1]) * s, ca[2] + (cb[2] - ca[2]) * s];
    }
  }
  return stops[stops.length - 1]![1];
}

/**
 * A depth map (`[H, W]` metres, one frame of `[T, H, W]` at frame `t`) in {@link rampColour},
 * `min`…`max` metres mapped to 0…1; no depth (0, Infinity, NaN) is black.
 */
export function depthTile(
  metres: ArrayLike<number>,
  t: number,
  width: number,
  height: number,
  range: { min: number; max: number },
  scale: number,
): Canvas {
  const c = new Canvas(width * scale, height * scale);
  for (let y = 0; y < c.height; y++) {
    for (let x = 0; x < c.width; x++) {
      const d = metres[t * width * height + Math.floor(y / scale) * width + Math.floor(x / scale)]!;
      const col: Rgb =
        d > 0 && Number.isFinite(d) ? rampColour((d - range.min) / Math.max(range.max - range.min, 1e-9)) : [0, 0, 0];
      c.data.set(
        col.map((v) => Math.round(255 * v)),
        (y * c.width + x) * 3,
      );
    }
  }
  return c;
}

/** Draws tracks up to frame t on a frame tile (`scale`: tile pixels per frame pixel). */
export function drawTracks(
  c: Canvas,
  tracks: TapVidClip,
  t: number,
  width: number,
  height: number,
  scale: number,
): void {
  const T = tracks.numFrames;
  for (let k = 0; k < tracks.numPoints; k++) {
    const col = markColour(k);
    const at = (s: number): [number, number] => [
      tracks.points[(k * T + s) * 2]! * width * scale,
      tracks.points[(k * T + s) * 2 + 1]! * height * scale,
    ];
    for (let s = 1; s <= t; s++) {
      if (tracks.occluded[k * T + s - 1] === 0 && tracks.occluded[k * T + s] === 0) {
        const [x0, y0] = at(s - 1);
        const [x1, y1] = at(s);
        c.line(x0, y0, x1, y1, col, 1);
      }
    }
    const [x, y] = at(t);
    if (tracks.occluded[k * T + t] === 0) {
      c.disc(x, y, Math.max(1.5, scale * 0.6), col);
    } else if (x >= 0 && y >= 0 && x < c.width && y < c.height) {
      c.disc(x, y, Math.max(1.5, scale * 0.6), col, true);
    }
  }
}

/** Draws frame t's boxes on a frame tile. */
export function drawBoxes(c: Canvas, boxes: BoxesClip, t: number, scale: number): void {
  const f = boxes.frames[t];
  for (const b of f?.boxes ?? []) {
    const [y0, x0, y1, x1] = b.box;
    const k = Number.isFinite(Number(b.id)) ? Number(b.id) : b.id.length;
    c.rect(x0 * scale, y0 * scale, x1 * scale - 1, y1 * scale - 1, markColour(k), Math.max(1, Math.round(scale / 2)));
  }
}

/** What {@link previewPicture} draws. */
export interface PreviewInput {
  /** `[T, H, W, 3]` RGB. */
  rgb: Uint8Array;
  width: number;
  height: number;
  frames: number;
  tracks?: TapVidClip;
  boxes?: BoxesClip;
  /** `[T, H, W]` metres: adds a row of depth maps. */
  depth?: ArrayLike<number>;
}

/**
 * A row of `show` evenly spaced frames (first and last included), enlarged `scale`×, with the
 * tracks (trails up to each frame) and boxes drawn; below, the depth maps when given (range:
 * the clip's 2nd–98th percentile of valid depth).
 */
export function previewPicture(p: PreviewInput, show = 4, scale = 4): Canvas {
  const count = Math.min(show, p.frames);
  const picks = Array.from({ length: count }, (_, i) =>
    count === 1 ? 0 : Math.round((i * (p.frames - 1)) / (count - 1)),
  );
  const top = picks.map((t) => {
    const c = Canvas.fromFrame(p.rgb, t, p.width, p.height, scale);
    if (p.boxes) {
      drawBoxes(c, p.boxes, t, scale);
    }
    if (p.tracks) {
      drawTracks(c, p.tracks, t, p.width, p.height, scale);
    }
    return c;
  });
  const rows = [stack(top)];
  if (p.depth) {
    const valid = Array.from(p.depth).filter((d) => d > 0 && Number.isFinite(d));
    valid.sort((a, b) => a - b);
    const range = {
      min: valid[Math.floor(0.02 * (valid.length - 1))] ?? 0,
      max: valid[Math.floor(0.98 * (valid.length - 1))] ?? 1,
    };
    rows.push(stack(picks.map((t) => depthTile(p.depth!, t, p.width, p.height, range, scale))));
  }
  return stack(rows, 4, true);
}
