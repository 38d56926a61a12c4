// The data side of training, without a GPU: the data order, matching labels rows to manifest
// items by file, each task's targets at the features' frames, batch assembly (resampling,
// padding) on the worker thread and in-process (same bytes), checkpoints and curves.
import { existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { PNG } from 'pngjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { relativePose } from '../../src/datasets/realestate10k.js';
import { readBoxesJson } from '../../src/datasets/waymo-boxes.js';
import { readCameraFile } from '../../src/datasets/realestate10k.js';
import { readTapVidNpz } from '../../src/datasets/tapvid.js';
import { readDepthClip } from '../../src/datasets/scannet.js';
import { resampleTimeForward } from '../../src/ref/resample.js';
import { sampleDepthAtGrid } from '../../src/ref/losses.js';
import { runSynth } from '../../src/synth/synth.js';
import { BatchAssembler } from '../../src/train-readout/assemble.js';
import {
  checkpointSteps,
  pruneCheckpoints,
  readCheckpoint,
  writeCheckpoint,
  type MetricRecord,
} from '../../src/train-readout/checkpoint.js';
import { lineFigure, lossPanel, metricPanels, svgToPng } from '../../src/train-readout/curves.js';
import { loadTaskData, type TaskData } from '../../src/train-readout/dataset.js';
import { TrainInputError } from '../../src/train-readout/errors.js';
import { bestIndex, evalGroups } from '../../src/train-readout/evaluate.js';
import { BatchFeeder } from '../../src/train-readout/feeder.js';
import { canonicalPath, matchPaths } from '../../src/train-readout/match.js';
import { DataOrder, epochOrder, orderState } from '../../src/train-readout/order.js';
import { buildWorker, fakeFeatures } from './helpers.js';

let root: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'walt-train-data-'));
  for (const task of ['motion', 'depth', 'pose', 'points', 'boxes'] as const) {
    await runSynth({ task, n: 3, seed: 5, out: join(root, task), size: 32, frames: 9 });
  }
}, 120_000);
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

const videos = (task: string): string[] => [0, 1, 2].map((i) => `${task}/videos/clip-000${i}.mp4`);

describe('data order', () => {
  it('each epoch is a seeded permutation; steps run across epoch ends; the state is a function of the step', () => {
    for (const n of [1, 3, 7, 97]) {
      const p = epochOrder(n, 4, 0);
      expect([...p].sort((a, b) => a - b)).toEqual(Array.from({ length: n }, (_, i) => i));
      expect([...epochOrder(n, 4, 0)]).toEqual([...p]);
    }
    expect([...epochOrder(97, 4, 1)]).not.toEqual([...epochOrder(97, 4, 0)]);
    expect([...epochOrder(97, 5, 0)]).not.toEqual([...epochOrder(97, 4, 0)]);
    const o = new DataOrder(7, 3, 2);
    const seq = [0, 1, 2, 3, 4].flatMap((s) => o.indices(s));
    const want = [...epochOrder(7, 2, 0), ...epochOrder(7, 2, 1), ...epochOrder(7, 2, 2)].slice(0, 15);
    expect(seq).toEqual(want);
    expect(new DataOrder(7, 3, 2).indices(4)).toEqual(want.slice(12, 15));
    expect(orderState(7, 3, 5)).toEqual({ epoch: 2, position: 1 });
    // A batch larger than the set repeats clips.
    expect(new DataOrder(1, 5, 0).indices(0)).toEqual([0, 0, 0, 0, 0]);
  });
});

describe('matching labels rows to manifest items', () => {
  it('relative to the labels folder or the cwd, absolute, through a symlink; missing and duplicate items', () => {
    const dir = join(root, 'motion');
    const abs = (i: number): string => join(dir, 'videos', `clip-000${i}.mp4`);
    mkdirSync(join(root, 'links'), { recursive: true });
    if (!existsSync(join(root, 'links', 'm'))) {
      symlinkSync(dir, join(root, 'links', 'm'));
    }
    const lines = [
      { source: 'videos/clip-0000.mp4', status: 'ok' as const },
      { source: relative(process.cwd(), abs(1)), status: 'ok' as const },
      { source: join(root, 'links', 'm', 'videos', 'clip-0002.mp4'), status: 'ok' as const },
    ].map((l, i) => ({ ...l, kind: 'video' as const, key: `k${i}`, shard: 's', tensors: {}, frame_indices: [] }));
    const m = matchPaths(lines, [abs(0), abs(1), abs(2), join(dir, 'labels.csv')], [dir, process.cwd()]);
    expect(m.map((x) => x.status)).toEqual(['ok', 'ok', 'ok', 'missing']);
    expect(m.map((x) => (x.status === 'ok' ? x.line.source : null)).slice(0, 3)).toEqual(lines.map((l) => l.source));
    expect(canonicalPath(join(root, 'links', 'm', 'labels.csv'))).toBe(canonicalPath(join(dir, 'labels.csv')));
    // Two list files with the same relative paths extracted into one folder: ambiguous.
    const dup = [lines[0]!, { ...lines[0]!, key: 'k0' }];
    expect(matchPaths(dup, [abs(0)], [dir])[0]!.status).toBe('ambiguous');
    // A recorded absolute `path` wins over resolving the source.
    const recorded = [{ ...lines[0]!, source: 'elsewhere.mp4', path: abs(0) }];
    expect(matchPaths(recorded, [abs(0)], ['/nonexistent'])[0]!.status).toBe('ok');
  });

  it('errors name the option, the rows and the fix', async () => {
    const f = join(root, 'f-missing');
    await fakeFeatures(f, [{ source: 'videos/clip-0000.mp4' }, { source: 'videos/clip-0001.mp4', status: 'error' }]);
    const load = (labels: string, features = f): Promise<TaskData> =>
      loadTaskData({ kind: 'attention', features, labels, cwd: root });
    await expect(load(join(root, 'motion', 'labels.csv'))).rejects.toThrow(
      /--labels .*labels.csv: 2 videos of 3 not in --features|1 video of 3 not in --features/,
    );
    await expect(load(join(root, 'motion', 'labels.csv'))).rejects.toBeInstanceOf(TrainInputError);
    await expect(load(join(root, 'motion', 'nope.csv'))).rejects.toThrow(/--labels .*nope.csv: no such file/);
    await expect(load(join(root, 'motion', 'labels.csv'), join(root, 'motion'))).rejects.toThrow(
      /--features .*: no manifest.jsonl \(not a walt extract output\); extract features first/,
    );
    // Every row present, one failed extraction.
    const g = join(root, 'f-failed');
    await fakeFeatures(g, [
      { source: 'motion/videos/clip-0000.mp4' },
      { source: 'motion/videos/clip-0001.mp4', status: 'error' },
      { source: 'motion/videos/clip-0002.mp4' },
    ]);
    await expect(load(join(root, 'motion', 'labels.csv'), g)).rejects.toThrow(
      /1 video of --labels failed extraction .*--retry-errors/,
    );
    // Several features: the error lists them; --feature picks one.
    const h = join(root, 'f-two');
    await fakeFeatures(
      h,
      videos('motion').map((source) => ({ source })),
      [5, 2, 3, 8],
      {
        features: ['t100/block.2', 't200/block.2'],
      },
    );
    await expect(load(join(root, 'motion', 'labels.csv'), h)).rejects.toThrow(
      /holds 2 features \(t100\/block.2, t200\/block.2\); choose one with --feature NAME/,
    );
    const d = await loadTaskData({
      kind: 'attention',
      features: h,
      labels: join(root, 'motion', 'labels.csv'),
      feature: 't100/block.2',
      cwd: root,
    });
    expect(d.featureName).toBe('t100/block.2');
    await expect(
      loadTaskData({
        kind: 'attention',
        features: h,
        labels: join(root, 'motion', 'labels.csv'),
        feature: 'x',
        cwd: root,
      }),
    ).rejects.toThrow(/--feature x: not in .* \(it holds t100\/block.2, t200\/block.2\)/);
  });
});

describe('targets at the features’ frames', () => {
  const load = async (task: string, kind: TaskData['kind'], labels = 'labels.csv'): Promise<TaskData> => {
    const f = join(root, `f-${task}`);
    if (!existsSync(f)) {
      await fakeFeatures(
        f,
        videos(task).map((source) => ({ source, frames: 9 })),
        [3, 2, 2, 8],
      );
    }
    return loadTaskData({ kind, features: f, labels: join(root, task, labels), grid: [5, 3], cwd: root });
  };

  it('classification: indices in the order synth.json records; a held-out set takes the given classes', async () => {
    const d = await load('motion', 'attention');
    expect(d.classes).toEqual([
      'left',
      'right',
      'up',
      'down',
      'rotate-cw',
      'rotate-ccw',
      'approach',
      'recede',
      'static',
    ]);
    const rows = readFileSync(join(root, 'motion', 'labels.csv'), 'utf8')
      .trim()
      .split('\n')
      .slice(1);
    expect(d.clips.map((c) => c.targets.label)).toEqual(rows.map((r) => d.classes!.indexOf(r.split(',')[1]!)));
    const a = await load('motion', 'attention', 'appearance.csv');
    expect(a.classes).toEqual(['red', 'yellow', 'green', 'cyan', 'blue', 'magenta']);
    expect(d.layout).toEqual({ shape: [3, 2, 2, 8], T: 3, N: 4, C: 8 });
    expect(d.frames).toBe(9);
  });

  it('pose: E_last·E_first⁻¹ of the camera file', async () => {
    const d = await load('pose', 'camera');
    const cam = await readCameraFile(join(root, 'pose', 'cameras', 'clip-0001.txt'));
    const want = relativePose(cam.frames[0]!.worldToCamera, cam.frames[8]!.worldToCamera);
    expect([...d.clips[1]!.targets.pose!]).toEqual([...Float32Array.from(want)]);
  });

  it('depth: the scene’s frames sampled at the query grid (OC13)', async () => {
    const d = await load('depth', 'depth');
    const c = await readDepthClip(join(root, 'depth', 'scans', 'clip-0002'));
    const want = Float32Array.from(sampleDepthAtGrid(c.metres, 9, c.height, c.width, 5, 3));
    expect(d.grid).toEqual([5, 3]);
    expect([...d.clips[2]!.targets.depth!]).toEqual([...want]);
  });

  it('points: tracks at the frames, queries 2p − 1 at the first visible frame', async () => {
    const d = await load('points', 'points');
    const c = await readTapVidNpz(join(root, 'points', 'tracks', 'clip-0000.npz'));
    const t = d.clips[0]!.targets;
    expect(t.M).toBe(c.numPoints);
    expect(d.maxTracks).toBe(c.numPoints);
    const T = c.numFrames;
    for (const m of [0, 7, c.numPoints - 1]) {
      const q = t.queryFrames![m]!;
      expect(c.occluded[m * T + q]).toBe(0);
      for (let s = 0; s < q; s++) {
        expect(c.occluded[m * T + s]).toBe(1);
      }
      expect(t.queries![2 * m]).toBeCloseTo(2 * c.points[(m * T + q) * 2]! - 1, 6);
      for (const f of [0, 4, 8]) {
        expect(t.tracks![(f * t.M! + m) * 2 + 1]).toBe(c.points[(m * T + f) * 2 + 1]);
        expect(t.visible![f * t.M! + m]).toBe(c.occluded[m * T + f] === 0 ? 1 : 0);
      }
    }
  });

  it('boxes: frame 0’s boxes followed by id, normalised by the frame size', async () => {
    const d = await load('boxes', 'boxes');
    const c = await readBoxesJson(join(root, 'boxes', 'boxes', 'clip-0001.json'));
    const t = d.clips[1]!.targets;
    expect(t.M).toBe(c.frames[0]!.boxes.length);
    const b0 = c.frames[0]!.boxes[0]!.box;
    expect([...t.tracks!.subarray(0, 4)]).toEqual([
      ...Float32Array.from([b0[0] / 32, b0[1] / 32, b0[2] / 32, b0[3] / 32]),
    ]);
    expect([...t.queries!.subarray(0, 4)]).toEqual([...t.tracks!.subarray(0, 4)].map((v) => Math.fround(2 * v - 1)));
    expect([...t.queryFrames!]).toEqual(new Array<number>(t.M!).fill(0));
    const id = c.frames[0]!.boxes[0]!.id;
    for (let f = 0; f < 9; f++) {
      expect(t.visible![f * t.M!]).toBe(c.frames[f]!.boxes.some((b) => b.id === id) ? 1 : 0);
    }
  });

  it('batches: features resampled to the clip frames (OC25), camera ends, tracks padded; worker = in-process', async () => {
    const worker = await buildWorker(join(root, 'worker'));
    for (const [task, kind] of [
      ['motion', 'attention'],
      ['pose', 'camera'],
      ['depth', 'depth'],
      ['points', 'points'],
      ['boxes', 'boxes'],
    ] as const) {
      const d = await load(task, kind);
      const a = new BatchAssembler(d);
      const local = await a.batch([2, 0, 2]);
      const feats = await fakeFeaturesOf(d);
      const { T, N, C } = d.layout;
      const full = (i: number): Float32Array => Float32Array.from(resampleTimeForward(feats[i]!, T, N, C, 9).y);
      if (kind === 'attention') {
        expect(local.T).toBe(3);
        expect([...local.features.subarray(0, T * N * C)]).toEqual([...feats[2]!]);
      } else if (kind === 'camera') {
        expect(local.T).toBe(2);
        const f = full(0);
        expect([...local.features.subarray(2 * N * C, 3 * N * C)]).toEqual([...f.subarray(0, N * C)]);
        expect([...local.features.subarray(3 * N * C, 4 * N * C)]).toEqual([...f.subarray(8 * N * C, 9 * N * C)]);
        expect([...local.features.subarray(2 * N * C, 3 * N * C)]).toEqual([...feats[0]!.subarray(0, N * C)]);
      } else {
        expect(local.T).toBe(9);
        expect([...local.features.subarray(9 * N * C, 18 * N * C)]).toEqual([...full(0)]);
      }
      if (kind === 'boxes' || kind === 'points') {
        const M = local.M!;
        expect(M).toBe(d.maxTracks);
        const m1 = d.clips[0]!.targets.M!;
        // Padded tracks are invisible everywhere.
        for (let t = 0; t < 9; t++) {
          for (let m = m1; m < M; m++) {
            expect(local.visible![(1 * 9 + t) * M + m]).toBe(0);
          }
        }
      }
      const f = await BatchFeeder.create({ train: d }, worker);
      expect(f.mode).toBe('worker');
      const remote = await f.batch('train', [2, 0, 2]);
      await f.close();
      expect(Object.keys(remote).sort()).toEqual(Object.keys(local).sort());
      for (const k of Object.keys(local) as (keyof typeof local)[]) {
        const x = local[k];
        const y = remote[k];
        if (ArrayBuffer.isView(x)) {
          expect(Buffer.from((y as Float32Array).buffer).equals(Buffer.from(x.buffer)), `${kind} ${k}`).toBe(true);
        } else if (typeof x === 'object') {
          expect(Buffer.from((y as { data: Float32Array }).data.buffer).equals(Buffer.from(x.data.buffer))).toBe(true);
        } else {
          expect(y).toBe(x);
        }
      }
      await a.close();
    }
    // Without a worker script (or a broken one) the feeder assembles in-process.
    const d = await load('motion', 'attention');
    const f = await BatchFeeder.create({ train: d }, join(root, 'no-such-worker.js'));
    expect(f.mode).toBe('in-process');
    expect((await f.batch('train', [1])).labels).toEqual(Int32Array.from([d.clips[1]!.targets.label!]));
    await f.close();
  });

  it('evaluation groups: tracking clips batched by track count, nothing padded', async () => {
    const d = await load('boxes', 'boxes');
    const groups = evalGroups(d, 2);
    expect(groups.flatMap((g) => g.indices).sort()).toEqual([0, 1, 2]);
    for (const g of groups) {
      for (const i of g.indices) {
        expect(d.clips[i]!.targets.M).toBe(g.M);
      }
      expect(g.indices.length).toBeLessThanOrEqual(2);
    }
    expect(evalGroups(await load('motion', 'attention'), 2).map((g) => g.indices)).toEqual([[0, 1], [2]]);
    expect(bestIndex('top1', [{ top1: 0.2 }, { top1: 0.5 }, { top1: 0.5 }])).toBe(1);
    expect(bestIndex('absrel', [{ absrel: Number.NaN }, { absrel: 0.5 }, { absrel: 0.3 }])).toBe(2);
  });
});

/** The fake features of a task folder, by clip index. */
async function fakeFeaturesOf(d: TaskData): Promise<Float32Array[]> {
  const a = new BatchAssembler({ ...d, kind: 'attention' });
  const out = await Promise.all(d.clips.map((_, i) => a.clipFeatures(i)));
  await a.close();
  return out;
}

describe('checkpoints and curves', () => {
  it('a checkpoint round-trips; temp folders and older checkpoints are pruned', async () => {
    const run = join(root, 'run-ck');
    const weights = [
      ['a', [3]],
      ['b', [2, 1]],
    ] as const;
    const map = (x: number): Map<string, Float32Array> =>
      new Map([
        ['a', Float32Array.from([x, x + 1, x + 2])],
        ['b', Float32Array.from([-x, x / 3])],
      ]);
    const records: MetricRecord[] = [
      { step: 1, loss: 2.5, lr: 0 },
      { step: 2, loss: 2.25, lr: 1e-3, val_top1: 0.5, val_x: null },
    ];
    const order = { epoch: 0, position: 2, seed: 1, clips: 3, batch: 1 };
    await writeCheckpoint(run, weights, { step: 2, order, values: map(1), m: map(2), v: map(3), records });
    mkdirSync(join(run, 'checkpoints', '.step-00000004.123.tmp'));
    writeFileSync(join(run, 'checkpoints', '.step-00000004.123.tmp', 'state.json'), '{}');
    expect(checkpointSteps(run)).toEqual([2]);
    await writeCheckpoint(run, weights, { step: 3, order, values: map(4), m: map(5), v: map(6), records });
    expect(checkpointSteps(run)).toEqual([2, 3]);
    const c = await readCheckpoint(run, weights, 2);
    expect(c.step).toBe(2);
    expect(c.order).toEqual(order);
    expect([...c.values.get('b')!]).toEqual([...map(1).get('b')!]);
    expect([...c.v.get('a')!]).toEqual([...map(3).get('a')!]);
    expect(c.records).toEqual(records);
    await pruneCheckpoints(run, 3);
    expect(checkpointSteps(run)).toEqual([3]);
    expect(existsSync(join(run, 'checkpoints', '.step-00000004.123.tmp'))).toBe(false);
  });

  it('loss and metric figures are SVG and PNG', () => {
    const recs = Array.from({ length: 40 }, (_, i) => ({
      step: i + 1,
      loss: 2 / (i + 1),
      lr: 1e-3,
      ...(i % 10 === 9 ? { val_top1: i / 40 } : {}),
    }));
    const runs = [
      { name: 'lr 0.001', records: recs },
      { name: 'lr 0.0003', records: recs.map((r) => ({ ...r, loss: r.loss * 1.5 })) },
    ];
    const svg = lineFigure('t', [lossPanel(runs), ...metricPanels(runs)]);
    expect(svg).toMatch(/^<svg[\s\S]*<\/svg>\n$/);
    expect(svg).toContain('validation top1');
    const png = PNG.sync.read(svgToPng(svg));
    expect(png.width).toBeGreaterThan(400);
  });
});
