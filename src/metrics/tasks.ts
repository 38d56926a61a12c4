// The five metric tasks of `walt metrics` (issue 11 §6): which tensors each reads from the
// prediction and ground-truth files, their shapes, and the keys it reports.
import { absRel } from './absrel.js';
import { boxIouMean } from './boxes.js';
import { bindShapes, MetricsInputError, type NanPolicy, type NumericTensor } from './common.js';
import { poseEpe } from './pose.js';
import { tapvid } from './tapvid.js';
import { top1Accuracy } from './top1.js';

export type MetricTask = 'top1' | 'absrel' | 'pose' | 'tapvid' | 'boxes';

export const METRIC_TASKS: readonly MetricTask[] = ['top1', 'absrel', 'pose', 'tapvid', 'boxes'];

export interface TensorSpec {
  readonly name: string;
  /** Sizes and named dimensions; a name binds across both files. */
  readonly pattern: readonly (number | string)[];
  /** Integer-valued or 0/1 (any numeric dtype accepted). */
  readonly integer?: boolean;
}

export interface TaskSpec {
  readonly pred: readonly TensorSpec[];
  readonly gt: readonly TensorSpec[];
  /** The keys of the result, in output order. */
  readonly outputs: readonly string[];
}

export const TASK_SPECS: Readonly<Record<MetricTask, TaskSpec>> = {
  top1: {
    pred: [{ name: 'logits', pattern: ['B', 'K'] }],
    gt: [{ name: 'labels', pattern: ['B'], integer: true }],
    outputs: ['top1'],
  },
  absrel: {
    pred: [{ name: 'depth', pattern: ['B', 'T', 'Hq', 'Wq'] }],
    gt: [{ name: 'depth', pattern: ['B', 'T', 'H', 'W'] }],
    outputs: ['absrel'],
  },
  pose: {
    pred: [{ name: 'pose', pattern: ['B', 12] }],
    gt: [{ name: 'pose', pattern: ['B', 12] }],
    outputs: ['epe'],
  },
  tapvid: {
    pred: [
      { name: 'values', pattern: ['B', 'T', 'M', 2] },
      { name: 'logits', pattern: ['B', 'T', 'M', 2] },
    ],
    gt: [
      { name: 'tracks', pattern: ['B', 'T', 'M', 2] },
      { name: 'visible', pattern: ['B', 'T', 'M'], integer: true },
      { name: 'query_frames', pattern: ['B', 'M'], integer: true },
    ],
    outputs: ['average_jaccard', 'average_pts_within_thresh', 'occlusion_accuracy'],
  },
  boxes: {
    pred: [{ name: 'values', pattern: ['B', 'T', 'M', 4] }],
    gt: [
      { name: 'boxes', pattern: ['B', 'T', 'M', 4] },
      { name: 'valid', pattern: ['B', 'T', 'M'], integer: true },
    ],
    outputs: ['iou'],
  },
};

export function isMetricTask(s: string): s is MetricTask {
  return (METRIC_TASKS as readonly string[]).includes(s);
}

type Tensors = Readonly<Record<string, NumericTensor | undefined>>;

/**
 * Computes a task's metrics from named tensors (the prediction file's and the ground truth's).
 * Shapes are checked first across both sets, errors naming `labels.pred`/`labels.gt` and the
 * tensor.
 * @returns the task's `outputs` keys (NaN where nothing was evaluated and `nan` propagates)
 */
export function computeTaskMetrics(
  task: MetricTask,
  pred: Tensors,
  gt: Tensors,
  opts: { nan?: NanPolicy; labels?: { pred: string; gt: string } } = {},
): Record<string, number> {
  const spec = TASK_SPECS[task];
  const labels = opts.labels ?? { pred: 'pred', gt: 'gt' };
  const get = (set: Tensors, label: string, name: string): NumericTensor => {
    const t = set[name];
    if (!t) {
      throw new MetricsInputError(`${label}: no tensor '${name}' (task ${task} needs it)`);
    }
    return t;
  };
  bindShapes([
    ...spec.pred.map((s) => ({
      label: `${labels.pred} '${s.name}'`,
      shape: get(pred, labels.pred, s.name).shape,
      pattern: s.pattern,
    })),
    ...spec.gt.map((s) => ({
      label: `${labels.gt} '${s.name}'`,
      shape: get(gt, labels.gt, s.name).shape,
      pattern: s.pattern,
    })),
  ]);
  const nan = opts.nan;
  const P = (n: string): NumericTensor => get(pred, labels.pred, n);
  const G = (n: string): NumericTensor => get(gt, labels.gt, n);
  const withLabels = <T>(f: () => T): T => {
    try {
      return f();
    } catch (e) {
      if (e instanceof MetricsInputError) {
        throw new MetricsInputError(`${labels.pred} / ${labels.gt}: ${e.message}`);
      }
      throw e;
    }
  };
  switch (task) {
    case 'top1':
      return { top1: withLabels(() => top1Accuracy(P('logits'), G('labels'))) };
    case 'absrel':
      return { absrel: withLabels(() => absRel(P('depth'), G('depth'), { nan })) };
    case 'pose':
      return { epe: withLabels(() => poseEpe(P('pose'), G('pose'), { nan })) };
    case 'tapvid': {
      const r = withLabels(() =>
        tapvid(
          {
            values: P('values'),
            logits: P('logits'),
            tracks: G('tracks'),
            visible: G('visible'),
            queryFrames: G('query_frames'),
          },
          { nan },
        ),
      );
      return {
        average_jaccard: r.average_jaccard,
        average_pts_within_thresh: r.average_pts_within_thresh,
        occlusion_accuracy: r.occlusion_accuracy,
      };
    }
    case 'boxes':
      return {
        iou: withLabels(() => boxIouMean({ values: P('values'), boxes: G('boxes'), valid: G('valid') }, { nan })),
      };
  }
}
