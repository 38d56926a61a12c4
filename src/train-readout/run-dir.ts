// The layout of a training run folder:
//   RUN/train.json            the options that define the run (a rerun must give the same ones)
//   RUN/config.json, …         one learning rate: the run's files in RUN/ itself
//   RUN/lr-<lr>/config.json, … several: one folder per learning rate, and RUN/loss.{svg,png}
// Each learning rate's folder: config.json (head, class names in index order, options),
// metrics.jsonl, loss.{svg,png}, metrics.{svg,png} (with validation), checkpoints/, and
// weights.safetensors, written last (a run is finished when every folder has it).
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { SafetensorsFile } from '../io/safetensors.js';
import { validateHeadConfig, weightList, type HeadConfig } from '../readout/spec.js';
import { TrainInputError } from './errors.js';
import type { FeatureLayout } from './dataset.js';

export const TRAIN_JSON = 'train.json';
export const CONFIG_JSON = 'config.json';
export const WEIGHTS = 'weights.safetensors';
export const METRICS_JSONL = 'metrics.jsonl';

/** A learning rate as a folder name: `lr-0.001` (JavaScript's shortest round-trip spelling). */
export function lrDirName(lr: number): string {
  return `lr-${String(lr)}`;
}

/** The folder of each learning rate: RUN itself for one, RUN/lr-<lr> for several. */
export function lrDirs(out: string, lrs: readonly number[]): string[] {
  return lrs.length === 1 ? [out] : lrs.map((lr) => join(out, lrDirName(lr)));
}

/** config.json of one learning rate's run: what eval-readout needs to rebuild the head. */
export interface RunConfig {
  format: 1;
  kind: HeadConfig['kind'];
  task: string;
  head: HeadConfig;
  /** Classification: class names in index order (logit k is classes[k]). */
  classes?: string[];
  lr: number;
  steps: number;
  batch: number;
  warmup: number;
  end_lr: number;
  weight_decay: number;
  seed: number;
  init: string;
  form: 'fast' | 'direct';
  grid?: [number, number];
  feature: string;
  features: string;
  labels: string;
  val_features?: string;
  val_labels?: string;
  layout: FeatureLayout;
  frames: number;
  max_tracks?: number;
}

/** One learning rate's run found in a run folder. */
export interface FoundRun {
  dir: string;
  config: RunConfig;
}

function readConfig(dir: string, option: string): RunConfig {
  const path = join(dir, CONFIG_JSON);
  let c: RunConfig;
  try {
    c = JSON.parse(readFileSync(path, 'utf8')) as RunConfig;
  } catch (e) {
    throw new TrainInputError(
      `${option} ${dir}: ${path} is not readable (${e instanceof Error ? e.message : String(e)}); give a folder written by walt train-readout`,
    );
  }
  try {
    c.head = validateHeadConfig(c.head, path);
  } catch (e) {
    throw new TrainInputError(`${option} ${dir}: ${e instanceof Error ? e.message : String(e)}`);
  }
  return c;
}

/**
 * The learning-rate runs of a run folder (RUN itself, or its `lr-*` folders in the order
 * train.json lists them), each with its config; finished only (they have weights.safetensors).
 * @throws TrainInputError when RUN is not a run folder or a run is unfinished
 */
export function findRuns(run: string, option = '--run'): FoundRun[] {
  const dir = resolve(run);
  if (!existsSync(dir) || !statSync(dir).isDirectory()) {
    throw new TrainInputError(`${option} ${run}: no such folder; give the --out folder of walt train-readout`);
  }
  let dirs: string[];
  if (existsSync(join(dir, CONFIG_JSON))) {
    dirs = [dir];
  } else {
    let lrs: number[] | null = null;
    try {
      lrs = (JSON.parse(readFileSync(join(dir, TRAIN_JSON), 'utf8')) as { lrs?: number[] }).lrs ?? null;
    } catch {
      lrs = null;
    }
    dirs = lrs
      ? lrDirs(dir, lrs)
      : readdirSync(dir)
          .filter((n) => n.startsWith('lr-') && existsSync(join(dir, n, CONFIG_JSON)))
          .sort((a, b) => Number(a.slice(3)) - Number(b.slice(3)))
          .map((n) => join(dir, n));
    if (dirs.length === 0) {
      throw new TrainInputError(
        `${option} ${run}: no ${CONFIG_JSON} in it or in lr-* folders; give the --out folder of walt train-readout`,
      );
    }
  }
  return dirs.map((d) => {
    const config = readConfig(d, option);
    if (!existsSync(join(d, WEIGHTS))) {
      throw new TrainInputError(
        `${option} ${run}: ${d} has no ${WEIGHTS} (training is not finished); rerun the same walt train-readout command to finish it`,
      );
    }
    return { dir: d, config };
  });
}

/** A finished run's weights, every tensor of its head checked by name and shape. */
export async function readRunWeights(r: FoundRun): Promise<Map<string, Float32Array>> {
  const path = join(r.dir, WEIGHTS);
  const f = await SafetensorsFile.open(path).catch((e: unknown) => {
    throw new TrainInputError(
      `${path}: ${e instanceof Error ? e.message : String(e)}; rerun walt train-readout to rewrite it`,
    );
  });
  try {
    const out = new Map<string, Float32Array>();
    for (const [name, shape] of weightList(r.config.head)) {
      const e = f.tensors.get(name);
      if (!e || e.shape.join() !== shape.join()) {
        throw new TrainInputError(
          `${path}: no tensor '${name}' [${shape.join(', ')}] for the head in ${CONFIG_JSON}; the folder is damaged`,
        );
      }
      out.set(name, await f.readF32(name));
    }
    return out;
  } finally {
    await f.close();
  }
}
