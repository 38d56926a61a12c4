// walt metrics: the task metrics of spec §8 (OC17–OC21) on prediction and ground-truth
// safetensors files, through the metrics library (src/metrics).
import { existsSync } from 'node:fs';
import { SafetensorsError } from '../io/safetensors.js';
import {
  computeTaskMetrics,
  isMetricTask,
  METRIC_TASKS,
  MetricsInputError,
  readTaskTensors,
  TASK_SPECS,
} from '../metrics/index.js';
import { flag, parse, str, UsageError } from './args.js';

const tensorList = (ts: readonly { name: string; pattern: readonly (number | string)[] }[]): string =>
  ts.map((t) => `${t.name} [${t.pattern.join(',')}]`).join(', ');

export const METRICS_HELP = `walt metrics --task ${METRIC_TASKS.join('|')} --pred P.safetensors --gt G.safetensors
             [--json] [--nan propagate|omit]

Task metrics of spec §8 (OC17–OC21) for predictions from any model. Tensors (integer-valued ones
— labels, masks, query frames — in any numeric dtype: F32, F64, I32, I64, U8):
${METRIC_TASKS.map(
  (t) =>
    `  ${t.padEnd(6)}  pred: ${tensorList(TASK_SPECS[t].pred)}\n          gt:   ${tensorList(TASK_SPECS[t].gt)}\n          → ${TASK_SPECS[t].outputs.join(', ')}`,
).join('\n')}

top1: argmax (first index on ties) = label. absrel: |d̂ − d|/d over valid ground truth
(0.001 < d < 10 m) sampled at the prediction grid (align-corners nearest), per clip, then the
mean over clips. pose: 12 = R row-major ‖ t; end-point error over the 8 corners of a 1 m cube at
(0, 0, 2) m with the predicted R projected to SO(3) (Procrustes). tapvid: tapnet's
compute_tapvid_metrics, query mode 'first', on a 256×256 raster (values and tracks in [0, 1]),
visible = σ(l0)·σ(l1) > 0.5, per video then the mean. boxes: IoU of [ymin, xmin, ymax, xmax]
over the valid boxes of frames ≥ 1, per clip then the mean.

A clip with nothing to evaluate (no valid depth pixel, no point after its query frame, no valid
box) has a NaN metric. --nan propagate (default, as tapnet's np.mean) makes the mean NaN — JSON
null — and says so on stderr; --nan omit averages over the other clips.
--json prints one line, e.g. {"top1": 0.75}; without it, one "name value" line per metric.
`;

export async function metricsCommand(argv: string[]): Promise<number> {
  const { values } = parse('metrics', argv, {
    task: { type: 'string' },
    pred: { type: 'string' },
    gt: { type: 'string' },
    json: { type: 'boolean' },
    nan: { type: 'string' },
  });
  if (flag(values, 'help')) {
    process.stdout.write(METRICS_HELP);
    return 0;
  }
  const task = str(values, 'task');
  if (!isMetricTask(task)) {
    throw new UsageError(`--task must be one of ${METRIC_TASKS.join(', ')}, got '${task}'`);
  }
  const nan = str(values, 'nan', 'propagate');
  if (nan !== 'propagate' && nan !== 'omit') {
    throw new UsageError(`--nan must be propagate or omit, got '${nan}'`);
  }
  const predPath = str(values, 'pred');
  const gtPath = str(values, 'gt');
  for (const [opt, p] of [
    ['pred', predPath],
    ['gt', gtPath],
  ] as const) {
    if (!existsSync(p)) {
      throw new UsageError(
        `--${opt} ${p}: no such file (a safetensors file with ${tensorList(TASK_SPECS[task][opt])})`,
      );
    }
  }
  let result: Record<string, number>;
  try {
    const { pred, gt } = await readTaskTensors(task, predPath, gtPath);
    result = computeTaskMetrics(task, pred, gt, { nan, labels: { pred: predPath, gt: gtPath } });
  } catch (e) {
    if (e instanceof MetricsInputError || e instanceof SafetensorsError) {
      throw new UsageError(e.message);
    }
    throw e;
  }
  const nanKeys = Object.entries(result).filter(([, v]) => Number.isNaN(v));
  if (nanKeys.length > 0) {
    process.stderr.write(
      `walt metrics: ${nanKeys.map(([k]) => k).join(', ')} is NaN: some clip has nothing to evaluate${nan === 'propagate' ? ' (--nan omit averages over the others)' : ' in every clip'}\n`,
    );
  }
  if (flag(values, 'json')) {
    process.stdout.write(`${JSON.stringify(result)}\n`);
  } else {
    process.stdout.write(
      Object.entries(result)
        .map(([k, v]) => `${k} ${v}\n`)
        .join(''),
    );
  }
  return 0;
}
