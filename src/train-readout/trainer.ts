// `walt train-readout` as a library call: train a readout head on frozen features for one or
// several learning rates in one pass over the data (each batch read once, used by every run),
// with the study's optimiser (AdamW, OC22; warm-up + cosine to 1e-7, OC23), resumable
// checkpoints, validation metrics and curves. Everything is checked before the first write.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { GpuContext } from '../gpu/context.js';
import { writeSafetensors } from '../io/safetensors.js';
import type { HostBatch } from '../readout/batch.js';
import { initHeadWeights, type InitScheme } from '../readout/init.js';
import { ReadoutRunner } from '../readout/runner.js';
import { paramCount, weightList } from '../readout/spec.js';
import { writeBytesAtomic } from '../util/atomic.js';
import { formatDuration, progress } from '../util/progress.js';
import { featureFrames } from './assemble.js';
import {
  checkpointSteps,
  pruneCheckpoints,
  readCheckpoint,
  recordsText,
  writeCheckpoint,
  type MetricRecord,
} from './checkpoint.js';
import { lineFigure, lossPanel, metricPanels, writeFigure } from './curves.js';
import { loadTaskData, METRIC_OF_KIND } from './dataset.js';
import { TrainInputError } from './errors.js';
import { evaluateRunners } from './evaluate.js';
import { BatchFeeder } from './feeder.js';
import { DataOrder, orderState } from './order.js';
import { CONFIG_JSON, lrDirs, METRICS_JSONL, TRAIN_JSON, WEIGHTS, type RunConfig } from './run-dir.js';
import {
  checkNumbers,
  END_LR,
  dataDigest,
  headForData,
  headKind,
  LOCK,
  lockHolder,
  removeTemps,
  scheduledLr,
} from './trainer-setup.js';

export { ATTENTION_FRAMES, END_LR, headForData, headKind, scheduledLr } from './trainer-setup.js';

export interface TrainOptions {
  /** A built-in head name, a JSON head file, or a kind sized from the features and labels. */
  head: string;
  features: string;
  labels: string;
  out: string;
  steps: number;
  batch: number;
  /** One run per learning rate (peak of the schedule). */
  lrs: readonly number[];
  warmup: number;
  seed: number;
  feature?: string;
  /** Checkpoint (and validate) every K steps; the last step always. Default min(1000, steps). */
  checkpointEvery?: number;
  valFeatures?: string;
  valLabels?: string;
  /** Depth query grid (default 128 × 128). */
  grid?: readonly [number, number];
  weightDecay?: number;
  init?: InitScheme;
  form?: 'fast' | 'direct';
  adapter?: string;
  /** The built batch worker (dist/train-worker.js); without it batches are assembled in-process. */
  workerUrl?: URL | string;
  /** Stop cleanly on SIGINT/SIGTERM (checkpoint, exit status 130/143). */
  handleSignals?: boolean;
  /** Lines for the user (stderr). */
  log?: (line: string) => void;
  progressStream?: NodeJS.WriteStream;
  /** Where relative manifest sources may be relative to (default process.cwd()). */
  cwd?: string;
}

export interface TrainResult {
  status: 'finished' | 'already-finished' | 'interrupted';
  signal?: 'SIGINT' | 'SIGTERM';
  /** Updates applied when it returned. */
  step: number;
  /** The step it resumed from (0: a fresh start). */
  resumedFrom: number;
  /** One folder per learning rate. */
  dirs: string[];
  /** The last step's loss per learning rate. */
  lastLoss: number[];
  /** Steps per second of this process's training (excluding setup and the first step). */
  stepsPerSecond: number;
  /** 'worker' or 'in-process' batch assembly. */
  feeder: 'worker' | 'in-process';
  /** The adapter it ran on (null when nothing ran). */
  adapter: { name: string; isSoftware: boolean } | null;
}

/** Trains (or resumes, or finds finished) the run described by `o`. */
export async function trainReadout(o: TrainOptions): Promise<TrainResult> {
  const log = o.log ?? ((l: string) => process.stderr.write(`${l}\n`));
  checkNumbers(o);
  const kind = headKind(o.head);
  const grid: [number, number] = [o.grid?.[0] ?? 128, o.grid?.[1] ?? 128];
  const cwd = o.cwd ?? process.cwd();
  const train = await loadTaskData({
    kind,
    features: o.features,
    labels: o.labels,
    ...(o.feature === undefined ? {} : { feature: o.feature }),
    grid,
    cwd,
  });
  const cfg = headForData(o.head, kind, train);
  const val =
    o.valFeatures !== undefined && o.valLabels !== undefined
      ? await loadTaskData({
          kind,
          features: o.valFeatures,
          labels: o.valLabels,
          feature: train.featureName,
          ...(train.classes ? { classes: train.classes } : {}),
          grid,
          options: { features: '--val-features', labels: '--val-labels', feature: '--feature' },
          cwd,
        })
      : null;
  if (val && val.layout.shape.join() !== train.layout.shape.join()) {
    throw new TrainInputError(
      `--val-features ${o.valFeatures}: ${val.featureName} is [${val.layout.shape.join(', ')}], the training features [${train.layout.shape.join(', ')}]; extract both with the same options`,
    );
  }
  if (val && val.frames !== train.frames) {
    throw new TrainInputError(
      `--val-features ${o.valFeatures}: clips of ${val.frames} frames, the training clips ${train.frames}; extract both with the same frame options`,
    );
  }
  const form = o.form ?? 'fast';
  if (form === 'direct' && cfg.kind !== 'attention' && cfg.kind !== 'camera') {
    throw new TrainInputError(`--form direct is for attention and camera heads, not ${cfg.kind}`);
  }
  const init = o.init ?? 'flax';
  const weightDecay = o.weightDecay ?? 1e-4;
  const ckEvery = o.checkpointEvery ?? Math.min(1000, o.steps);
  const out = resolve(o.out);
  const dirs = lrDirs(out, o.lrs);

  const identity: Record<string, unknown> = {
    format: 1,
    command: 'walt train-readout',
    kind: cfg.kind,
    head: cfg,
    features: train.featuresDir,
    feature: train.featureName,
    labels: train.labelsFile,
    data: dataDigest(train),
    ...(val ? { val_features: val.featuresDir, val_labels: val.labelsFile, val_data: dataDigest(val) } : {}),
    steps: o.steps,
    batch: o.batch,
    lrs: [...o.lrs],
    warmup: o.warmup,
    end_lr: END_LR,
    weight_decay: weightDecay,
    seed: o.seed,
    init,
    form,
    ...(cfg.kind === 'depth' ? { grid } : {}),
  };
  // The run folder: new, empty, or this run's.
  if (existsSync(out)) {
    if (!statSync(out).isDirectory()) {
      throw new TrainInputError(`--out ${o.out} is a file; give a folder for the run`);
    }
    const trainJson = join(out, TRAIN_JSON);
    if (existsSync(trainJson)) {
      let prev: Record<string, unknown>;
      try {
        prev = JSON.parse(readFileSync(trainJson, 'utf8')) as Record<string, unknown>;
      } catch {
        throw new TrainInputError(
          `--out ${o.out}: ${trainJson} is not readable; delete the folder or use another --out`,
        );
      }
      const keys = [...new Set([...Object.keys(prev), ...Object.keys(identity)])].filter(
        (k) => JSON.stringify(prev[k]) !== JSON.stringify(identity[k]),
      );
      if (keys.length > 0) {
        const show = (v: unknown): string => (v === undefined ? '(none)' : JSON.stringify(v).slice(0, 80));
        throw new TrainInputError(
          `--out ${o.out} holds another run (${keys.map((k) => `${k}: ${show(identity[k])} here, ${show(prev[k])} in the folder`).join('; ')}); ` +
            'rerun with that run’s options to resume it, or use another --out',
        );
      }
      if (dirs.every((d) => existsSync(join(d, WEIGHTS)))) {
        log(
          `walt train-readout: ${o.out} is finished (${o.steps} steps, ${dirs.length} learning rate${dirs.length > 1 ? 's' : ''}); nothing to do`,
        );
        return {
          status: 'already-finished',
          step: o.steps,
          resumedFrom: o.steps,
          dirs,
          lastLoss: [],
          stepsPerSecond: 0,
          feeder: 'in-process',
          adapter: null,
        };
      }
    } else if (readdirSync(out).length > 0) {
      throw new TrainInputError(
        `--out ${o.out} exists and is not a walt train-readout run (no ${TRAIN_JSON}); give a new or empty folder`,
      );
    }
    const holder = lockHolder(out);
    if (holder !== null) {
      throw new TrainInputError(`--out ${o.out} is being trained by process ${holder}; wait for it or stop it first`);
    }
  }

  // The device, and the runners, before anything is written.
  const ctx = await GpuContext.create(o.adapter ? { adapter: o.adapter } : {});
  const runners: ReadoutRunner[] = [];
  let feeder: BatchFeeder | null = null;
  const signals: { stop: 'SIGINT' | 'SIGTERM' | null } = { stop: null };
  const onSignal = (sig: 'SIGINT' | 'SIGTERM'): void => {
    if (signals.stop) {
      process.exit(sig === 'SIGINT' ? 130 : 143);
    }
    signals.stop = sig;
    log(
      `walt train-readout: ${sig}: stopping after this step with a checkpoint (${sig === 'SIGINT' ? 'Ctrl-C' : 'a second signal'} again stops at once)`,
    );
  };
  let locked = false;
  const onInt = (): void => onSignal('SIGINT');
  const onTerm = (): void => onSignal('SIGTERM');
  try {
    if (cfg.kind === 'depth') {
      const bytes = grid[0] * grid[1] * Math.max(cfg.C + 4 * cfg.nfb, cfg.mlp, cfg.qkv) * 4;
      const limit = ctx.caps.limits.maxStorageBufferBindingSize;
      if (bytes > limit) {
        throw new TrainInputError(
          `--grid ${grid.join('x')}: one frame's activations need ${bytes} bytes, above this device's binding limit (${limit}); use a smaller --grid`,
        );
      }
    }
    const weights = weightList(cfg);
    // Resume point: the last step every learning rate has a checkpoint of.
    const common = dirs
      .map((d) => new Set(checkpointSteps(d)))
      .reduce<Set<number> | null>((acc, s) => (acc ? new Set([...acc].filter((x) => s.has(x))) : s), null);
    const start = Math.min(o.steps, Math.max(0, ...(common ?? new Set<number>())));
    const records: MetricRecord[][] = dirs.map(() => []);
    const initial = initHeadWeights(cfg, init, o.seed);
    for (let k = 0; k < dirs.length; k++) {
      if (start > 0) {
        const c = await readCheckpoint(dirs[k]!, weights, start);
        const want = orderState(train.clips.length, o.batch, start);
        if (
          c.order.epoch !== want.epoch ||
          c.order.position !== want.position ||
          c.order.seed !== o.seed ||
          c.order.clips !== train.clips.length ||
          c.order.batch !== o.batch
        ) {
          throw new TrainInputError(
            `--out ${o.out}: checkpoint ${start} of ${dirs[k]} records another data order; delete its checkpoints/ folder to restart`,
          );
        }
        const r = new ReadoutRunner(ctx, cfg, c.values, { form, grid });
        runners.push(r);
        r.params.load(c.m, 'm');
        r.params.load(c.v, 'v');
        records[k] = c.records.filter((x) => x.step <= start);
      } else {
        runners.push(new ReadoutRunner(ctx, cfg, initial, { form, grid }));
      }
    }
    feeder = await BatchFeeder.create(val ? { train, val } : { train }, o.workerUrl);

    // First writes: the folder, train.json, each learning rate's config.json.
    await mkdir(out, { recursive: true });
    await writeBytesAtomic(join(out, LOCK), `${process.pid}\n`);
    locked = true;
    await writeBytesAtomic(join(out, TRAIN_JSON), `${JSON.stringify(identity, null, 2)}\n`);
    for (let k = 0; k < dirs.length; k++) {
      const d = dirs[k]!;
      await mkdir(d, { recursive: true });
      await removeTemps(d);
      await pruneCheckpoints(d, start > 0 ? start : null);
      const rc: RunConfig = {
        format: 1,
        kind: cfg.kind,
        task: METRIC_OF_KIND[cfg.kind],
        head: cfg,
        ...(train.classes ? { classes: train.classes } : {}),
        lr: o.lrs[k]!,
        steps: o.steps,
        batch: o.batch,
        warmup: o.warmup,
        end_lr: END_LR,
        weight_decay: weightDecay,
        seed: o.seed,
        init,
        form,
        ...(cfg.kind === 'depth' ? { grid } : {}),
        feature: train.featureName,
        features: train.featuresDir,
        labels: train.labelsFile,
        ...(val ? { val_features: val.featuresDir, val_labels: val.labelsFile } : {}),
        layout: train.layout,
        frames: train.frames,
        ...(train.maxTracks !== undefined ? { max_tracks: train.maxTracks } : {}),
      };
      await writeBytesAtomic(join(d, CONFIG_JSON), `${JSON.stringify(rc, null, 2)}\n`);
    }
    await removeTemps(out);

    const n = train.clips.length;
    log(
      `walt train-readout: ${cfg.kind} head ${cfg.prefix} (${paramCount(cfg).toLocaleString('en-US')} parameters) on ${n} clips ` +
        `(${train.featureName} [${train.layout.shape.join(', ')}] → ${cfg.kind === 'attention' ? cfg.T : featureFrames(cfg.kind, train)} frames)` +
        `${val ? `, ${val.clips.length} held out` : ''}; ${o.steps} steps of ${o.batch}; lr ${o.lrs.join(', ')}; ` +
        `batches ${feeder.mode === 'worker' ? 'on a worker thread' : `in-process (${feeder.fallbackReason ?? ''})`}; device ${ctx.adapter.name}`,
    );
    if (start > 0) {
      log(`resumed from step ${start}`);
    }
    if (o.handleSignals) {
      process.on('SIGINT', onInt);
      process.on('SIGTERM', onTerm);
    }

    const order = new DataOrder(n, o.batch, o.seed);
    const writeOutputs = async (): Promise<void> => {
      for (let k = 0; k < dirs.length; k++) {
        const d = dirs[k]!;
        await writeBytesAtomic(join(d, METRICS_JSONL), recordsText(records[k]!));
        const runs = [{ name: `lr ${o.lrs[k]}`, records: records[k]! }];
        await writeFigure(join(d, 'loss'), lineFigure(`${cfg.prefix}: loss (lr ${o.lrs[k]})`, [lossPanel(runs)], 1));
        const mp = metricPanels(runs);
        if (mp.length > 0) {
          await writeFigure(join(d, 'metrics'), lineFigure(`${cfg.prefix}: validation (lr ${o.lrs[k]})`, mp));
        }
      }
      if (dirs.length > 1) {
        const runs = o.lrs.map((lr, k) => ({ name: `lr ${lr}`, records: records[k]! }));
        await writeFigure(join(out, 'loss'), lineFigure(`${cfg.prefix}: loss`, [lossPanel(runs)], 1));
        const mp = metricPanels(runs);
        if (mp.length > 0) {
          await writeFigure(join(out, 'metrics'), lineFigure(`${cfg.prefix}: validation`, mp));
        }
      }
    };
    const checkpoint = async (step: number): Promise<void> => {
      if (val) {
        const results = await evaluateRunners(runners, feeder!, 'val', val, o.batch);
        results.forEach((r, k) => {
          const rec = records[k]!.find((x) => x.step === step);
          if (rec) {
            for (const [key, v] of Object.entries(r.metrics)) {
              rec[`val_${key}`] = Number.isFinite(v) ? v : null;
            }
          }
        });
      }
      const st = orderState(n, o.batch, step);
      for (let k = 0; k < dirs.length; k++) {
        const r = runners[k]!;
        await writeCheckpoint(dirs[k]!, weights, {
          step,
          order: { ...st, seed: o.seed, clips: n, batch: o.batch },
          values: await r.params.read('values'),
          m: await r.params.read('m'),
          v: await r.params.read('v'),
          records: records[k]!,
        });
      }
      for (const d of dirs) {
        await pruneCheckpoints(d, step);
      }
      await writeOutputs();
      const vals = val ? records.map((rs) => rs[rs.length - 1]).filter((x) => x !== undefined) : [];
      const valText = vals.length
        ? `; validation ${vals
            .map((x) =>
              Object.entries(x)
                .filter(([key]) => key.startsWith('val_'))
                .map(([key, v]) => `${key.slice(4)} ${v === null ? 'NaN' : Number(v).toFixed(4)}`)
                .join(' '),
            )
            .join(' | ')}`
        : '';
      log(
        `checkpoint step ${step} → ${join(dirs.length > 1 ? join(o.out, 'lr-*') : o.out, 'checkpoints', `step-${String(step).padStart(8, '0')}`)}${valText}`,
      );
    };

    const bar = progress('train-readout', o.steps - start, 'steps', {
      ...(o.progressStream ? { stream: o.progressStream } : {}),
    });
    const fetch = (s: number): Promise<HostBatch> => {
      const p = feeder!.batch('train', order.indices(s));
      p.catch(() => undefined); // awaited below; never an unhandled rejection if a step fails first
      return p;
    };
    let next = start < o.steps ? fetch(start) : null;
    let step = start;
    let t1 = 0;
    const lastLoss: number[] = runners.map(() => Number.NaN);
    while (step < o.steps) {
      const batch = await next!;
      next = step + 1 < o.steps ? fetch(step + 1) : null;
      // Every run's step is queued before any loss is awaited: run k+1's batch upload and
      // commands are recorded while the device computes run k's.
      const losses = await Promise.all(runners.map((r) => r.lossAndGrad(batch)));
      runners.forEach((r, k) => {
        const lr = scheduledLr(step, o.lrs[k]!, o.warmup, o.steps);
        r.update(step, { lr, weightDecay });
        records[k]!.push({ step: step + 1, loss: losses[k]!, lr });
        lastLoss[k] = losses[k]!;
      });
      step++;
      if (step === start + 1) {
        t1 = performance.now();
      }
      bar.update(step - start, `step ${step}/${o.steps} loss ${losses.map((l) => l.toPrecision(4)).join(' | ')}`);
      if (step % ckEvery === 0 || step === o.steps || signals.stop) {
        await checkpoint(step);
      }
      if (signals.stop && step < o.steps) {
        bar.stop();
        await next?.catch(() => undefined);
        log(`walt train-readout: stopped at step ${step} (checkpoint written); rerun the same command to resume`);
        return {
          status: 'interrupted',
          signal: signals.stop,
          step,
          resumedFrom: start,
          dirs,
          lastLoss,
          stepsPerSecond: 0,
          feeder: feeder.mode,
          adapter: { name: ctx.adapter.name, isSoftware: ctx.adapter.isSoftware },
        };
      }
    }
    bar.stop();
    const elapsed = (performance.now() - t1) / 1000;
    const sps = step - start > 1 ? (step - start - 1) / elapsed : 0;
    if (start === o.steps) {
      // Resumed from the final checkpoint: restore the records and outputs it holds.
      await writeOutputs();
    }
    for (let k = 0; k < dirs.length; k++) {
      const values = await runners[k]!.params.read('values');
      await writeSafetensors(
        join(dirs[k]!, WEIGHTS),
        weights.map(([name, shape]) => ({ name, shape, data: values.get(name)! })),
        { 'walt.head': JSON.stringify(cfg), lr: String(o.lrs[k]), steps: String(o.steps) },
      );
    }
    log(
      `walt train-readout: ${o.steps} steps${start > 0 ? ` (resumed from ${start})` : ''}` +
        `${sps > 0 ? ` at ${sps.toFixed(2)} steps/s (${formatDuration(elapsed)})` : ''}; last loss ${lastLoss.map((l) => (Number.isNaN(l) ? '-' : l.toPrecision(4))).join(' | ')}; ` +
        `weights → ${dirs.map((d) => join(d, WEIGHTS)).join(', ')}`,
    );
    return {
      status: 'finished',
      step,
      resumedFrom: start,
      dirs,
      lastLoss,
      stepsPerSecond: sps,
      feeder: feeder.mode,
      adapter: { name: ctx.adapter.name, isSoftware: ctx.adapter.isSoftware },
    };
  } finally {
    if (locked) {
      await rm(join(out, LOCK), { force: true });
    }
    if (o.handleSignals) {
      process.off('SIGINT', onInt);
      process.off('SIGTERM', onTerm);
    }
    await feeder?.close();
    for (const r of runners) {
      r.dispose();
    }
    await ctx.close();
  }
}
