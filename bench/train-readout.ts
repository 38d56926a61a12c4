// walt bench train: training steps per second of every readout head on the synthetic
// tasks, through the whole training loop (`trainReadout`: batches assembled on the worker
// thread from extracted shards, forward, backward, AdamW, a checkpoint at the end). The data are
// made here: `walt synth` clips of each task (64 × 64, 17 frames), one `walt extract` of all of
// them with test-tiny (random weights, t 200, block 2), so the features are [5, 8, 8, 64]. Each
// head is the bare kind sized from those features. A sweep row trains the attention head for
// three learning rates in one pass (each batch read once) to show what a sweep costs.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runExtract } from '../src/extract/run.js';
import { loadConfig } from '../src/model/config.js';
import { defaultHeadForKind, paramCount, type HeadKind } from '../src/readout/spec.js';
import { runSynth } from '../src/synth/synth.js';
import { loadTaskData } from '../src/train-readout/dataset.js';
import { ATTENTION_FRAMES, trainReadout } from '../src/train-readout/trainer.js';
import { panelFigure } from './chart.js';
import { gitCommit, type Row } from './harness.js';

export const TRAIN_READOUT_COLUMNS = [
  'task',
  'head',
  'params',
  'clips',
  'batch',
  'lrs',
  'steps',
  'steps_s',
  'samples_s',
  'ms_step',
  'last_loss',
  'feeder',
];

/** The synthetic task of each head kind and its labels file. */
const TASKS: readonly { task: 'motion' | 'pose' | 'depth' | 'points' | 'boxes'; kind: HeadKind; labels: string }[] = [
  { task: 'motion', kind: 'attention', labels: 'labels.csv' },
  { task: 'pose', kind: 'camera', labels: 'labels.csv' },
  { task: 'depth', kind: 'depth', labels: 'labels.csv' },
  { task: 'points', kind: 'points', labels: 'labels.csv' },
  { task: 'boxes', kind: 'boxes', labels: 'labels.csv' },
];

export interface TrainReadoutBenchOptions {
  /** Clips per task (default 16). */
  clips?: number;
  /** Timed training steps per head (default 20; the first is not timed). */
  steps?: number;
  /** Clips per batch (default 8). */
  batch?: number;
  /** Depth query grid (default 32 × 32). */
  grid?: [number, number];
  /** Learning rates of the sweep row (default 1e-4, 3e-4, 1e-3; empty: no sweep row). */
  sweep?: readonly number[];
  adapter?: string;
  /** The built batch worker (dist/train-worker.js); without it batches are assembled in-process. */
  workerUrl?: URL | string;
  /** Work folder (kept); default a temporary one, removed at the end. */
  root?: string;
  onRow?: (r: Row) => void;
  log?: (s: string) => void;
}

export interface TrainReadoutBenchResult {
  rows: Row[];
  /** Markdown above the table. */
  header: string;
  /** SVG bar chart of steps/s per head. */
  chart: string;
}

/** Runs the bench (see the file comment). */
export async function benchTrainReadout(o: TrainReadoutBenchOptions = {}): Promise<TrainReadoutBenchResult> {
  const clips = o.clips ?? 16;
  const steps = o.steps ?? 20;
  const batch = o.batch ?? 8;
  const grid = o.grid ?? [32, 32];
  const sweep = o.sweep ?? [1e-4, 3e-4, 1e-3];
  const log = o.log ?? ((s: string) => process.stderr.write(`walt bench train: ${s}\n`));
  const root = o.root ?? mkdtempSync(join(tmpdir(), 'walt-bench-train-'));
  const rows: Row[] = [];
  const date = new Date().toISOString();
  let adapter = '';
  try {
    for (const t of TASKS) {
      await runSynth({ task: t.task, n: clips, seed: 11, out: join(root, t.task), size: 64, frames: 17 });
    }
    log(`synthesised ${clips} clips per task in ${root}; extracting test-tiny features`);
    const ex = await runExtract({
      inputs: TASKS.map((t) => join(root, t.task, 'videos')),
      out: join(root, 'feats'),
      config: loadConfig('test-tiny'),
      weightsSeed: 0,
      ts: [200],
      blocks: [2],
      shard: { index: 0, count: 1 },
      noiseSeed: 0,
      pool: 'none',
      dtype: 'f32',
      compute: 'f32',
      stride: 1,
      start: 'first',
      startSeed: 0,
      imageMode: 'replicate',
      frames: 'independent',
      retryErrors: false,
      shardBytes: 2 ** 30,
      handleSignals: false,
      ...(o.adapter ? { adapter: o.adapter } : {}),
      log: () => undefined,
    });
    log(`extracted ${ex.ok} clips`);
    const runs: { t: (typeof TASKS)[number]; lrs: readonly number[] }[] = [
      ...TASKS.map((t) => ({ t, lrs: [3e-4] })),
      ...(sweep.length > 1 ? [{ t: TASKS[0]!, lrs: sweep }] : []),
    ];
    for (const { t, lrs } of runs) {
      const labels = join(root, t.task, t.labels);
      const out = join(root, `run-${t.task}-${lrs.length}`);
      const r = await trainReadout({
        head: t.kind,
        features: join(root, 'feats'),
        labels,
        out,
        steps: steps + 1,
        batch,
        lrs,
        warmup: 1,
        seed: 0,
        checkpointEvery: steps + 1,
        grid,
        ...(o.adapter ? { adapter: o.adapter } : {}),
        ...(o.workerUrl ? { workerUrl: o.workerUrl } : {}),
        log: () => undefined,
      });
      const device = r.adapter?.name ?? '';
      adapter ||= device;
      const data = await loadTaskData({ kind: t.kind, features: join(root, 'feats'), labels, grid });
      const cfg = defaultHeadForKind(t.kind, {
        C: data.layout.C,
        T: t.kind === 'attention' ? ATTENTION_FRAMES : data.frames,
        ...(t.kind === 'attention' ? { K: data.classes!.length } : {}),
      });
      const row: Row = {
        task: t.task,
        head: `${t.kind}${t.kind === 'depth' ? ` (grid ${grid.join('x')})` : ''}`,
        params: paramCount(cfg),
        clips,
        batch,
        lrs: lrs.join(','),
        steps,
        steps_s: r.stepsPerSecond,
        samples_s: r.stepsPerSecond * batch,
        ms_step: 1000 / r.stepsPerSecond,
        last_loss: r.lastLoss[0]!,
        feeder: r.feeder,
        adapter: device,
        software: r.adapter?.isSoftware ?? false,
        date,
        commit: gitCommit(),
      };
      rows.push(row);
      o.onRow?.(row);
      log(`${t.task} ${row.head} lr ${row.lrs}: ${r.stepsPerSecond.toFixed(2)} steps/s`);
    }
  } finally {
    if (o.root === undefined) {
      rmSync(root, { recursive: true, force: true });
    }
  }
  const software = rows.some((r) => r.software === true);
  const header = [
    `${date} · ${adapter}${software ? ' (software adapter: lavapipe on the CPU, so these are CPU rates, not GPU ones)' : ''} · commit ${gitCommit()}`,
    '',
    `Training steps per second of each readout head on the synthetic tasks (\`walt synth\`, ${clips} clips per task, 64 × 64, 17 frames), ` +
      `test-tiny features [5, 8, 8, 64] (random weights, t 200, block 2), heads sized from them (bare kinds), batch ${batch}, ` +
      `through the whole loop: batches assembled from the shards (${rows[0]?.feeder ?? ''}), forward, backward, AdamW. ` +
      `\`steps_s\` = ${steps} steps after the first (pipeline compilation) over their wall time; the run's final checkpoint is outside it. ` +
      'The sweep row trains 3 learning rates in one pass: one batch read per step, three heads updated.',
  ].join('\n');
  const chart = panelFigure(
    'readout training: steps per second',
    `${adapter}${software ? ' (software)' : ''} · batch ${batch} · test-tiny features`,
    [
      {
        title: 'steps/s (higher is better)',
        yLabel: 'steps/s',
        groups: rows.map((r) => `${String(r.task)} ${String(r.lrs).includes(',') ? '(3 lrs)' : ''}`.trim()),
        series: [{ name: 'walt', color: '#1f77b4', values: rows.map((r) => r.steps_s as number) }],
      },
    ],
    1,
    640,
    320,
  );
  return { rows, header, chart };
}
