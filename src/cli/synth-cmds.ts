// walt synth: seeded synthetic clips for every readout task, in the real datasets' layouts.
import { mkdir } from 'node:fs/promises';
import { dirname, extname, resolve } from 'node:path';
import { writeBytesAtomic } from '../util/atomic.js';
import { formatDuration, progress } from '../util/progress.js';
import { TASKS, type Task } from '../synth/scenes.js';
import { clipPreview, runSynth, SynthOutError } from '../synth/synth.js';
import { flag, int, optStr, parse, str, UsageError } from './args.js';

/** `walt synth --help`. */
export const SYNTH_HELP = `walt synth --task motion|depth|pose|points|boxes --n N --out DIR [--seed S] [--size 64] [--frames 17] [--preview FILE.png]

Renders N seeded synthetic clips (Kubric MOVi-style: textured cubes, spheres, cylinders and cones
in a room, a camera on a straight path looking at the centre) and writes them with their targets
in the real datasets' layouts; the same options give the same bytes in every file. Layouts
(docs/synth.md):
  every task   DIR/videos/clip-0000.mp4 …, DIR/labels.csv (path,label), DIR/synth.json
  motion       labels.csv: the main object's motion (left right up down rotate-cw rotate-ccw
               approach recede static); appearance.csv: its colour (red yellow green cyan blue
               magenta); both balanced over the clips; the camera is fixed
  depth        DIR/scans/clip-0000/depth/<t>.png (ScanNet: 16-bit, millimetres, 0 = none),
               DIR/scans/clip-0000/intrinsic/intrinsic_depth.txt; label = scans/clip-0000
  pose         DIR/cameras/clip-0000.txt (RealEstate10K: URL line, then per frame: timestamp µs,
               fx fy cx cy normalised, 0 0, 3×4 world-to-camera, OpenCV axes)
  points       DIR/tracks/clip-0000.npz (TAP-Vid: video uint8 [T,H,W,3], points [64,T,2] (x, y)
               in [0,1], occluded bool [64,T]; queries on frame 0)
  boxes        DIR/boxes/clip-0000.json (Waymo-style per-frame 2-D boxes: id, type,
               [ymin, xmin, ymax, xmax] pixels; under 0.5% of the frame dropped; at most 25)

Options:
  --task T         motion, depth, pose, points or boxes
  --n N            number of clips (≥ 1)
  --out DIR        output folder: new, empty, or an earlier run of the same command (rewritten)
  --seed S         any integer (default 0; a negative one as --seed=-3); held-out sets: another seed
  --size PX        frame side in pixels, even, 16…1024 (default 64)
  --frames T       frames per clip, 2…1000 (default 17); frames × size² at most 2^25
  --preview FILE   also write a PNG of clip 0 with its targets drawn (tracks, boxes, depth)
`;

/** Pixels per clip (frames × size²) rendered in memory at most: 2^25 (≈ 0.5 GiB of buffers). */
export const MAX_PIXELS = 2 ** 25;

/** Parses and checks every option; throws UsageError before anything is written. */
export function parseSynthArgs(argv: string[]): {
  task: Task;
  n: number;
  seed: number;
  out: string;
  size: number;
  frames: number;
  preview?: string;
} | null {
  const { values } = parse('synth', argv, {
    task: { type: 'string' },
    n: { type: 'string' },
    seed: { type: 'string' },
    out: { type: 'string' },
    size: { type: 'string' },
    frames: { type: 'string' },
    preview: { type: 'string' },
  });
  if (flag(values, 'help')) {
    return null;
  }
  const task = str(values, 'task');
  if (!(TASKS as readonly string[]).includes(task)) {
    throw new UsageError(`--task must be one of ${TASKS.join(', ')}, got '${task}'`);
  }
  const n = int(values, 'n', undefined, 1);
  if (n > 1_000_000) {
    throw new UsageError(`--n must be at most 1000000, got ${n}`);
  }
  const seed = int(values, 'seed', 0);
  if (!Number.isSafeInteger(seed)) {
    throw new UsageError(`--seed must be a safe integer, got '${String(values.seed)}'`);
  }
  const size = int(values, 'size', 64, 16);
  if (size % 2 !== 0 || size > 1024) {
    throw new UsageError(`--size must be even and at most 1024 (H.264 4:2:0 needs even sides), got ${size}`);
  }
  const frames = int(values, 'frames', 17, 2);
  if (frames > 1000) {
    throw new UsageError(`--frames must be at most 1000, got ${frames}`);
  }
  if (frames * size * size > MAX_PIXELS) {
    throw new UsageError(
      `--frames × --size² is ${frames * size * size} pixels per clip, above ${MAX_PIXELS} (a clip is rendered in memory); use fewer frames or a smaller size`,
    );
  }
  const out = str(values, 'out');
  const preview = optStr(values, 'preview');
  if (preview !== undefined && extname(preview).toLowerCase() !== '.png') {
    throw new UsageError(`--preview must name a .png file, got '${preview}'`);
  }
  return { task: task as Task, n, seed, out, size, frames, ...(preview !== undefined ? { preview } : {}) };
}

/**
 * `walt synth`: checks the options (UsageError → exit 2 before anything is written), renders
 * and writes the clips with progress on stderr, then a one-line summary (and the preview).
 *
 * @returns 0 on success.
 */
export async function synthCommand(argv: string[]): Promise<number> {
  const o = parseSynthArgs(argv);
  if (o === null) {
    process.stdout.write(SYNTH_HELP);
    return 0;
  }
  const bar = progress('walt synth', o.n, 'clips', { everyMs: 5_000 });
  const t0 = performance.now();
  let r;
  try {
    r = await runSynth({ ...o, out: resolve(o.out), onClip: (done) => bar.update(done) });
  } catch (e) {
    if (e instanceof SynthOutError) {
      throw new UsageError(e.message);
    }
    throw e;
  } finally {
    bar.stop();
  }
  const labels = o.task === 'motion' ? `${o.out}/labels.csv, ${o.out}/appearance.csv` : `${o.out}/labels.csv`;
  process.stderr.write(
    `walt synth: ${r.clips} ${o.task} clips (${o.size}×${o.size}, ${o.frames} frames, ${r.codec.codec}) in ${o.out} ` +
      `(${r.files.length} files, ${formatDuration((performance.now() - t0) / 1000)}); labels: ${labels}\n`,
  );
  if (o.preview !== undefined) {
    const pic = clipPreview(o.task, o.seed, 0, r.first.scene, r.first.clip);
    await mkdir(dirname(resolve(o.preview)), { recursive: true });
    await writeBytesAtomic(o.preview, pic.png());
    process.stderr.write(`walt synth: preview of ${r.first.name} → ${o.preview}\n`);
  }
  return 0;
}
