// `walt synth`: n seeded clips of one task written in the real datasets' layouts (see
// docs/synth.md). Every file is a pure function of (task, n, seed, size, frames) and the ffmpeg
// build: no paths, dates or timings inside, integer pixel/depth values, fixed text formats.
import { mkdir, mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeLabelsCsv } from '../datasets/labels-csv.js';
import { writeCameraFile, type CameraFrame } from '../datasets/realestate10k.js';
import { writeDepthFrames, writeIntrinsicMatrix } from '../datasets/scannet.js';
import { writeTapVidNpz } from '../datasets/tapvid.js';
import { writeBoxesJson } from '../datasets/waymo-boxes.js';
import type { LabelFileInfo } from '../datasets/index.js';
import { findFfmpeg, type FfmpegInfo } from '../io/ffmpeg.js';
import { writeBytesAtomic } from '../util/atomic.js';
import { hashString, Rng } from '../util/rng.js';
import { clipBoxes } from './boxes.js';
import { previewPicture, type Canvas } from './preview.js';
import { COLOURS } from './palette.js';
import { renderClip, type RenderedClip } from './render.js';
import { balanced, FPS, MOTION_CLASSES, motionScene, moviScene, type Scene, type Task } from './scenes.js';
import { POINTS_PER_CLIP, trackPoints } from './tracks.js';
import { encodeVideo, pickCodec, type VideoCodec } from './video.js';

/** Options of one synth run (validated by the CLI). */
export interface SynthOptions {
  task: Task;
  /** Number of clips (≥ 1). */
  n: number;
  /** Any integer. */
  seed: number;
  /** Output folder: absent, empty, or an earlier run of the same options. */
  out: string;
  /** Frame side in pixels (even, ≥ 16). */
  size: number;
  /** Frames per clip (≥ 2). */
  frames: number;
  /** Called after each finished clip. */
  onClip?: (done: number, total: number) => void;
  ffmpeg?: FfmpegInfo;
}

/** What a run wrote. */
export interface SynthResult {
  out: string;
  clips: number;
  codec: VideoCodec;
  /** Every file written, relative to `out`, `/`-separated, sorted. */
  files: string[];
  /** Clip 0's scene and frames (for pictures). */
  first: { scene: Scene; clip: RenderedClip; name: string };
}

/** Raised when the output folder holds something else. */
export class SynthOutError extends Error {
  override name = 'SynthOutError';
}

/** Version of the layout written (recorded in synth.json). */
export const SYNTH_FORMAT = 1;

/** `clip-0000`, …: at least 4 digits, enough for n − 1. */
export function clipName(i: number, n: number): string {
  return `clip-${String(i).padStart(Math.max(4, String(n - 1).length), '0')}`;
}

/** The seeded RNG of clip i (stream 0: the scene, stream 1: the point queries). */
function clipRng(task: Task, seed: number, i: number, stream: number): Rng {
  return new Rng(hashString(`walt-synth/${task}/${seed}/${i}`), stream);
}

/** The labels files a task writes and what their second column holds. */
export function labelFiles(task: Task): Record<string, LabelFileInfo> {
  switch (task) {
    case 'motion':
      return {
        'labels.csv': { kind: 'class', classes: [...MOTION_CLASSES] },
        'appearance.csv': { kind: 'class', classes: COLOURS.map((c) => c.name) },
      };
    case 'depth':
      return { 'labels.csv': { kind: 'depth' } };
    case 'pose':
      return { 'labels.csv': { kind: 'pose' } };
    case 'points':
      return { 'labels.csv': { kind: 'points' } };
    case 'boxes':
      return { 'labels.csv': { kind: 'boxes' } };
  }
}

/** The text of synth.json: the options and layout facts, nothing that varies between runs. */
export function synthInfo(
  o: Pick<SynthOptions, 'task' | 'n' | 'seed' | 'size' | 'frames'>,
  codec: VideoCodec,
  ff: FfmpegInfo,
): string {
  const info = {
    generator: 'walt synth',
    format: SYNTH_FORMAT,
    task: o.task,
    n: o.n,
    seed: o.seed,
    size: o.size,
    frames: o.frames,
    fps: FPS,
    video: { encoder: codec.encoder, codec: codec.codec, pix_fmt: 'yuv420p', ffmpeg: ff.version },
    label_files: labelFiles(o.task),
    ...(o.task === 'points' ? { points_per_clip: POINTS_PER_CLIP } : {}),
    ...(o.task === 'depth' ? { depth: { unit: 'mm', shift: 1000, invalid: 0, kind: 'z along the optical axis' } } : {}),
    ...(o.task === 'pose'
      ? { camera: { axes: 'opencv (x right, y down, z forward)', extrinsics: 'world-to-camera' } }
      : {}),
  };
  return JSON.stringify(info, null, 2) + '\n';
}

/**
 * Checks that `out` may be written: absent, an empty folder, or a folder whose synth.json is
 * exactly `info` (an earlier run of the same command: its files are rewritten, identically).
 *
 * @throws SynthOutError otherwise.
 */
export async function checkOut(out: string, info: string): Promise<void> {
  const st = await stat(out).catch(() => undefined);
  if (st === undefined) {
    return;
  }
  if (!st.isDirectory()) {
    throw new SynthOutError(`--out ${out} is a file; give a folder (new or empty)`);
  }
  const names = await readdir(out);
  if (names.length === 0) {
    return;
  }
  const prev = await readFile(join(out, 'synth.json'), 'utf8').catch(() => undefined);
  if (prev === undefined) {
    throw new SynthOutError(`--out ${out} is not empty and holds no synth.json; give a new or empty folder`);
  }
  if (prev !== info) {
    throw new SynthOutError(
      `--out ${out} holds a walt synth output with other options (see its synth.json); give a new folder or delete it`,
    );
  }
}

function cameraFrames(scene: Scene, clip: RenderedClip): CameraFrame[] {
  return clip.views.map((v, t) => {
    const m = v.w2c;
    // Column-major 4×4 → row-major 3×4.
    const e = new Float64Array(12);
    for (let r = 0; r < 3; r++) {
      for (let c = 0; c < 4; c++) {
        e[4 * r + c] = m[4 * c + r]!;
      }
    }
    return {
      timestampUs: Math.round((t * 1e6) / scene.fps),
      fx: v.fx / v.width,
      fy: v.fy / v.height,
      cx: v.cx / v.width,
      cy: v.cy / v.height,
      worldToCamera: e,
    };
  });
}

/** The scene of clip i (for tests and pictures: the same one a run renders). */
export function sceneOf(task: Task, seed: number, n: number, i: number, frames: number): Scene {
  const rng = clipRng(task, seed, i, 0);
  if (task === 'motion') {
    const labelRng = new Rng(hashString(`walt-synth/${task}/${seed}/labels`));
    const motions = balanced(labelRng, n, MOTION_CLASSES.length);
    const colours = balanced(labelRng, n, COLOURS.length);
    return motionScene(rng, MOTION_CLASSES[motions[i]!]!, COLOURS[colours[i]!]!, frames);
  }
  return moviScene(rng, task, frames);
}

/** Writes clip i's targets; returns the files written (relative) and its labels row(s). */
async function writeTargets(
  o: SynthOptions,
  i: number,
  scene: Scene,
  clip: RenderedClip,
): Promise<{ files: string[]; label: string; appearance?: string }> {
  const name = clipName(i, o.n);
  const out = o.out;
  switch (o.task) {
    case 'motion':
      return { files: [], label: scene.motion!, appearance: scene.colour! };
    case 'depth': {
      const scan = `scans/${name}`;
      await mkdir(join(out, scan, 'depth'), { recursive: true });
      await mkdir(join(out, scan, 'intrinsic'), { recursive: true });
      await writeDepthFrames(join(out, scan), clip.depth, clip.frames, clip.height, clip.width);
      const v = clip.views[0]!;
      await writeIntrinsicMatrix(join(out, scan, 'intrinsic', 'intrinsic_depth.txt'), v);
      return {
        files: [
          ...Array.from({ length: clip.frames }, (_, t) => `${scan}/depth/${t}.png`),
          `${scan}/intrinsic/intrinsic_depth.txt`,
        ],
        label: scan,
      };
    }
    case 'pose': {
      const file = `cameras/${name}.txt`;
      await writeCameraFile(join(out, file), {
        url: `walt-synth://pose/seed-${o.seed}/${name}`,
        frames: cameraFrames(scene, clip),
      });
      return { files: [file], label: file };
    }
    case 'points': {
      const file = `tracks/${name}.npz`;
      const tracks = trackPoints(clip, clipRng(o.task, o.seed, i, 1));
      await writeTapVidNpz(join(out, file), {
        ...tracks,
        video: { shape: [clip.frames, clip.height, clip.width, 3], data: clip.rgb },
      });
      return { files: [file], label: file };
    }
    case 'boxes': {
      const file = `boxes/${name}.json`;
      await writeBoxesJson(join(out, file), clipBoxes(scene, clip, name));
      return { files: [file], label: file };
    }
  }
}

const TARGET_DIRS: Record<Task, string[]> = {
  motion: [],
  depth: ['scans'],
  pose: ['cameras'],
  points: ['tracks'],
  boxes: ['boxes'],
};

/**
 * Renders and writes `o.n` clips (videos, targets, labels files, synth.json). Clips are
 * rendered one after another while ffmpeg encodes the previous ones (at most two at once).
 *
 * @throws SynthOutError when `o.out` holds something else; Error when ffmpeg is missing or fails.
 */
export async function runSynth(o: SynthOptions): Promise<SynthResult> {
  const ff = o.ffmpeg ?? (await findFfmpeg());
  const codec = await pickCodec(ff);
  const info = synthInfo(o, codec, ff);
  await checkOut(o.out, info);
  await mkdir(join(o.out, 'videos'), { recursive: true });
  for (const d of TARGET_DIRS[o.task]) {
    await mkdir(join(o.out, d), { recursive: true });
  }
  await writeBytesAtomic(join(o.out, 'synth.json'), info);
  const scratch = await mkdtemp(join(tmpdir(), 'walt-synth-'));
  const files = new Set<string>(['synth.json']);
  const labels: { path: string; label: string }[] = [];
  const appearance: { path: string; label: string }[] = [];
  const pending: Promise<void>[] = [];
  let done = 0;
  let first: SynthResult['first'] | undefined;
  try {
    for (let i = 0; i < o.n; i++) {
      const name = clipName(i, o.n);
      const scene = sceneOf(o.task, o.seed, o.n, i, o.frames);
      const clip = renderClip(scene, o.size);
      if (i === 0) {
        first = { scene, clip, name };
      }
      const video = `videos/${name}.mp4`;
      files.add(video);
      const job = (async (): Promise<void> => {
        const t = await writeTargets(o, i, scene, clip);
        t.files.forEach((f) => files.add(f));
        labels[i] = { path: video, label: t.label };
        if (t.appearance !== undefined) {
          appearance[i] = { path: video, label: t.appearance };
        }
        await encodeVideo(
          ff,
          codec,
          clip.rgb,
          clip.frames,
          clip.height,
          clip.width,
          scene.fps,
          join(o.out, video),
          scratch,
        );
        done++;
        o.onClip?.(done, o.n);
      })();
      job.catch(() => undefined); // awaited below; this only marks a failure as handled meanwhile
      pending.push(job);
      if (pending.length >= 2) {
        await pending.shift();
      }
    }
    await Promise.all(pending);
  } finally {
    await Promise.allSettled(pending);
    await rm(scratch, { recursive: true, force: true });
  }
  await writeLabelsCsv(join(o.out, 'labels.csv'), labels);
  files.add('labels.csv');
  if (o.task === 'motion') {
    await writeLabelsCsv(join(o.out, 'appearance.csv'), appearance);
    files.add('appearance.csv');
  }
  return {
    out: o.out,
    clips: o.n,
    codec,
    files: [...files].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)),
    first: first!,
  };
}

/**
 * A picture of a clip for people: 4 frames with the task's targets drawn (tracks for points,
 * boxes for boxes, a depth row for depth), enlarged `scale`×.
 */
export function clipPreview(task: Task, seed: number, i: number, scene: Scene, clip: RenderedClip, scale = 4): Canvas {
  const base = { rgb: clip.rgb, width: clip.width, height: clip.height, frames: clip.frames };
  switch (task) {
    case 'points':
      return previewPicture({ ...base, tracks: trackPoints(clip, clipRng(task, seed, i, 1)) }, 4, scale);
    case 'boxes':
      return previewPicture({ ...base, boxes: clipBoxes(scene, clip, clipName(i, i + 1)) }, 4, scale);
    case 'depth':
      return previewPicture({ ...base, depth: clip.depth }, 4, scale);
    case 'motion':
    case 'pose':
      return previewPicture(base, 4, scale);
  }
}
