// The set-up of a training run (src/train-readout/trainer.ts): the learning-rate schedule, the
// head a --head argument trains on this data, option checks, the data digest a resume compares,
// and the run folder's lock and leftover temporary files.
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import {
  defaultHeadForKind,
  featureWidth,
  HeadSpecError,
  isHeadKind,
  resolveHead,
  type HeadConfig,
  type HeadKind,
} from '../readout/spec.js';
import { warmupCosineDecaySchedule } from '../ref/adamw.js';
import type { TaskData } from './dataset.js';
import { TrainInputError } from './errors.js';
import { lrDirName } from './run-dir.js';
import type { TrainOptions } from './trainer.js';

/** Final learning rate of the cosine decay (§7.5). */
export const END_LR = 1e-7;
/** Frames of the attention head's temporal position table when sized from features (§6 step 6). */
export const ATTENTION_FRAMES = 17;

/** The learning rate of update `step` (0-based) for peak `lr` (OC23). */
export function scheduledLr(step: number, lr: number, warmup: number, steps: number): number {
  return warmupCosineDecaySchedule(step, {
    initValue: 0,
    peakValue: lr,
    warmupSteps: warmup,
    decaySteps: steps,
    endValue: END_LR,
  });
}

export const sha256 = (s: string | Buffer): string => createHash('sha256').update(s).digest('hex');

/** A digest of what a task reads: the matched clips' feature refs, targets' sources, the extraction's options. */
export function dataDigest(d: TaskData): string {
  const spec = join(d.featuresDir, 'extract.json');
  return sha256(
    JSON.stringify({
      feature: d.featureName,
      clips: d.clips.map((c) => [c.feature.source, c.feature.shard, c.feature.tensor, c.feature.dtype]),
      extract: existsSync(spec) ? readFileSync(spec, 'utf8') : null,
      labels: sha256(readFileSync(d.labelsFile)),
    }),
  );
}

/**
 * The head for `arg` on this data: a bare kind sized from it (attention: C, T = 17, K = the
 * class count; camera: 2C, T = 1; depth, points, boxes: C), or a built-in / JSON head checked
 * against it.
 */
export function headForData(arg: string, kind: HeadKind, d: TaskData): HeadConfig {
  const C = d.layout.C;
  let cfg: HeadConfig;
  try {
    cfg = isHeadKind(arg)
      ? defaultHeadForKind(kind, {
          C,
          T: kind === 'attention' ? ATTENTION_FRAMES : kind === 'camera' ? 1 : d.frames,
          ...(kind === 'attention' ? { K: d.classes!.length } : {}),
        })
      : resolveHead(arg);
  } catch (e) {
    if (e instanceof HeadSpecError) {
      throw new TrainInputError(`--head: ${e.message}`);
    }
    throw e;
  }
  if (featureWidth(cfg) !== C) {
    throw new TrainInputError(
      `--head ${arg} reads features of width ${featureWidth(cfg)}; ${d.featureName} of ${d.featuresDir} has width ${C}; ` +
        `use --head ${cfg.kind} (sized from the features) or a head file with C = ${cfg.kind === 'camera' ? 2 * C : C}`,
    );
  }
  if (cfg.kind === 'attention' && cfg.K !== d.classes!.length) {
    throw new TrainInputError(
      `--head ${arg} has ${cfg.K} classes; ${d.labelsFile} has ${d.classes!.length} (${d.classes!.slice(0, 6).join(', ')}${d.classes!.length > 6 ? ', …' : ''}); ` +
        'use --head attention (sized from the labels) or a head file with that K',
    );
  }
  return cfg;
}

/** The kind a --head argument trains (a bare kind, or the kind of a built-in / JSON head). */
export function headKind(arg: string): HeadKind {
  if (isHeadKind(arg)) {
    return arg;
  }
  try {
    return resolveHead(arg).kind;
  } catch (e) {
    if (e instanceof HeadSpecError) {
      throw new TrainInputError(`--head: ${e.message}`);
    }
    throw e;
  }
}

export function checkNumbers(o: TrainOptions): void {
  const int = (name: string, v: number, min: number): void => {
    if (!Number.isSafeInteger(v) || v < min) {
      throw new TrainInputError(`--${name} ${v}: expected an integer ≥ ${min}`);
    }
  };
  int('steps', o.steps, 1);
  int('batch', o.batch, 1);
  int('warmup', o.warmup, 0);
  if (o.checkpointEvery !== undefined) {
    int('checkpoint-every', o.checkpointEvery, 1);
  }
  if (o.warmup > o.steps) {
    throw new TrainInputError(
      `--warmup ${o.warmup} is longer than --steps ${o.steps}; use a warm-up of at most the run's length`,
    );
  }
  if (o.lrs.length === 0 || o.lrs.some((lr) => !Number.isFinite(lr) || lr <= 0)) {
    throw new TrainInputError(`--lr ${o.lrs.join(',')}: expected positive numbers, e.g. 1e-4,3e-4,1e-3`);
  }
  if (new Set(o.lrs.map(lrDirName)).size !== o.lrs.length) {
    throw new TrainInputError(`--lr ${o.lrs.join(',')}: a learning rate is given twice`);
  }
  if ((o.valFeatures === undefined) !== (o.valLabels === undefined)) {
    throw new TrainInputError('--val-features and --val-labels go together (held-out features and their labels)');
  }
  if (o.weightDecay !== undefined && (!Number.isFinite(o.weightDecay) || o.weightDecay < 0)) {
    throw new TrainInputError(`--weight-decay ${o.weightDecay}: expected a number ≥ 0`);
  }
}

/** Removes temporary files left by an interrupted atomic write in `dir`. */
export async function removeTemps(dir: string): Promise<void> {
  if (!existsSync(dir)) {
    return;
  }
  for (const n of readdirSync(dir)) {
    if (/^\..+\.\d+\.[0-9a-f]{8}\.tmp$/.test(n)) {
      await rm(join(dir, n), { force: true });
    }
  }
}

export const LOCK = '.train.lock';

export function lockHolder(out: string): number | null {
  const p = join(out, LOCK);
  if (!existsSync(p)) {
    return null;
  }
  const pid = Number(readFileSync(p, 'utf8').trim());
  if (!Number.isInteger(pid) || pid === process.pid) {
    return null;
  }
  try {
    process.kill(pid, 0);
    return pid;
  } catch {
    return null;
  }
}
