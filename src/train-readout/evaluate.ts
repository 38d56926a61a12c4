// Evaluation of trained heads on a task's clips: predictions on the GPU (every head sees each
// batch, read once), then the task's metrics (spec §8, src/metrics: the code of `walt metrics`)
// clip by clip, averaged over clips. Tracking clips are batched with others of the same track
// count, so no padded track enters a metric.
import { computeTaskMetrics, datasetMean, type MetricTask, type NumericTensor } from '../metrics/index.js';
import type { HostOutput, ReadoutRunner } from '../readout/runner.js';
import { featureFrames } from './assemble.js';
import { METRIC_OF_KIND, type TaskData } from './dataset.js';
import type { BatchFeeder } from './feeder.js';

/** The metric that picks the best learning rate, and whether higher is better. */
export const PRIMARY_METRIC: Readonly<Record<MetricTask, { key: string; higher: boolean }>> = {
  top1: { key: 'top1', higher: true },
  absrel: { key: 'absrel', higher: false },
  pose: { key: 'epe', higher: false },
  tapvid: { key: 'average_jaccard', higher: true },
  boxes: { key: 'iou', higher: true },
};

/** The index of the best result by the task's primary metric (NaN never wins; ties: the first). */
export function bestIndex(task: MetricTask, results: readonly Record<string, number>[]): number {
  const { key, higher } = PRIMARY_METRIC[task];
  let best = -1;
  results.forEach((r, i) => {
    const v = r[key]!;
    if (Number.isNaN(v)) {
      return;
    }
    if (best < 0 || (higher ? v > results[best]![key]! : v < results[best]![key]!)) {
      best = i;
    }
  });
  return Math.max(best, 0);
}

/** Batches of clip indices: consecutive runs of `size`, tracking clips grouped by track count. */
export function evalGroups(data: TaskData, size: number): { indices: number[]; M?: number }[] {
  const n = data.clips.length;
  const groups: { indices: number[]; M?: number }[] = [];
  if (data.kind === 'points' || data.kind === 'boxes') {
    const byM = new Map<number, number[]>();
    for (let i = 0; i < n; i++) {
      const m = data.clips[i]!.targets.M!;
      byM.set(m, [...(byM.get(m) ?? []), i]);
    }
    for (const [M, list] of byM) {
      for (let k = 0; k < list.length; k += size) {
        groups.push({ indices: list.slice(k, k + size), M });
      }
    }
    return groups;
  }
  for (let k = 0; k < n; k += size) {
    groups.push({ indices: Array.from({ length: Math.min(size, n - k) }, (_, j) => k + j) });
  }
  return groups;
}

type Tensors = Record<string, NumericTensor>;

/** Clip b of a batch output with a leading 1 (and the depth grid unflattened). */
function predOf(data: TaskData, out: Map<string, HostOutput>, b: number): Tensors {
  const r: Tensors = {};
  for (const [name, o] of out) {
    const per = o.data.length / o.shape[0]!;
    let shape = [1, ...o.shape.slice(1)];
    if (name === 'depth' && data.kind === 'depth') {
      shape = [1, o.shape[1]!, data.grid![0], data.grid![1]];
    }
    r[name] = { data: o.data.subarray(b * per, (b + 1) * per), shape };
  }
  return r;
}

/** Clip i's ground truth as the metric task reads it. */
export function groundTruth(data: TaskData, i: number): Tensors {
  const t = data.clips[i]!.targets;
  const T = featureFrames(data.kind, data);
  switch (data.kind) {
    case 'attention':
      return { labels: { data: [t.label!], shape: [1] } };
    case 'camera':
      return { pose: { data: t.pose!, shape: [1, 12] } };
    case 'depth':
      return { depth: { data: t.depth!, shape: [1, T, data.grid![0], data.grid![1]] } };
    case 'points':
      return {
        tracks: { data: t.tracks!, shape: [1, T, t.M!, 2] },
        visible: { data: t.visible!, shape: [1, T, t.M!] },
        query_frames: { data: t.queryFrames!, shape: [1, t.M!] },
      };
    case 'boxes':
      return {
        boxes: { data: t.tracks!, shape: [1, T, t.M!, 4] },
        valid: { data: t.visible!, shape: [1, T, t.M!] },
      };
  }
}

export interface EvalResult {
  /** The metric task's keys, mean over clips (NaN clips omitted). */
  metrics: Record<string, number>;
  /** Clips whose metric was NaN (nothing to evaluate in them). */
  nanClips: number;
  /** The outputs for clip 0 (for pictures). */
  first?: Map<string, HostOutput>;
}

/**
 * Metrics of each runner on set `set` of `feeder` (data `data`), batches of `batchSize` clips.
 * @param keepFirst keep the first clip's outputs (for a preview picture)
 */
export async function evaluateRunners(
  runners: readonly ReadoutRunner[],
  feeder: BatchFeeder,
  set: string,
  data: TaskData,
  batchSize: number,
  keepFirst = false,
): Promise<EvalResult[]> {
  const task = METRIC_OF_KIND[data.kind];
  const perClip = runners.map(() => [] as Record<string, number>[]);
  const firsts: (Map<string, HostOutput> | undefined)[] = runners.map(() => undefined);
  for (const g of evalGroups(data, batchSize)) {
    const batch = await feeder.batch(set, g.indices, g.M);
    for (let k = 0; k < runners.length; k++) {
      const out = await runners[k]!.forward(batch);
      g.indices.forEach((ci, b) => {
        perClip[k]!.push(computeTaskMetrics(task, predOf(data, out, b), groundTruth(data, ci)));
        if (keepFirst && ci === 0) {
          const one = new Map<string, HostOutput>();
          for (const [name, t] of Object.entries(predOf(data, out, b))) {
            one.set(name, { shape: [...t.shape], data: Float32Array.from(t.data) });
          }
          firsts[k] = one;
        }
      });
    }
  }
  return perClip.map((list, k) => {
    const keys = Object.keys(list[0] ?? {});
    const metrics: Record<string, number> = {};
    for (const key of keys) {
      metrics[key] = datasetMean(
        list.map((r) => r[key]!),
        'omit',
      );
    }
    const nanClips = list.filter((r) => keys.some((key) => Number.isNaN(r[key]))).length;
    const first = firsts[k];
    return { metrics, nanClips, ...(first ? { first } : {}) };
  });
}
