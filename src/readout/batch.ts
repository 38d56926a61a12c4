// Readout inputs on the host: a training batch (B.safetensors) or one clip's features (.npy),
// checked against the head (shapes named with the fix), and the per-kind targets the losses
// read: integer labels, depth sampled at the query grid (OC13), per-frame track targets and
// reset masks, and the OC10 denominators of the whole batch (so micro-batches pool exactly).
import { open } from 'node:fs/promises';
import { SafetensorsFile } from '../io/safetensors.js';
import { readNumeric } from '../metrics/io.js';
import { alignCornersNearest } from '../ref/losses.js';
import { f16BitsToF32 } from '../tensor/f16.js';
import { numel } from '../tensor/shape.js';
import type { HeadConfig, TrackHeadConfig } from './spec.js';

export class ReadoutInputError extends Error {
  override name = 'ReadoutInputError';
}

/** Features [B, T, N, C] (f32) and the targets of one kind, as host arrays. */
export interface HostBatch {
  B: number;
  T: number;
  N: number;
  C: number;
  features: Float32Array;
  labels?: Int32Array; // [B]
  pose?: Float32Array; // [B, 12]
  depth?: { data: Float32Array; H: number; W: number }; // [B, T, H, W] metres
  queries?: Float32Array; // [B, M, n_coords]
  queryFrames?: Int32Array; // [B, M]
  tracks?: Float32Array; // [B, T, M, n_values] (points: tracks, boxes: boxes)
  visible?: Float32Array; // [B, T, M] 0/1 (points: visible, boxes: valid)
  M?: number;
}

const shapeText = (s: readonly number[]): string => `[${s.join(', ')}]`;

function integers(name: string, data: ArrayLike<number>, lo: number, hi: number): Int32Array {
  const out = new Int32Array(data.length);
  for (let i = 0; i < data.length; i++) {
    const v = data[i]!;
    if (!Number.isInteger(v) || v < lo || v >= hi) {
      throw new ReadoutInputError(`${name}[${i}] = ${v}: expected an integer in [${lo}, ${hi})`);
    }
    out[i] = v;
  }
  return out;
}

function mask01(name: string, data: ArrayLike<number>): Float32Array {
  const out = new Float32Array(data.length);
  for (let i = 0; i < data.length; i++) {
    const v = data[i]!;
    if (v !== 0 && v !== 1) {
      throw new ReadoutInputError(`${name}[${i}] = ${v}: expected 0 or 1`);
    }
    out[i] = v;
  }
  return out;
}

/** The feature width a head reads (camera: half its C) and whether T must match the head's. */
function expectedWidth(cfg: HeadConfig): number {
  return cfg.kind === 'camera' ? cfg.C / 2 : cfg.C;
}

/** Reads and checks a training batch file for a head (see `walt readout step --help`). */
export async function readBatch(path: string, cfg: HeadConfig): Promise<HostBatch> {
  let f: SafetensorsFile;
  try {
    f = await SafetensorsFile.open(path);
  } catch (e) {
    throw new ReadoutInputError(`--batch ${path}: ${e instanceof Error ? e.message : String(e)}`);
  }
  try {
    const has = (n: string): boolean => f.tensors.has(n);
    const need = async (
      n: string,
      rank: number,
      what: string,
    ): Promise<{ data: ArrayLike<number>; shape: readonly number[] }> => {
      if (!has(n)) {
        throw new ReadoutInputError(
          `--batch ${path}: no tensor '${n}' (${what}); it holds ${[...f.tensors.keys()].join(', ') || 'nothing'}`,
        );
      }
      const t = await readNumeric(f, n);
      if (t.shape.length !== rank) {
        throw new ReadoutInputError(`--batch ${path}: '${n}' is ${shapeText(t.shape)}; expected ${what}`);
      }
      return t;
    };
    const F = await need('features', 4, 'features [B, T, N, C] float32');
    const [B, T, N, C] = F.shape as [number, number, number, number];
    if (C !== expectedWidth(cfg)) {
      throw new ReadoutInputError(
        `--batch ${path}: features have width ${C}; head ${cfg.prefix} reads ${expectedWidth(cfg)} (check --head or --feature)`,
      );
    }
    const features = F.data instanceof Float32Array ? F.data : Float32Array.from(F.data);
    const batch: HostBatch = { B, T, N, C, features };
    const check = (name: string, got: readonly number[], want: readonly number[]): void => {
      if (got.length !== want.length || got.some((d, i) => d !== want[i])) {
        throw new ReadoutInputError(`--batch ${path}: '${name}' is ${shapeText(got)}; expected ${shapeText(want)}`);
      }
    };
    switch (cfg.kind) {
      case 'attention': {
        const l = await need('labels', 1, 'labels [B] (integer class indices)');
        check('labels', l.shape, [B]);
        batch.labels = integers('labels', l.data, 0, cfg.K);
        break;
      }
      case 'camera': {
        const p = await need('pose', 2, 'pose [B, 12]');
        check('pose', p.shape, [B, 12]);
        batch.pose = Float32Array.from(p.data);
        break;
      }
      case 'depth': {
        const d = await need('depth', 4, 'depth [B, T, H, W] in metres');
        check('depth', d.shape.slice(0, 2), [B, T]);
        batch.depth = { data: Float32Array.from(d.data), H: d.shape[2]!, W: d.shape[3]! };
        break;
      }
      case 'points':
      case 'boxes': {
        const nc = cfg.n_coords;
        const q = await need('queries', 3, `queries [B, M, ${nc}] in [-1, 1]`);
        const M = q.shape[1]!;
        check('queries', q.shape, [B, M, nc]);
        const qf = await need('query_frames', 2, 'query_frames [B, M] (integer frame indices)');
        check('query_frames', qf.shape, [B, M]);
        const tn = cfg.kind === 'points' ? 'tracks' : 'boxes';
        const vn = cfg.kind === 'points' ? 'visible' : 'valid';
        const tr = await need(tn, 4, `${tn} [B, T, M, ${cfg.n_values}] in [0, 1]`);
        check(tn, tr.shape, [B, T, M, cfg.n_values]);
        const vi = await need(vn, 3, `${vn} [B, T, M] (0/1)`);
        check(vn, vi.shape, [B, T, M]);
        Object.assign(batch, {
          M,
          queries: Float32Array.from(q.data),
          queryFrames: integers('query_frames', qf.data, 0, T),
          tracks: Float32Array.from(tr.data),
          visible: mask01(vn, vi.data),
        });
        break;
      }
    }
    return batch;
  } finally {
    await f.close();
  }
}

/** A numeric .npy (float16/32/64, (u)int8/16/32/64, bool) as numbers. */
export async function readNumericNpy(path: string, option: string): Promise<{ shape: number[]; data: Float64Array }> {
  let buf: Buffer;
  try {
    const fh = await open(path, 'r');
    try {
      buf = await fh.readFile();
    } finally {
      await fh.close();
    }
  } catch {
    throw new ReadoutInputError(`${option} ${path}: no such file`);
  }
  const magic = buf.subarray(0, 6).toString('latin1');
  if (magic !== '\x93NUMPY') {
    throw new ReadoutInputError(`${option} ${path}: not a .npy file`);
  }
  const major = buf[6]!;
  const hlen = major === 1 ? buf.readUInt16LE(8) : buf.readUInt32LE(8);
  const start = major === 1 ? 10 : 12;
  const header = buf.subarray(start, start + hlen).toString('latin1');
  const descr = /'descr'\s*:\s*'([^']*)'/.exec(header)?.[1];
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(header)?.[1];
  const shapeStr = /'shape'\s*:\s*\(([^)]*)\)/.exec(header)?.[1];
  if (!descr || !fortran || shapeStr === undefined || fortran === 'True') {
    throw new ReadoutInputError(`${option} ${path}: unsupported .npy header (need C order): ${header.trim()}`);
  }
  const shape = shapeStr
    .split(',')
    .map((x) => x.trim())
    .filter((x) => x !== '')
    .map(Number);
  const n = numel(shape);
  const body = buf.subarray(start + hlen);
  const readers: Record<string, [number, (i: number) => number]> = {
    '<f4': [4, (i) => body.readFloatLE(4 * i)],
    '<f8': [8, (i) => body.readDoubleLE(8 * i)],
    '<f2': [2, (i) => f16BitsToF32(body.readUInt16LE(2 * i))],
    '|i1': [1, (i) => body.readInt8(i)],
    '|u1': [1, (i) => body.readUInt8(i)],
    '|b1': [1, (i) => body.readUInt8(i)],
    '<i2': [2, (i) => body.readInt16LE(2 * i)],
    '<u2': [2, (i) => body.readUInt16LE(2 * i)],
    '<i4': [4, (i) => body.readInt32LE(4 * i)],
    '<u4': [4, (i) => body.readUInt32LE(4 * i)],
    '<i8': [8, (i) => Number(body.readBigInt64LE(8 * i))],
    '<u8': [8, (i) => Number(body.readBigUInt64LE(8 * i))],
  };
  const r = readers[descr];
  if (!r) {
    throw new ReadoutInputError(
      `${option} ${path}: dtype '${descr}' is not supported (use float32 or an integer type)`,
    );
  }
  if (body.length < n * r[0]) {
    throw new ReadoutInputError(`${option} ${path}: the data ends early (truncated file)`);
  }
  const data = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    data[i] = r[1](i);
  }
  return { shape, data };
}

/** One clip's inputs for `walt readout forward`, as a HostBatch of one. */
export async function readClip(
  cfg: HeadConfig,
  featuresPath: string,
  queriesPath?: string,
  queryFramesPath?: string,
): Promise<HostBatch> {
  const F = await readNumericNpy(featuresPath, '--features');
  if (F.shape.length !== 3) {
    throw new ReadoutInputError(
      `--features ${featuresPath}: ${shapeText(F.shape)}; expected [T, N, C] float32 (one clip)`,
    );
  }
  const [T, N, C] = F.shape as [number, number, number];
  if (C !== expectedWidth(cfg)) {
    throw new ReadoutInputError(
      `--features ${featuresPath}: width ${C}; head ${cfg.prefix} reads ${expectedWidth(cfg)} per token`,
    );
  }
  const batch: HostBatch = { B: 1, T, N, C, features: Float32Array.from(F.data) };
  if (cfg.kind === 'points' || cfg.kind === 'boxes') {
    if (!queriesPath) {
      throw new ReadoutInputError(
        `--queries is required for a ${cfg.kind} head: [M, ${cfg.n_coords}] in [-1, 1] (${cfg.kind === 'points' ? 'x, y' : 'ymin, xmin, ymax, xmax'})`,
      );
    }
    const q = await readNumericNpy(queriesPath, '--queries');
    if (q.shape.length !== 2 || q.shape[1] !== cfg.n_coords) {
      throw new ReadoutInputError(`--queries ${queriesPath}: ${shapeText(q.shape)}; expected [M, ${cfg.n_coords}]`);
    }
    const M = q.shape[0]!;
    let qf: Int32Array = new Int32Array(M);
    if (queryFramesPath) {
      const r = await readNumericNpy(queryFramesPath, '--query-frames');
      if (r.shape.length !== 1 || r.shape[0] !== M) {
        throw new ReadoutInputError(`--query-frames ${queryFramesPath}: ${shapeText(r.shape)}; expected [${M}]`);
      }
      qf = integers('--query-frames', r.data, 0, T);
    }
    Object.assign(batch, { M, queries: Float32Array.from(q.data), queryFrames: qf });
  } else if (queriesPath || queryFramesPath) {
    throw new ReadoutInputError(`--queries and --query-frames are for points and boxes heads, not ${cfg.kind}`);
  }
  return batch;
}

/** GT depth [B, T, H, W] sampled at the query grid (OC13 nearest), with the valid mask. */
export function depthTargets(
  depth: { data: Float32Array; H: number; W: number },
  B: number,
  T: number,
  grid: readonly [number, number],
): { target: Float32Array; mask: Float32Array; valid: number } {
  const [hq, wq] = grid;
  const { H, W, data } = depth;
  const target = new Float32Array(B * T * hq * wq);
  const mask = new Float32Array(target.length);
  let valid = 0;
  for (let f = 0; f < B * T; f++) {
    for (let i = 0; i < hq; i++) {
      const sy = alignCornersNearest(i, H, hq);
      for (let j = 0; j < wq; j++) {
        const sx = alignCornersNearest(j, W, wq);
        const d = data[(f * H + sy) * W + sx]!;
        const k = (f * hq + i) * wq + j;
        target[k] = d;
        if (d > 0.001 && d < 10) {
          mask[k] = 1;
          valid++;
        }
      }
    }
  }
  return { target, mask, valid };
}

/** Clips [b0, b1) of a batch (features and targets), for micro-batches. */
export function sliceBatch(b: HostBatch, b0: number, b1: number, cfg: HeadConfig): HostBatch {
  const per = b.T * b.N * b.C;
  const n = b1 - b0;
  const out: HostBatch = { ...b, B: n, features: b.features.subarray(b0 * per, b1 * per) };
  if (b.labels) {
    out.labels = b.labels.subarray(b0, b1);
  }
  if (b.pose) {
    out.pose = b.pose.subarray(b0 * 12, b1 * 12);
  }
  if (b.depth) {
    const hw = b.depth.H * b.depth.W * b.T;
    out.depth = { ...b.depth, data: b.depth.data.subarray(b0 * hw, b1 * hw) };
  }
  if (b.queries && b.M !== undefined) {
    const M = b.M;
    const nc = (cfg as TrackHeadConfig).n_coords;
    const nv = (cfg as TrackHeadConfig).n_values;
    out.queries = b.queries.subarray(b0 * M * nc, b1 * M * nc);
    out.queryFrames = b.queryFrames!.subarray(b0 * M, b1 * M);
    if (b.tracks) {
      out.tracks = b.tracks.subarray(b0 * b.T * M * nv, b1 * b.T * M * nv);
      out.visible = b.visible!.subarray(b0 * b.T * M, b1 * b.T * M);
    }
  }
  return out;
}
