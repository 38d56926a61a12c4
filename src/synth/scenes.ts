// Scene descriptions and their seeded sampling (Kubric MOVi-style): a closed room (floor checker,
// walls, ceiling; z up, metres), textured objects moving on straight lines and spinning at
// constant rates, a pinhole camera on a straight constant-velocity path looking at a fixed
// point. Everything is a pure function of the seeded RNG.
import { mat4, vec3 } from 'gl-matrix';
import type { Rng } from '../util/rng.js';
import { roomMeshes, shapeMesh, SHAPES, type RoomMeshes, type ShapeName } from './meshes.js';
import { COLOURS, NEUTRALS, ROOM, type NamedColour, type Rgb } from './palette.js';
import type { DrawItem, Material, View } from './raster.js';

/** What `walt synth` can make. */
export type Task = 'motion' | 'depth' | 'pose' | 'points' | 'boxes';

/** Every task, in a fixed order. */
export const TASKS: readonly Task[] = ['motion', 'depth', 'pose', 'points', 'boxes'];

/** SSv2-like motion classes of the main object, in index order. */
export const MOTION_CLASSES = [
  'left',
  'right',
  'up',
  'down',
  'rotate-cw',
  'rotate-ccw',
  'approach',
  'recede',
  'static',
] as const;

/** One motion class. */
export type MotionClass = (typeof MOTION_CLASSES)[number];

/** A 3-vector. */
export type V3 = [number, number, number];

/** An object: a unit shape scaled, turned and moved (linearly in the clip's progress s ∈ [0, 1]). */
export interface ObjectSpec {
  /** 1-based id (the room is 0). */
  id: number;
  shape: ShapeName;
  /** Colour name (one of COLOURS or NEUTRALS). */
  colour: string;
  material: Material;
  /** Edge length / diameter in metres. */
  size: number;
  /** Centre at the first and at the last frame. */
  start: V3;
  end: V3;
  /** Initial turn about the world z axis (radians). */
  yaw: number;
  /** Spin about `spinAxis` (world, unit) by `spinAngle`·s radians, after the yaw. */
  spinAxis: V3;
  spinAngle: number;
}

/** The camera: a straight path from `start` to `end`, always looking at `target`. */
export interface CameraSpec {
  start: V3;
  end: V3;
  target: V3;
  /** Vertical field of view (radians). */
  fovY: number;
}

/** A whole clip's scene. */
export interface Scene {
  task: Task;
  frames: number;
  /** Frames per second (timestamps only; motion is defined per clip). */
  fps: number;
  room: { half: number; height: number };
  camera: CameraSpec;
  objects: ObjectSpec[];
  /** Motion task: the main object's (id 1) motion class and colour. */
  motion?: MotionClass;
  colour?: string;
}

/** Frame rate written into the videos and timestamps. */
export const FPS = 12;
/** The room: 10 m × 10 m, 4 m high (depth stays mostly inside ScanNet's valid 10 m). */
export const ROOM_HALF = 5;
export const ROOM_HEIGHT = 4;
/** Vertical field of view of every camera. */
export const FOV_Y = (50 * Math.PI) / 180;

const UP: V3 = [0, 0, 1];

/** Progress of frame t in a clip of T frames: t / (T − 1) (0 for a single frame). */
export function progressAt(t: number, frames: number): number {
  return frames > 1 ? t / (frames - 1) : 0;
}

function lerp(a: V3, b: V3, s: number): V3 {
  return [a[0] + (b[0] - a[0]) * s, a[1] + (b[1] - a[1]) * s, a[2] + (b[2] - a[2]) * s];
}

/**
 * Mesh-to-world matrix of an object at frame t: M = T(p(s)) · R(spinAxis, spinAngle·s) · Rz(yaw) · S(size),
 * with p(s) = start + (end − start)·s.
 */
export function objectModel(o: ObjectSpec, t: number, frames: number): Float64Array {
  const s = progressAt(t, frames);
  const m = mat4.fromTranslation(new Float64Array(16), lerp(o.start, o.end, s)) as Float64Array;
  if (o.spinAngle !== 0) {
    mat4.rotate(m, m, o.spinAngle * s, o.spinAxis);
  }
  mat4.rotateZ(m, m, o.yaw);
  mat4.scale(m, m, [o.size, o.size, o.size]);
  return m;
}

/** The camera position at frame t. */
export function cameraEye(c: CameraSpec, t: number, frames: number): V3 {
  return lerp(c.start, c.end, progressAt(t, frames));
}

/**
 * The view at frame t for a `width × height` raster: world-to-camera = diag(1, −1, −1, 1) ·
 * lookAt(eye, target, z up) (OpenCV axes from OpenGL's), fx = fy = (H/2) / tan(fovY/2),
 * principal point at the image centre.
 */
export function cameraView(c: CameraSpec, t: number, frames: number, width: number, height: number): View {
  const gl = mat4.lookAt(new Float64Array(16), cameraEye(c, t, frames), c.target, UP) as Float64Array;
  const flip = mat4.fromScaling(new Float64Array(16), [1, -1, -1]) as Float64Array;
  const w2c = mat4.multiply(new Float64Array(16), flip, gl) as Float64Array;
  const f = height / 2 / Math.tan(c.fovY / 2);
  return { w2c, fx: f, fy: f, cx: width / 2, cy: height / 2, width, height };
}

let roomCache: { key: string; meshes: RoomMeshes } | undefined;

const IDENTITY = mat4.identity(new Float64Array(16)) as Float64Array;

const ROOM_PHASE: readonly [number, number, number] = [0.3, 0.3, 0.3];

/** Everything to draw at frame t: the room (id 0) and the objects. */
export function drawItems(scene: Scene, t: number): DrawItem[] {
  const key = `${scene.room.half}x${scene.room.height}`;
  if (roomCache?.key !== key) {
    roomCache = { key, meshes: roomMeshes(scene.room.half, scene.room.height) };
  }
  const r = roomCache.meshes;
  const items: DrawItem[] = [
    {
      id: 0,
      mesh: r.floor,
      model: IDENTITY,
      material: { base: ROOM.floorA, alt: ROOM.floorB, pattern: 'checker', cell: 1, phase: ROOM_PHASE },
    },
    {
      id: 0,
      mesh: r.walls,
      model: IDENTITY,
      material: { base: ROOM.wallA, alt: ROOM.wallB, pattern: 'checker', cell: 1.25, phase: ROOM_PHASE },
    },
    {
      id: 0,
      mesh: r.ceiling,
      model: IDENTITY,
      material: { base: ROOM.ceiling, alt: ROOM.ceiling, pattern: 'plain', cell: 1, phase: ROOM_PHASE },
    },
  ];
  for (const o of scene.objects) {
    items.push({ id: o.id, mesh: shapeMesh(o.shape), model: objectModel(o, t, scene.frames), material: o.material });
  }
  return items;
}

function uniform(rng: Rng, lo: number, hi: number): number {
  return lo + (hi - lo) * rng.uniform();
}

function pick<T>(rng: Rng, xs: readonly T[]): T {
  return xs[rng.int(xs.length)]!;
}

function scaled(c: Rgb, k: number): Rgb {
  return [c[0] * k, c[1] * k, c[2] * k];
}

/** A checker or stripes material in `colour` and a darker shade of it. */
function objectMaterial(rng: Rng, colour: NamedColour): Material {
  const pattern = rng.uniform() < 0.5 ? 'checker' : 'stripes';
  return {
    base: colour.rgb,
    alt: scaled(colour.rgb, 0.6),
    pattern,
    cell: pattern === 'checker' ? 0.25 : 0.2,
    phase: [0.13, 0.07, 0.11],
  };
}

function normalize(v: V3): V3 {
  const out = vec3.normalize(new Float64Array(3), v);
  return [out[0], out[1], out[2]];
}

/** Fisher–Yates shuffle in place. */
export function shuffle<T>(rng: Rng, xs: T[]): T[] {
  for (let i = xs.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [xs[i], xs[j]] = [xs[j]!, xs[i]!];
  }
  return xs;
}

/**
 * Balanced assignment of `k` classes to `n` clips: class i mod k for clip i, shuffled, so every
 * class occurs ⌊n/k⌋ or ⌈n/k⌉ times.
 */
export function balanced(rng: Rng, n: number, k: number): number[] {
  return shuffle(
    rng,
    Array.from({ length: n }, (_, i) => i % k),
  );
}

/**
 * A motion clip: a fixed camera 4–4.5 m from the room centre looking at the main object's
 * region; the main object (id 1, `colour`) does `motion` over the clip:
 * left/right ±0.8 m along the camera's horizontal right, up/down ±0.5 m in z, approach/recede
 * ±0.9 m along the horizontal viewing direction (each × a random 0.8–1.2), rotate-cw/ccw by
 * ±(100°–150°) about the viewing axis (positive = clockwise in the image, whose y points down),
 * static: nothing moves. Two static neutral distractors stand on the floor behind it.
 */
export function motionScene(rng: Rng, motion: MotionClass, colour: NamedColour, frames: number): Scene {
  const az = uniform(rng, 0, 2 * Math.PI);
  const dist = uniform(rng, 4.0, 4.5);
  const eye: V3 = [dist * Math.cos(az), dist * Math.sin(az), uniform(rng, 1.5, 2.1)];
  const target: V3 = [0, 0, 1.2];
  const fwd = normalize([target[0] - eye[0], target[1] - eye[1], target[2] - eye[2]]);
  const fh = normalize([fwd[0], fwd[1], 0]);
  const right: V3 = [fh[1], -fh[0], 0];
  const size = uniform(rng, 0.9, 1.2);
  const jr = uniform(rng, -0.3, 0.3);
  const jf = uniform(rng, -0.3, 0.3);
  const c0: V3 = [right[0] * jr + fh[0] * jf, right[1] * jr + fh[1] * jf, 1.2 + uniform(rng, -0.1, 0.1)];
  const m = uniform(rng, 0.8, 1.2);
  const along = (dir: V3, a: number): V3 => [c0[0] + dir[0] * a, c0[1] + dir[1] * a, c0[2] + dir[2] * a];
  let start = c0;
  let end = c0;
  let spin = 0;
  switch (motion) {
    case 'left':
      [start, end] = [along(right, 0.8 * m), along(right, -0.8 * m)];
      break;
    case 'right':
      [start, end] = [along(right, -0.8 * m), along(right, 0.8 * m)];
      break;
    case 'up':
      [start, end] = [along(UP, -0.5 * m), along(UP, 0.5 * m)];
      break;
    case 'down':
      [start, end] = [along(UP, 0.5 * m), along(UP, -0.5 * m)];
      break;
    case 'approach':
      [start, end] = [along(fh, 0.9 * m), along(fh, -0.9 * m)];
      break;
    case 'recede':
      [start, end] = [along(fh, -0.9 * m), along(fh, 0.9 * m)];
      break;
    case 'rotate-cw':
      spin = (uniform(rng, 100, 150) * Math.PI) / 180;
      break;
    case 'rotate-ccw':
      spin = (-uniform(rng, 100, 150) * Math.PI) / 180;
      break;
    case 'static':
      break;
  }
  const main: ObjectSpec = {
    id: 1,
    shape: pick(rng, SHAPES),
    colour: colour.name,
    material: objectMaterial(rng, colour),
    size,
    start,
    end,
    yaw: uniform(rng, 0, 2 * Math.PI),
    spinAxis: fwd,
    spinAngle: spin,
  };
  const objects = [main];
  for (let k = 0; k < 2; k++) {
    const s = uniform(rng, 0.45, 0.7);
    const side = k === 0 ? -1 : 1;
    const lat = side * uniform(rng, 1.3, 2.2);
    const back = uniform(rng, 1.5, 2.5);
    const p: V3 = [right[0] * lat + fh[0] * back, right[1] * lat + fh[1] * back, s / 2];
    const neutral = pick(rng, NEUTRALS);
    objects.push({
      id: 2 + k,
      shape: pick(rng, SHAPES),
      colour: neutral.name,
      material: objectMaterial(rng, neutral),
      size: s,
      start: p,
      end: p,
      yaw: uniform(rng, 0, 2 * Math.PI),
      spinAxis: UP,
      spinAngle: 0,
    });
  }
  return {
    task: 'motion',
    frames,
    fps: FPS,
    room: { half: ROOM_HALF, height: ROOM_HEIGHT },
    camera: { start: eye, end: eye, target, fovY: FOV_Y },
    objects,
    motion,
    colour: colour.name,
  };
}

/**
 * A MOVi-style clip for the depth, pose, points and boxes tasks: the camera starts 3.6–4.4 m
 * from the centre at 1.4–2.6 m height and moves on a straight line by up to 1.5 m (staying
 * inside the room, at least 2.5 m from the centre) while looking at the origin; 3–6 objects
 * (4–8 for boxes) of any shape and colour, 0.45–1 m, stand on the floor within 2.3 m of the
 * centre (not overlapping at the start); 60% of them slide 0.3–1.2 m, each spins about z by up
 * to ±90°.
 */
export function moviScene(rng: Rng, task: Exclude<Task, 'motion'>, frames: number): Scene {
  const az = uniform(rng, 0, 2 * Math.PI);
  const dist = uniform(rng, 3.6, 4.4);
  const start: V3 = [dist * Math.cos(az), dist * Math.sin(az), uniform(rng, 1.4, 2.6)];
  let end: V3 = start;
  for (let tries = 0; tries < 100; tries++) {
    const a = uniform(rng, 0, 2 * Math.PI);
    const r = 1.5 * Math.sqrt(rng.uniform());
    const cand: V3 = [start[0] + r * Math.cos(a), start[1] + r * Math.sin(a), start[2] + uniform(rng, -0.4, 0.4)];
    const inside =
      Math.abs(cand[0]) < ROOM_HALF - 0.5 && Math.abs(cand[1]) < ROOM_HALF - 0.5 && cand[2] > 0.8 && cand[2] < 3.5;
    if (inside && Math.hypot(cand[0], cand[1]) >= 2.5) {
      end = cand;
      break;
    }
  }
  const count = task === 'boxes' ? 4 + rng.int(5) : 3 + rng.int(4);
  const palette = [...COLOURS, ...NEUTRALS];
  const objects: ObjectSpec[] = [];
  for (let k = 0; k < count; k++) {
    const size = uniform(rng, 0.45, 1.0);
    let p: V3 = [0, 0, size / 2];
    for (let tries = 0; tries < 50; tries++) {
      const a = uniform(rng, 0, 2 * Math.PI);
      const r = 2.3 * Math.sqrt(rng.uniform());
      p = [r * Math.cos(a), r * Math.sin(a), size / 2];
      if (objects.every((o) => Math.hypot(o.start[0] - p[0], o.start[1] - p[1]) > 0.55 * (o.size + size))) {
        break;
      }
    }
    let q: V3 = p;
    if (rng.uniform() < 0.6) {
      const a = uniform(rng, 0, 2 * Math.PI);
      const len = uniform(rng, 0.3, 1.2);
      q = [p[0] + len * Math.cos(a), p[1] + len * Math.sin(a), p[2]];
    }
    const colour = pick(rng, palette);
    objects.push({
      id: k + 1,
      shape: pick(rng, SHAPES),
      colour: colour.name,
      material: objectMaterial(rng, colour),
      size,
      start: p,
      end: q,
      yaw: uniform(rng, 0, 2 * Math.PI),
      spinAxis: UP,
      spinAngle: uniform(rng, -Math.PI / 2, Math.PI / 2),
    });
  }
  return {
    task,
    frames,
    fps: FPS,
    room: { half: ROOM_HALF, height: ROOM_HEIGHT },
    camera: { start, end, target: [0, 0, 0], fovY: FOV_Y },
    objects,
  };
}
