// A readout task's data: the clips of a labels file matched to a `walt extract` output, each with
// where its features are (shard, key, shape, dtype) and its targets at the frames the features
// were made from (the manifest's `frame_indices` / `pts`). Everything is read and checked here,
// before a trainer or evaluator writes anything; errors name the input and the fix.
import { existsSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import {
  DatasetError,
  loadBoxesDataset,
  loadClassification,
  loadDepthDataset,
  loadPointsDataset,
  loadPoseDataset,
  readDepth,
  readTracks,
  type DatasetItem,
} from '../datasets/index.js';
import { relativePose, type CameraTrack } from '../datasets/realestate10k.js';
import type { BoxesClip } from '../datasets/waymo-boxes.js';
import { MANIFEST, readManifest, type ManifestLine, type ManifestOk, type TensorInfo } from '../extract/manifest.js';
import type { MetricTask } from '../metrics/tasks.js';
import type { HeadKind } from '../readout/spec.js';
import { sampleDepthAtGrid } from '../ref/losses.js';
import { TrainInputError } from './errors.js';
import { matchPaths } from './match.js';

/** The metric task of each head kind (spec §8). */
export const METRIC_OF_KIND: Readonly<Record<HeadKind, MetricTask>> = {
  attention: 'top1',
  camera: 'pose',
  depth: 'absrel',
  points: 'tapvid',
  boxes: 'boxes',
};

/** Where one clip's features are. */
export interface FeatureRef {
  /** The manifest's `source`. */
  source: string;
  /** Shard file, relative to the features folder. */
  shard: string;
  /** Tensor name in the shard: `<key>/<feature>`. */
  tensor: string;
  dtype: TensorInfo['dtype'];
}

/**
 * How a feature tensor reads as frames × tokens × width: `[T', h, w, D]` → (T', h·w, D); pooled
 * `[T', D]` (space) → (T', 1, D); `[h, w, D]` (time) → (1, h·w, D); `[D]` → (1, 1, D).
 */
export interface FeatureLayout {
  shape: number[];
  T: number;
  N: number;
  C: number;
}

export function featureLayout(shape: readonly number[]): FeatureLayout | null {
  const s = [...shape];
  switch (s.length) {
    case 4:
      return { shape: s, T: s[0]!, N: s[1]! * s[2]!, C: s[3]! };
    case 3:
      return { shape: s, T: 1, N: s[0]! * s[1]!, C: s[2]! };
    case 2:
      return { shape: s, T: s[0]!, N: 1, C: s[1]! };
    case 1:
      return { shape: s, T: 1, N: 1, C: s[0]! };
    default:
      return null;
  }
}

/** One clip's targets (the fields of its kind). Track arrays are per clip, unpadded. */
export interface ClipTargets {
  /** Class index. */
  label?: number;
  /** `[12]`: R row-major ‖ t of E_last·E_first⁻¹ (OC8). */
  pose?: Float32Array;
  /** `[T, Hq, Wq]` metres, the ground truth sampled at the query grid (OC13; 0 = none). */
  depth?: Float32Array;
  /** Tracks of this clip. */
  M?: number;
  /** `[M, n_coords]` in [−1, 1]. */
  queries?: Float32Array;
  /** `[M]`. */
  queryFrames?: Int32Array;
  /** `[T, M, n_values]` in [0, 1]. */
  tracks?: Float32Array;
  /** `[T, M]` 0/1. */
  visible?: Float32Array;
}

export interface TaskClip {
  feature: FeatureRef;
  /** The video, absolute, as the labels file names it. */
  path: string;
  /** 1-based line of the labels file. */
  line: number;
  /** The decoded-frame index of each clip frame (the manifest's `frame_indices`). */
  frameIndices: number[];
  targets: ClipTargets;
}

/** Everything a trainer or evaluator reads of a task. */
export interface TaskData {
  kind: HeadKind;
  featuresDir: string;
  featureName: string;
  labelsFile: string;
  layout: FeatureLayout;
  /** Frames of each clip (the manifest's `frame_indices` length). */
  frames: number;
  clips: TaskClip[];
  /** Classification: class names in index order. */
  classes?: string[];
  /** Depth: the query grid the targets are sampled at. */
  grid?: [number, number];
  /** Tracking: the most tracks of any clip (batches pad to it). */
  maxTracks?: number;
  /** Manifest items no labels row names (ignored). */
  unusedItems: number;
}

export interface LoadTaskOptions {
  kind: HeadKind;
  features: string;
  labels: string;
  /** `--feature`; default: the only feature of the matched items. */
  feature?: string;
  /** Class names in index order (a held-out set takes the training set's). */
  classes?: readonly string[];
  /** Depth query grid (default 128 × 128). */
  grid?: readonly [number, number];
  /** Option names for messages: `--features` / `--labels` or `--val-features` / `--val-labels`. */
  options?: { features: string; labels: string; feature?: string };
  /** Folder relative manifest sources may also be relative to (default process.cwd()). */
  cwd?: string;
}

const plural = (n: number, what: string): string => `${n} ${what}${n === 1 ? '' : 's'}`;

function listSome(xs: readonly string[], n = 3): string {
  return xs.slice(0, n).join('; ') + (xs.length > n ? `; … (${xs.length} in all)` : '');
}

/** The rows of a labels file as the kind's loader reads them, with the targets' raw data. */
type Loaded =
  | { kind: 'class'; rows: (DatasetItem & { index: number })[]; classes: string[] }
  | { kind: 'pose'; rows: (DatasetItem & { cameras: CameraTrack })[] }
  | {
      kind: 'depth';
      rows: (DatasetItem & { read: () => Promise<{ metres: Float32Array; w: number; h: number; t: number }> })[];
    }
  | { kind: 'points'; rows: (DatasetItem & { read: () => ReturnType<typeof readTracks> })[] }
  | { kind: 'boxes'; rows: (DatasetItem & { boxes: BoxesClip; file: string })[] };

async function loadRows(o: LoadTaskOptions, labelsOpt: string): Promise<Loaded> {
  const csv = o.labels;
  if (!existsSync(csv) || statSync(csv).isDirectory()) {
    throw new TrainInputError(
      `${labelsOpt} ${csv}: no such file; give a labels CSV (path,label rows, e.g. walt synth's labels.csv)`,
    );
  }
  try {
    switch (o.kind) {
      case 'attention': {
        const set = await loadClassification(csv, o.classes ? { classes: o.classes } : {});
        return { kind: 'class', rows: set.items, classes: set.classes };
      }
      case 'camera':
        return { kind: 'pose', rows: await loadPoseDataset(csv) };
      case 'depth':
        return {
          kind: 'depth',
          rows: (await loadDepthDataset(csv)).map((d) => ({
            ...d,
            read: async () => {
              const c = await readDepth(d);
              return { metres: c.metres, w: c.width, h: c.height, t: c.numFrames };
            },
          })),
        };
      case 'points':
        return {
          kind: 'points',
          rows: (await loadPointsDataset(csv)).map((p) => ({ ...p, read: () => readTracks(p) })),
        };
      case 'boxes':
        return {
          kind: 'boxes',
          rows: (await loadBoxesDataset(csv)).map((b) => ({ ...b, boxes: b.boxes, file: b.boxesFile })),
        };
    }
  } catch (e) {
    if (e instanceof DatasetError) {
      throw new TrainInputError(
        e.message.startsWith(csv) ? `${labelsOpt} ${e.message}` : `${labelsOpt} ${csv}: ${e.message}`,
      );
    }
    throw e;
  }
}

/** The camera line for clip frame f: nearest timestamp to its pts, else the decoded-frame index. */
function cameraFrameIndex(cam: CameraTrack, item: ManifestOk, f: number): number {
  const pts = item.pts;
  if (pts && pts.every((p) => typeof p === 'number')) {
    const us = pts[f]! * 1e6;
    let best = 0;
    for (let i = 1; i < cam.frames.length; i++) {
      if (Math.abs(cam.frames[i]!.timestampUs - us) < Math.abs(cam.frames[best]!.timestampUs - us)) {
        best = i;
      }
    }
    return best;
  }
  return item.frame_indices[f]!;
}

/**
 * Loads and checks a task: the labels file through its kind's loader, each row matched to the
 * manifest (see match.ts), the feature chosen and its shape checked across clips, and the
 * targets taken at the frames the features were made from:
 * - attention: the class index (class order: `classes`, else synth.json's, else sorted);
 * - camera: `E_b·E_a⁻¹` (OC8) between the camera lines of the clip's first and last frames
 *   (nearest timestamp to each frame's pts; the decoded-frame index when pts are missing);
 * - depth: depth frame `frame_indices[t]` of the scene, sampled at the query grid (OC13);
 * - points: TAP-Vid tracks at `frame_indices`, (x, y) in [0, 1]; a track's query is its first
 *   visible clip frame (query_first), at 2·p − 1; tracks never visible in the clip are dropped;
 * - boxes: the boxes of the clip's first frame (≤ 25) followed by id, `[ymin/H, xmin/W,
 *   ymax/H, xmax/W]`, valid where present; queries = 2·box − 1 on frame 0.
 * @throws TrainInputError naming the option and the fix
 */
export async function loadTaskData(o: LoadTaskOptions): Promise<TaskData> {
  const opt = o.options ?? { features: '--features', labels: '--labels', feature: '--feature' };
  const featureOpt = opt.feature ?? '--feature';
  const dir = resolve(o.features);
  if (!existsSync(join(dir, MANIFEST))) {
    throw new TrainInputError(
      `${opt.features} ${o.features}: no ${MANIFEST} (not a walt extract output); extract features first: walt extract ${o.labels} --out ${o.features} …`,
    );
  }
  let lines: ManifestLine[];
  try {
    lines = readManifest(dir);
  } catch (e) {
    throw new TrainInputError(`${opt.features} ${o.features}: ${e instanceof Error ? e.message : String(e)}`);
  }
  const loaded = await loadRows(o, opt.labels);
  const rows: DatasetItem[] = loaded.rows;
  const labelsDir = dirname(resolve(o.labels));
  const matches = matchPaths(
    lines,
    rows.map((r) => r.path),
    [labelsDir, o.cwd ?? process.cwd()],
  );
  const missing: string[] = [];
  const failed: string[] = [];
  const ambiguous: string[] = [];
  const items: ManifestOk[] = [];
  matches.forEach((m, i) => {
    const r = rows[i]!;
    if (m.status === 'missing') {
      missing.push(`line ${r.line}: ${r.source}`);
    } else if (m.status === 'ambiguous') {
      ambiguous.push(
        `line ${r.line}: ${r.source} (${m.lines.length} manifest lines with source '${m.lines[0]!.source}')`,
      );
    } else if (m.line.status === 'error') {
      failed.push(`line ${r.line}: ${m.line.error}`);
    } else {
      items.push(m.line);
    }
  });
  if (missing.length > 0) {
    throw new TrainInputError(
      `${opt.labels} ${o.labels}: ${plural(missing.length, 'video')} of ${rows.length} not in ${opt.features} ${o.features} (${listSome(missing)}); ` +
        `manifest sources resolve against the labels file's folder and the current directory: extract these videos (walt extract ${o.labels} --out DIR) or run from the folder you extracted in`,
    );
  }
  if (ambiguous.length > 0) {
    throw new TrainInputError(
      `${opt.features} ${o.features}: ${plural(ambiguous.length, 'labels row')} match several manifest items (${listSome(ambiguous)}); ` +
        'list files with the same relative paths were extracted into one folder, so their features cannot be told apart: extract each labels file into its own folder',
    );
  }
  if (failed.length > 0) {
    throw new TrainInputError(
      `${opt.features} ${o.features}: ${plural(failed.length, 'video')} of ${opt.labels} failed extraction (${listSome(failed, 2)}); ` +
        'fix them and rerun walt extract (--retry-errors), or remove their rows from the labels file',
    );
  }
  // The feature.
  const names = Object.keys(items[0]!.tensors);
  let featureName = o.feature;
  if (featureName === undefined) {
    if (names.length !== 1) {
      throw new TrainInputError(
        `${opt.features} ${o.features} holds ${names.length} features (${names.join(', ')}); choose one with ${featureOpt} NAME`,
      );
    }
    featureName = names[0]!;
  }
  const first = items[0]!.tensors[featureName];
  if (!first) {
    throw new TrainInputError(
      `${featureOpt} ${featureName}: not in ${o.features} (it holds ${names.join(', ')}); give one of those`,
    );
  }
  const layout = featureLayout(first.shape);
  if (!layout) {
    throw new TrainInputError(`${featureOpt} ${featureName}: shape [${first.shape.join(', ')}] is not a feature map`);
  }
  const frames = items[0]!.frame_indices.length;
  items.forEach((it, i) => {
    const t = it.tensors[featureName];
    const r = rows[i]!;
    if (!t) {
      throw new TrainInputError(
        `${opt.features} ${o.features}: '${it.source}' (labels line ${r.line}) has no feature ${featureName}; re-extract it with the same options`,
      );
    }
    if (t.shape.join() !== first.shape.join()) {
      throw new TrainInputError(
        `${opt.features} ${o.features}: '${it.source}' has ${featureName} [${t.shape.join(', ')}], '${items[0]!.source}' [${first.shape.join(', ')}]; ` +
          'every clip needs the same shape (extract them with the same options)',
      );
    }
    if (it.frame_indices.length !== frames) {
      throw new TrainInputError(
        `${opt.features} ${o.features}: '${it.source}' was made from ${it.frame_indices.length} frames, '${items[0]!.source}' from ${frames}; extract every clip with the same frame count`,
      );
    }
  });
  const grid: [number, number] = [o.grid?.[0] ?? 128, o.grid?.[1] ?? 128];
  const clips: TaskClip[] = [];
  let maxTracks = 0;
  const dropped: string[] = [];
  for (let i = 0; i < items.length; i++) {
    const it = items[i]!;
    const r = rows[i]!;
    const targets = await clipTargets(loaded, i, it, frames, grid, opt.labels, o.labels);
    if (targets.M !== undefined) {
      maxTracks = Math.max(maxTracks, targets.M);
      if (targets.M === 0) {
        dropped.push(`line ${r.line}: ${r.source}`);
      }
    }
    clips.push({
      feature: {
        source: it.source,
        shard: it.shard,
        tensor: `${it.key}/${featureName}`,
        dtype: it.tensors[featureName]!.dtype,
      },
      path: r.path,
      line: r.line,
      frameIndices: it.frame_indices,
      targets,
    });
  }
  if (dropped.length > 0) {
    throw new TrainInputError(
      `${opt.labels} ${o.labels}: ${plural(dropped.length, 'clip')} without a ${o.kind === 'points' ? 'track visible in its frames' : 'box in its first frame'} (${listSome(dropped)}); remove those rows`,
    );
  }
  const used = new Set(items);
  const data: TaskData = {
    kind: o.kind,
    featuresDir: dir,
    featureName,
    labelsFile: resolve(o.labels),
    layout,
    frames,
    clips,
    unusedItems: lines.filter((l) => !used.has(l as ManifestOk)).length,
  };
  if (loaded.kind === 'class') {
    data.classes = loaded.classes;
  }
  if (o.kind === 'depth') {
    data.grid = grid;
  }
  if (o.kind === 'points' || o.kind === 'boxes') {
    data.maxTracks = maxTracks;
  }
  return data;
}

async function clipTargets(
  loaded: Loaded,
  i: number,
  it: ManifestOk,
  frames: number,
  grid: [number, number],
  labelsOpt: string,
  labels: string,
): Promise<ClipTargets> {
  const fi = it.frame_indices;
  const where = `${labelsOpt} ${labels}`;
  const outOfRange = (file: string, have: number, what: string): TrainInputError =>
    new TrainInputError(
      `${where}: ${file} has ${have} ${what}; the features of '${it.source}' were made from frames up to ${Math.max(...fi)} (frame_indices); give the target of every decoded frame`,
    );
  switch (loaded.kind) {
    case 'class':
      return { label: loaded.rows[i]!.index };
    case 'pose': {
      const row = loaded.rows[i]!;
      const cam = row.cameras;
      const a = cameraFrameIndex(cam, it, 0);
      const b = cameraFrameIndex(cam, it, frames - 1);
      const ea = cam.frames[a];
      const eb = cam.frames[b];
      if (!ea || !eb) {
        throw outOfRange(`the camera file of '${row.source}'`, cam.frames.length, 'frame lines');
      }
      return { pose: Float32Array.from(relativePose(ea.worldToCamera, eb.worldToCamera)) };
    }
    case 'depth': {
      const row = loaded.rows[i]!;
      let d: { metres: Float32Array; w: number; h: number; t: number };
      try {
        d = await row.read();
      } catch (e) {
        throw new TrainInputError(`${where}: ${e instanceof Error ? e.message : String(e)}`);
      }
      if (Math.max(...fi) >= d.t) {
        throw outOfRange(`the scene of '${row.source}'`, d.t, 'depth frames');
      }
      const sel = new Float32Array(frames * d.h * d.w);
      fi.forEach((f, t) => sel.set(d.metres.subarray(f * d.h * d.w, (f + 1) * d.h * d.w), t * d.h * d.w));
      return { depth: Float32Array.from(sampleDepthAtGrid(sel, frames, d.h, d.w, grid[0], grid[1])) };
    }
    case 'points': {
      const row = loaded.rows[i]!;
      let c: Awaited<ReturnType<typeof readTracks>>;
      try {
        c = await row.read();
      } catch (e) {
        throw new TrainInputError(`${where}: ${e instanceof Error ? e.message : String(e)}`);
      }
      if (Math.max(...fi) >= c.numFrames) {
        throw outOfRange(`the tracks of '${row.source}'`, c.numFrames, 'frames');
      }
      const T = c.numFrames;
      const keep: { k: number; q: number }[] = [];
      for (let k = 0; k < c.numPoints; k++) {
        const q = fi.findIndex((f) => c.occluded[k * T + f] === 0);
        if (q >= 0) {
          keep.push({ k, q });
        }
      }
      const M = keep.length;
      const queries = new Float32Array(M * 2);
      const queryFrames = new Int32Array(M);
      const tracks = new Float32Array(frames * M * 2);
      const visible = new Float32Array(frames * M);
      keep.forEach(({ k, q }, m) => {
        queryFrames[m] = q;
        const f0 = fi[q]!;
        queries[2 * m] = 2 * c.points[(k * T + f0) * 2]! - 1;
        queries[2 * m + 1] = 2 * c.points[(k * T + f0) * 2 + 1]! - 1;
        fi.forEach((f, t) => {
          tracks[(t * M + m) * 2] = c.points[(k * T + f) * 2]!;
          tracks[(t * M + m) * 2 + 1] = c.points[(k * T + f) * 2 + 1]!;
          visible[t * M + m] = c.occluded[k * T + f] === 0 ? 1 : 0;
        });
      });
      return { M, queries, queryFrames, tracks, visible };
    }
    case 'boxes': {
      const row = loaded.rows[i]!;
      const clip = row.boxes;
      const W = clip.width;
      const H = clip.height;
      if (W === undefined || H === undefined) {
        throw new TrainInputError(
          `${where}: ${row.file} has no image_width/image_height; add them (boxes are normalised by the frame size)`,
        );
      }
      const byFrame = new Map(clip.frames.map((f, k) => [f.frame ?? k, f]));
      const firstBoxes = (byFrame.get(fi[0]!)?.boxes ?? []).slice(0, 25);
      const ids = firstBoxes.map((b) => b.id);
      const M = ids.length;
      const tracks = new Float32Array(frames * M * 4);
      const visible = new Float32Array(frames * M);
      fi.forEach((f, t) => {
        for (const b of byFrame.get(f)?.boxes ?? []) {
          const m = ids.indexOf(b.id);
          if (m >= 0) {
            const [y0, x0, y1, x1] = b.box;
            tracks.set([y0 / H, x0 / W, y1 / H, x1 / W], (t * M + m) * 4);
            visible[t * M + m] = 1;
          }
        }
      });
      const queries = new Float32Array(M * 4);
      for (let m = 0; m < M; m++) {
        for (let j = 0; j < 4; j++) {
          queries[m * 4 + j] = 2 * tracks[m * 4 + j]! - 1;
        }
      }
      return { M, queries, queryFrames: new Int32Array(M), tracks, visible };
    }
  }
}
