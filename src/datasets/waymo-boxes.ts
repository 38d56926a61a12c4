// Waymo-style per-frame 2-D boxes, one JSON file per clip. Written as
//   { "name", "image_width", "image_height", "box_format": "ymin_xmin_ymax_xmax_pixels",
//     "frames": [ { "frame": 0, "timestamp_micros": 0,
//                   "boxes": [ { "id": "1", "type": "cube", "box": [ymin, xmin, ymax, xmax] } ] } ] }
// Read also: a bare array of frames, `labels` for `boxes`, and Waymo's camera-label boxes
// `{ "center_x", "center_y", "length" (x extent), "width" (y extent) }` (or camelCase).
import { readFile } from 'node:fs/promises';
import { writeBytesAtomic } from '../util/atomic.js';
import { DatasetError } from './errors.js';

/** One box: pixel edges, `[ymin, xmin, ymax, xmax]` (max edges exclusive for pixel-aligned boxes). */
export interface Box2d {
  id: string;
  type?: string;
  box: [number, number, number, number];
}

/** One frame's boxes. */
export interface BoxFrame {
  frame: number;
  timestampUs?: number;
  boxes: Box2d[];
}

/** A clip's boxes. */
export interface BoxesClip {
  name?: string;
  width?: number;
  height?: number;
  frames: BoxFrame[];
}

const FIX_BOX =
  'each frame needs "boxes": [{"id": …, "box": [ymin, xmin, ymax, xmax]}] (or Waymo center_x/center_y/length/width)';

function isObj(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

function numberField(o: Record<string, unknown>, names: string[]): number | undefined {
  for (const n of names) {
    const v = o[n];
    if (typeof v === 'number' && Number.isFinite(v)) {
      return v;
    }
  }
  return undefined;
}

function parseBox(b: unknown, file: string, where: string): Box2d {
  if (!isObj(b)) {
    throw new DatasetError(file, `${where} is not an object`, FIX_BOX);
  }
  const id = b.id;
  if (typeof id !== 'string' && typeof id !== 'number') {
    throw new DatasetError(
      file,
      `${where} has no id`,
      'give every box a string or number "id" that is the same across frames',
    );
  }
  const type = typeof b.type === 'string' ? b.type : typeof b.type === 'number' ? String(b.type) : undefined;
  const raw = b.box;
  let box: [number, number, number, number];
  if (Array.isArray(raw)) {
    if (raw.length !== 4 || !raw.every((v) => typeof v === 'number' && Number.isFinite(v))) {
      throw new DatasetError(file, `${where}.box is not 4 numbers`, FIX_BOX);
    }
    box = [raw[0] as number, raw[1] as number, raw[2] as number, raw[3] as number];
  } else if (isObj(raw)) {
    const cx = numberField(raw, ['center_x', 'centerX']);
    const cy = numberField(raw, ['center_y', 'centerY']);
    const len = numberField(raw, ['length']);
    const wid = numberField(raw, ['width']);
    if (cx === undefined || cy === undefined || len === undefined || wid === undefined) {
      throw new DatasetError(file, `${where}.box lacks center_x, center_y, length or width`, FIX_BOX);
    }
    box = [cy - wid / 2, cx - len / 2, cy + wid / 2, cx + len / 2];
  } else {
    throw new DatasetError(file, `${where} has no box`, FIX_BOX);
  }
  return { id: String(id), ...(type !== undefined ? { type } : {}), box };
}

/**
 * Parses a boxes file's JSON text.
 *
 * @throws DatasetError naming the file and the frame or box at fault.
 */
export function parseBoxesJson(text: string, file: string): BoxesClip {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new DatasetError(file, `not valid JSON (${e instanceof Error ? e.message : String(e)})`, FIX_BOX);
  }
  const top = isObj(doc) ? doc : { frames: doc };
  const frames = top.frames;
  if (!Array.isArray(frames)) {
    throw new DatasetError(file, 'no "frames" array', FIX_BOX);
  }
  const out: BoxesClip = { frames: [] };
  if (typeof top.name === 'string') {
    out.name = top.name;
  }
  const w = numberField(top, ['image_width', 'width']);
  const h = numberField(top, ['image_height', 'height']);
  if (w !== undefined) {
    out.width = w;
  }
  if (h !== undefined) {
    out.height = h;
  }
  frames.forEach((f: unknown, i) => {
    if (!isObj(f)) {
      throw new DatasetError(file, `frames[${i}] is not an object`, FIX_BOX);
    }
    const list = f.boxes ?? f.labels;
    if (!Array.isArray(list)) {
      throw new DatasetError(file, `frames[${i}] has no "boxes" array`, FIX_BOX);
    }
    const frame = numberField(f, ['frame', 'frame_index']) ?? i;
    const ts = numberField(f, ['timestamp_micros', 'timestampMicros']);
    out.frames.push({
      frame,
      ...(ts !== undefined ? { timestampUs: ts } : {}),
      boxes: list.map((b: unknown, j) => parseBox(b, file, `frames[${i}].boxes[${j}]`)),
    });
  });
  return out;
}

/** Reads and parses a boxes file. */
export async function readBoxesJson(file: string): Promise<BoxesClip> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    throw new DatasetError(file, 'cannot read the boxes file', 'check the path');
  }
  return parseBoxesJson(text, file);
}

/** The JSON text of a boxes file: one frame per line, keys in a fixed order. */
export function formatBoxesJson(clip: BoxesClip): string {
  const head: Record<string, unknown> = {};
  if (clip.name !== undefined) {
    head.name = clip.name;
  }
  if (clip.width !== undefined) {
    head.image_width = clip.width;
  }
  if (clip.height !== undefined) {
    head.image_height = clip.height;
  }
  head.box_format = 'ymin_xmin_ymax_xmax_pixels';
  const headText = Object.entries(head)
    .map(([k, v]) => `  ${JSON.stringify(k)}: ${JSON.stringify(v)},`)
    .join('\n');
  const frames = clip.frames.map((f) =>
    JSON.stringify({
      frame: f.frame,
      ...(f.timestampUs !== undefined ? { timestamp_micros: f.timestampUs } : {}),
      boxes: f.boxes.map((b) => ({ id: b.id, ...(b.type !== undefined ? { type: b.type } : {}), box: b.box })),
    }),
  );
  return `{\n${headText}\n  "frames": [\n${frames.map((f) => `    ${f}`).join(',\n')}\n  ]\n}\n`;
}

/** Writes {@link formatBoxesJson}'s text atomically. */
export async function writeBoxesJson(file: string, clip: BoxesClip): Promise<void> {
  await writeBytesAtomic(file, formatBoxesJson(clip));
}

/** Box tracks for a tracking readout: the boxes of frame 0 followed through the clip. */
export interface BoxTracks {
  /** Track ids: the boxes of the first frame, in file order (at most `maxBoxes`). */
  ids: string[];
  /** `[K, T, 4]` pixel boxes `[ymin, xmin, ymax, xmax]` (0 where not valid). */
  boxes: Float32Array;
  /** `[K, T]`, 1 where the track's box is present in the frame. */
  valid: Uint8Array;
  numFrames: number;
}

/**
 * The tracks whose box is in the first frame (queries on frame 0, as spec §7.4), frame by frame
 * in the order of `clip.frames`.
 *
 * @param maxBoxes at most this many tracks (default 25).
 */
export function boxTracks(clip: BoxesClip, maxBoxes = 25): BoxTracks {
  const first = clip.frames[0]?.boxes ?? [];
  const ids = first.slice(0, maxBoxes).map((b) => b.id);
  const t = clip.frames.length;
  const boxes = new Float32Array(ids.length * t * 4);
  const valid = new Uint8Array(ids.length * t);
  clip.frames.forEach((f, ti) => {
    for (const b of f.boxes) {
      const k = ids.indexOf(b.id);
      if (k >= 0) {
        boxes.set(b.box, (k * t + ti) * 4);
        valid[k * t + ti] = 1;
      }
    }
  });
  return { ids, boxes, valid, numFrames: t };
}
