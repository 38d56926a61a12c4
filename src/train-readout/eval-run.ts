// `walt eval-readout` as a library call: a finished run's heads (one per learning rate) on a
// task's features and labels, the task's metrics for each, and the best learning rate.
import { GpuContext } from '../gpu/context.js';
import type { MetricTask } from '../metrics/tasks.js';
import { ReadoutRunner } from '../readout/runner.js';
import { featureWidth } from '../readout/spec.js';
import { writeBytesAtomic } from '../util/atomic.js';
import { loadTaskData, METRIC_OF_KIND, type TaskData } from './dataset.js';
import { TrainInputError } from './errors.js';
import { bestIndex, evaluateRunners } from './evaluate.js';
import { BatchFeeder } from './feeder.js';
import { predictionPicture } from './preview.js';
import { findRuns, readRunWeights, type FoundRun } from './run-dir.js';

export interface EvalOptions {
  run: string;
  features: string;
  labels: string;
  /** Clips per forward batch (default 16). */
  batch?: number;
  adapter?: string;
  workerUrl?: URL | string;
  /** A PNG of clip 0's prediction by the best run beside the ground truth (depth, points, boxes). */
  preview?: string;
  cwd?: string;
}

export interface EvalRunResult {
  lr: number;
  dir: string;
  metrics: Record<string, number>;
  nanClips: number;
}

export interface EvalOutput {
  task: MetricTask;
  clips: number;
  data: TaskData;
  results: EvalRunResult[];
  /** Index of the best result by the task's primary metric. */
  best: number;
}

/** Evaluates every learning rate's head of a finished run on (features, labels). */
export async function evalReadout(o: EvalOptions): Promise<EvalOutput> {
  const runs: FoundRun[] = findRuns(o.run);
  const c0 = runs[0]!.config;
  for (const r of runs) {
    if (JSON.stringify(r.config.head) !== JSON.stringify(c0.head)) {
      throw new TrainInputError(`--run ${o.run}: ${r.dir} has another head than ${runs[0]!.dir}; evaluate them apart`);
    }
  }
  if (o.preview !== undefined && (c0.kind === 'attention' || c0.kind === 'camera')) {
    throw new TrainInputError(`--preview draws depth, points and boxes predictions; this run is a ${c0.kind} head`);
  }
  const batch = o.batch ?? 16;
  if (!Number.isSafeInteger(batch) || batch < 1) {
    throw new TrainInputError(`--batch ${batch}: expected an integer ≥ 1`);
  }
  const data = await loadTaskData({
    kind: c0.kind,
    features: o.features,
    labels: o.labels,
    feature: c0.feature,
    ...(c0.classes ? { classes: c0.classes } : {}),
    ...(c0.grid ? { grid: c0.grid } : {}),
    ...(o.cwd ? { cwd: o.cwd } : {}),
  });
  if (data.layout.C !== featureWidth(c0.head)) {
    throw new TrainInputError(
      `--features ${o.features}: ${data.featureName} has width ${data.layout.C}; the run's head reads ${featureWidth(c0.head)}; give features extracted like the training ones`,
    );
  }
  if ((c0.kind === 'depth' || c0.kind === 'points' || c0.kind === 'boxes') && data.frames !== c0.frames) {
    throw new TrainInputError(
      `--features ${o.features}: clips of ${data.frames} frames; the run was trained on ${c0.frames}; extract with the same frame options`,
    );
  }
  const weights = [];
  for (const r of runs) {
    weights.push(await readRunWeights(r));
  }
  const ctx = await GpuContext.create(o.adapter ? { adapter: o.adapter } : {});
  const runners: ReadoutRunner[] = [];
  let feeder: BatchFeeder | null = null;
  try {
    for (let k = 0; k < runs.length; k++) {
      const c = runs[k]!.config;
      runners.push(new ReadoutRunner(ctx, c.head, weights[k]!, { form: c.form, ...(c.grid ? { grid: c.grid } : {}) }));
    }
    feeder = await BatchFeeder.create({ eval: data }, o.workerUrl);
    const res = await evaluateRunners(runners, feeder, 'eval', data, batch, o.preview !== undefined);
    const task = METRIC_OF_KIND[c0.kind];
    const results = res.map((r, k) => ({
      lr: runs[k]!.config.lr,
      dir: runs[k]!.dir,
      metrics: r.metrics,
      nanClips: r.nanClips,
    }));
    const best = bestIndex(
      task,
      results.map((r) => r.metrics),
    );
    if (o.preview !== undefined) {
      const pic = await predictionPicture(data, res[best]!.first!);
      await writeBytesAtomic(o.preview, pic.png());
    }
    return { task, clips: data.clips.length, data, results, best };
  } finally {
    await feeder?.close();
    for (const r of runners) {
      r.dispose();
    }
    await ctx.close();
  }
}
