// Loaders for each task's layout, all driven by an SSv2-style labels CSV (`path,label`, paths
// relative to the CSV's folder). The label column is a class name for classification and the
// target's path for the dense tasks:
//   classification  videos/clip-0000.mp4,left                 (SSv2 / K400 style)
//   depth           videos/clip-0000.mp4,scans/clip-0000       (ScanNet scene folder with depth/)
//   pose            videos/clip-0000.mp4,cameras/clip-0000.txt (RealEstate10K camera file)
//   points          videos/clip-0000.mp4,tracks/clip-0000.npz  (TAP-Vid .npz)
//   boxes           videos/clip-0000.mp4,boxes/clip-0000.json  (Waymo-style 2-D boxes)
import { readFile } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, resolve } from 'node:path';
import { DatasetError } from './errors.js';
import { checkPaths, readLabelsCsv, type LabelRow } from './labels-csv.js';
import { readCameraFile, type CameraTrack } from './realestate10k.js';
import { listDepthFrames, readDepthClip, type DepthClip } from './scannet.js';
import { readTapVidNpz, type TapVidClip } from './tapvid.js';
import { readBoxesJson, type BoxesClip } from './waymo-boxes.js';

export { DatasetError } from './errors.js';
export { readLabelsCsv, parseLabelsCsv, type LabelRow } from './labels-csv.js';

/** What a labels file's second column means. */
export type LabelKind = 'class' | 'depth' | 'pose' | 'points' | 'boxes';

/** What `walt synth` records about one labels file in `synth.json`. */
export interface LabelFileInfo {
  kind: LabelKind;
  /** Class names in index order (kind `class`). */
  classes?: string[];
}

/** Common fields of every item: the video and where it was listed. */
export interface DatasetItem {
  /** The video path as written in the CSV. */
  source: string;
  /** The video path resolved against the CSV's folder. */
  path: string;
  /** 1-based line in the CSV. */
  line: number;
}

/** A classification item. */
export interface ClassItem extends DatasetItem {
  label: string;
  /** Index of `label` in the set's `classes`. */
  index: number;
}

/** A classification set. */
export interface ClassSet {
  file: string;
  items: ClassItem[];
  /** Class names in index order. */
  classes: string[];
}

/**
 * The `synth.json` entry for a labels file, when the CSV sits in a `walt synth` output folder.
 *
 * @returns undefined when there is no synth.json or it does not describe this file.
 */
export async function labelFileInfo(csv: string): Promise<LabelFileInfo | undefined> {
  const text = await readFile(join(dirname(resolve(csv)), 'synth.json'), 'utf8').catch(() => undefined);
  if (text === undefined) {
    return undefined;
  }
  try {
    const doc = JSON.parse(text) as { label_files?: Record<string, LabelFileInfo> };
    return doc.label_files?.[basename(csv)];
  } catch {
    return undefined;
  }
}

/** Options for {@link loadClassification}. */
export interface ClassificationOptions {
  /** Class names in index order; a label not among them is an error. */
  classes?: readonly string[];
  /** Check that every video exists (default true). */
  checkExists?: boolean;
}

/**
 * Loads a classification labels CSV (`path,label`).
 *
 * Class order: `opts.classes` when given; else the order `synth.json` beside the CSV records;
 * else the distinct labels sorted by code point (train and held-out sets agree as long as both
 * hold every class; pass the training set's `classes` to the held-out set to be sure).
 *
 * @throws DatasetError for a malformed file, a missing video, or a label outside `classes`.
 */
export async function loadClassification(csv: string, opts: ClassificationOptions = {}): Promise<ClassSet> {
  const rows = await readLabelsCsv(csv, { checkExists: opts.checkExists ?? true });
  let classes = opts.classes ? [...opts.classes] : (await labelFileInfo(csv))?.classes;
  if (classes === undefined) {
    classes = [...new Set(rows.map((r) => r.label))].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  }
  const index = new Map(classes.map((c, i) => [c, i]));
  const items = rows.map((r) => {
    const i = index.get(r.label);
    if (i === undefined) {
      throw new DatasetError(
        csv,
        `label '${r.label}' is not one of the ${classes.length} classes (${classes.slice(0, 10).join(', ')}${classes.length > 10 ? ', …' : ''})`,
        "use the training set's class names",
        r.line,
      );
    }
    return { source: r.source, path: r.path, line: r.line, label: r.label, index: i };
  });
  return { file: csv, items, classes };
}

function targetPath(csv: string, r: LabelRow): string {
  return isAbsolute(r.label) ? r.label : resolve(dirname(resolve(csv)), r.label);
}

async function rowsWithTargets(
  csv: string,
  what: string,
  checkExists: boolean,
): Promise<(LabelRow & { target: string })[]> {
  const rows = (await readLabelsCsv(csv, { checkExists })).map((r) => ({ ...r, target: targetPath(csv, r) }));
  if (checkExists) {
    await checkPaths(
      csv,
      rows.map((r) => ({ line: r.line, path: r.target })),
      what,
    );
  }
  return rows;
}

/** A depth item: the video and its ScanNet-style scene folder. */
export interface DepthItem extends DatasetItem {
  /** The scene folder (holding `depth/<frame>.png`). */
  scene: string;
  /** Its depth PNGs in frame order. */
  frames: string[];
}

/**
 * Loads a depth labels CSV (`video,scene folder`); read the depth of an item with
 * {@link readDepth}.
 *
 * @throws DatasetError for a malformed file, a missing video or scene, or a scene without frames.
 */
export async function loadDepthDataset(csv: string, opts: { checkExists?: boolean } = {}): Promise<DepthItem[]> {
  const rows = await rowsWithTargets(csv, 'scene folder', opts.checkExists ?? true);
  const out: DepthItem[] = [];
  for (const r of rows) {
    out.push({
      source: r.source,
      path: r.path,
      line: r.line,
      scene: r.target,
      frames: await listDepthFrames(r.target),
    });
  }
  return out;
}

/** The depth of an item in metres, `[T, H, W]` (0 = no depth). */
export function readDepth(item: DepthItem): Promise<DepthClip> {
  return readDepthClip(item.scene);
}

/** A camera-pose item: the video and its RealEstate10K camera file (read). */
export interface PoseItem extends DatasetItem {
  cameraFile: string;
  cameras: CameraTrack;
}

/**
 * Loads a pose labels CSV (`video,camera file`) and reads every camera file.
 *
 * @throws DatasetError for a malformed CSV or camera file or a missing file.
 */
export async function loadPoseDataset(csv: string, opts: { checkExists?: boolean } = {}): Promise<PoseItem[]> {
  const rows = await rowsWithTargets(csv, 'camera file', opts.checkExists ?? true);
  const out: PoseItem[] = [];
  for (const r of rows) {
    out.push({
      source: r.source,
      path: r.path,
      line: r.line,
      cameraFile: r.target,
      cameras: await readCameraFile(r.target),
    });
  }
  return out;
}

/** A point-tracking item: the video and its TAP-Vid .npz (read with {@link readTracks}). */
export interface PointsItem extends DatasetItem {
  tracksFile: string;
}

/**
 * Loads a points labels CSV (`video,tracks .npz`).
 *
 * @throws DatasetError for a malformed CSV or a missing file.
 */
export async function loadPointsDataset(csv: string, opts: { checkExists?: boolean } = {}): Promise<PointsItem[]> {
  const rows = await rowsWithTargets(csv, 'tracks file', opts.checkExists ?? true);
  return rows.map((r) => ({ source: r.source, path: r.path, line: r.line, tracksFile: r.target }));
}

/** The tracks (and frames) of a points item. */
export function readTracks(item: PointsItem): Promise<TapVidClip> {
  return readTapVidNpz(item.tracksFile);
}

/** A box-tracking item: the video and its boxes file (read). */
export interface BoxesItem extends DatasetItem {
  boxesFile: string;
  boxes: BoxesClip;
}

/**
 * Loads a boxes labels CSV (`video,boxes .json`) and reads every boxes file.
 *
 * @throws DatasetError for a malformed CSV or boxes file or a missing file.
 */
export async function loadBoxesDataset(csv: string, opts: { checkExists?: boolean } = {}): Promise<BoxesItem[]> {
  const rows = await rowsWithTargets(csv, 'boxes file', opts.checkExists ?? true);
  const out: BoxesItem[] = [];
  for (const r of rows) {
    out.push({
      source: r.source,
      path: r.path,
      line: r.line,
      boxesFile: r.target,
      boxes: await readBoxesJson(r.target),
    });
  }
  return out;
}
