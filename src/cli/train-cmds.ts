// walt train-readout | eval-readout: readout heads trained on frozen features (one pass for
// several learning rates, resumable), and evaluated with the task's metrics (issue 12 §2–§3).
import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BUILTIN_HEAD_NAMES, HEAD_KINDS } from '../readout/spec.js';
import { parseInitScheme } from '../readout/init.js';
import { TrainInputError } from '../train-readout/errors.js';
import { evalReadout } from '../train-readout/eval-run.js';
import { ATTENTION_FRAMES, trainReadout } from '../train-readout/trainer.js';
import { flag, gridOpt, int, optStr, parse, positiveList, str, UsageError } from './args.js';

export const TRAIN_READOUT_HELP = `walt train-readout --head HEAD --features DIR --labels FILE --out RUN --steps N
                   [--batch 32] [--lr 3e-4[,LR…]] [--warmup W] [--seed 0] [--feature NAME]
                   [--checkpoint-every K] [--val-features DIR --val-labels FILE]
                   [--grid 128x128] [--weight-decay 1e-4] [--init flax|test] [--form fast|direct]
                   [--adapter NAME]

Trains a readout head on frozen features (a walt extract folder) with AdamW (optax defaults,
decoupled weight decay on every parameter) and a linear warm-up from 0 to LR over W steps,
then a cosine decay to 1e-7 at step N (spec §7.5, OC22/OC23).

HEAD is a built-in head (${BUILTIN_HEAD_NAMES.join(', ')}), a JSON head file (walt readout
info --help), or a kind (${HEAD_KINDS.join(', ')}) sized from the data:
  attention  C = the feature width, P = clamp(64·⌊C/64⌋, 64, 768) (head dim 64),
             T = ${ATTENTION_FRAMES} (§6 step 6), K = the number of classes in the labels
  camera     input 2C (first ‖ last frame, OC8), P = clamp(32·⌊2C/32⌋, 32, 256), T = 1, K = 12
  depth      C, Fourier bands 16, qkv = mlp = clamp(64·⌊C/128⌋, 64, 512), 2 heads, 1 layer
  points     C, width = qkv = clamp(64·⌊C/128⌋, 64, 512), head dim 64, mlp 4·width, 3 layers
  boxes      as points, with 4 coordinates
(so at the study's C = 1024 they are the study's heads). The labels file is read by the kind's
loader (src/datasets): attention a path,class CSV; camera RealEstate10K camera files; depth
ScanNet scene folders; points TAP-Vid .npz; boxes per-frame boxes JSON (docs/synth.md).

Features: --feature NAME (default: the folder's only feature; with several, the error lists
them), resampled in time (linear, half-pixel centres, OC25) to the head's T (attention) or the
clip's frame count (camera, depth, points, boxes: one feature frame per target frame). Targets
are taken at the frames the features were made from (the manifest's frame_indices and pts).
Labels rows are matched to manifest items by file: a manifest item's source resolves against
the labels file's folder and the current directory, and both sides go through realpath, so
relative and absolute spellings of the same file match.

Several learning rates (--lr 1e-4,3e-4,1e-3) train in one pass: every batch is read once and
used by every run; RUN/lr-<lr>/ holds each (one learning rate: RUN/ itself):
  weights.safetensors   the final weights (F32, the head's canonical names)
  config.json           head, class names in index order, options (walt eval-readout reads it)
  metrics.jsonl         {"step", "loss", "lr"} per step (loss before update step, the rate it
                        used), with "val_<metric>" at each checkpoint when --val-* are given
  loss.svg|png, metrics.svg|png   curves
  checkpoints/step-N/   weights, AdamW m/v, step, data-order state (every K steps and the last;
                        default K = min(1000, N); written to a temporary folder and renamed)
Rerunning the same command resumes from the last checkpoint ("resumed from step N" on stderr)
and ends with byte-identical weights, whether the previous process was stopped with Ctrl-C
(it finishes the step and writes a checkpoint; exit 130) or killed; a finished run exits 0 and
changes nothing. Another command into the same RUN is refused with the options that differ.

Batches are assembled on a worker thread (shard reads, f16 → f32, resampling, targets) while
the device computes the previous step. Progress (steps/s, loss, time left) goes to stderr.
Every input is checked before anything is written: bad options, head, features or labels exit
2 with one line naming the input and the fix. --warmup defaults to min(1000, ⌊N/10⌋).
--grid HxW is the depth query grid; --form direct runs attention heads in the direct
cross-attention form (the internal baseline); --init test uses the fixtures' init (OC24).
`;

export const EVAL_READOUT_HELP = `walt eval-readout --run RUN --features DIR --labels FILE [--json] [--batch 16]
                  [--preview FILE.png] [--adapter NAME]

The task's metrics (spec §8, the code of walt metrics) of a finished walt train-readout run on
features and labels (held-out clips: extract them with the training set's options):
  attention top1 · camera epe · depth absrel · points average_jaccard,
  average_pts_within_thresh, occlusion_accuracy · boxes iou
computed per clip and averaged over clips (clips with nothing to evaluate are left out and
counted on stderr). Class names come from the run's config.json, so held-out labels map to
the training indices. With several learning rates, every head sees each batch once, and the
best by the primary metric (top1, absrel, epe, average_jaccard, iou) is named.

--json: stdout holds one JSON object per line and nothing else — {"top1": 0.83} for a run with
one learning rate; with several, one line per learning rate ({"lr": 0.001, "top1": …}) and a
last one naming the best ({"best_lr": 0.001, "top1": …}). NaN is written as null.
--preview FILE.png: clip 0's prediction by the best head beside its ground truth (depth: frames,
ground truth, prediction; points and boxes: ground truth above, prediction below).
`;

/** The bundled batch worker beside this file (dist/train-worker.js), if it is there. */
export function workerUrl(): URL | undefined {
  const u = new URL('./train-worker.js', import.meta.url);
  return u.protocol === 'file:' && existsSync(fileURLToPath(u)) ? u : undefined;
}

function parseLrs(v: string): number[] {
  return positiveList(v, 'lr', 'positive number', ' (e.g. --lr 3e-4 or --lr 1e-4,3e-4,1e-3)');
}

function num(values: Record<string, string | boolean | undefined>, name: string, fallback: number): number {
  const v = optStr(values, name);
  if (v === undefined) {
    return fallback;
  }
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n) || n < 0) {
    throw new UsageError(`--${name} ${v}: expected a number ≥ 0`);
  }
  return n;
}

/** Input errors of the library become usage errors (exit 2, one line). */
function usage(e: unknown): never {
  if (e instanceof TrainInputError) {
    throw new UsageError(e.message);
  }
  throw e;
}

export async function trainReadoutCommand(argv: string[]): Promise<number> {
  const { values } = parse('train-readout', argv, {
    head: { type: 'string' },
    features: { type: 'string' },
    labels: { type: 'string' },
    out: { type: 'string' },
    steps: { type: 'string' },
    batch: { type: 'string' },
    lr: { type: 'string' },
    warmup: { type: 'string' },
    seed: { type: 'string' },
    feature: { type: 'string' },
    'checkpoint-every': { type: 'string' },
    'val-features': { type: 'string' },
    'val-labels': { type: 'string' },
    grid: { type: 'string' },
    'weight-decay': { type: 'string' },
    init: { type: 'string' },
    form: { type: 'string' },
    adapter: { type: 'string' },
  });
  if (flag(values, 'help')) {
    process.stdout.write(TRAIN_READOUT_HELP);
    return 0;
  }
  const steps = int(values, 'steps', undefined, 1);
  const form = optStr(values, 'form');
  if (form !== undefined && form !== 'fast' && form !== 'direct') {
    throw new UsageError(`--form ${form}: expected fast or direct`);
  }
  const feature = optStr(values, 'feature');
  const ck = values['checkpoint-every'] === undefined ? undefined : int(values, 'checkpoint-every', undefined, 1);
  const valFeatures = optStr(values, 'val-features');
  const valLabels = optStr(values, 'val-labels');
  const grid = gridOpt(values);
  const adapter = optStr(values, 'adapter');
  const wu = workerUrl();
  let init;
  try {
    init = parseInitScheme(str(values, 'init', 'flax'), '--init');
  } catch (e) {
    throw new UsageError(e instanceof Error ? e.message : String(e));
  }
  const out = str(values, 'out');
  if (!existsSync(dirname(resolve(out)))) {
    throw new UsageError(`--out ${out}: the folder ${dirname(resolve(out))} does not exist (create it first)`);
  }
  const r = await trainReadout({
    head: str(values, 'head'),
    features: str(values, 'features'),
    labels: str(values, 'labels'),
    out,
    steps,
    batch: int(values, 'batch', 32, 1),
    lrs: parseLrs(str(values, 'lr', '3e-4')),
    warmup: int(values, 'warmup', Math.min(1000, Math.floor(steps / 10)), 0),
    seed: int(values, 'seed', 0),
    weightDecay: num(values, 'weight-decay', 1e-4),
    init,
    handleSignals: true,
    ...(feature === undefined ? {} : { feature }),
    ...(ck === undefined ? {} : { checkpointEvery: ck }),
    ...(valFeatures === undefined ? {} : { valFeatures }),
    ...(valLabels === undefined ? {} : { valLabels }),
    ...(grid === undefined ? {} : { grid }),
    ...(form === undefined ? {} : { form }),
    ...(adapter === undefined ? {} : { adapter }),
    ...(wu === undefined ? {} : { workerUrl: wu }),
  }).catch(usage);
  if (r.status === 'interrupted') {
    return r.signal === 'SIGTERM' ? 143 : 130;
  }
  return 0;
}

const jsonText = (o: Record<string, unknown>): string =>
  JSON.stringify(o, (_k, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? null : v));

const fmt = (m: Record<string, number>): string =>
  Object.entries(m)
    .map(([k, v]) => `${k} ${Number.isFinite(v) ? v.toFixed(4) : 'NaN'}`)
    .join(', ');

export async function evalReadoutCommand(argv: string[]): Promise<number> {
  const { values } = parse('eval-readout', argv, {
    run: { type: 'string' },
    features: { type: 'string' },
    labels: { type: 'string' },
    json: { type: 'boolean' },
    batch: { type: 'string' },
    preview: { type: 'string' },
    adapter: { type: 'string' },
  });
  if (flag(values, 'help')) {
    process.stdout.write(EVAL_READOUT_HELP);
    return 0;
  }
  const preview = optStr(values, 'preview');
  if (preview !== undefined && !existsSync(dirname(resolve(preview)))) {
    throw new UsageError(
      `--preview ${preview}: the folder ${dirname(resolve(preview))} does not exist (create it first)`,
    );
  }
  const adapter = optStr(values, 'adapter');
  const wu = workerUrl();
  const r = await evalReadout({
    run: str(values, 'run'),
    features: str(values, 'features'),
    labels: str(values, 'labels'),
    batch: int(values, 'batch', 16, 1),
    ...(preview === undefined ? {} : { preview }),
    ...(adapter === undefined ? {} : { adapter }),
    ...(wu === undefined ? {} : { workerUrl: wu }),
  }).catch(usage);
  const several = r.results.length > 1;
  for (const x of r.results) {
    if (x.nanClips > 0) {
      process.stderr.write(
        `walt eval-readout: ${x.nanClips} of ${r.clips} clips have nothing to evaluate (metric NaN); the means leave them out${several ? ` (lr ${x.lr})` : ''}\n`,
      );
    }
  }
  const best = r.results[r.best]!;
  if (flag(values, 'json')) {
    for (const x of r.results) {
      process.stdout.write(`${jsonText(several ? { lr: x.lr, ...x.metrics } : x.metrics)}\n`);
    }
    if (several) {
      process.stdout.write(`${jsonText({ best_lr: best.lr, ...best.metrics })}\n`);
    }
  } else {
    process.stdout.write(`${r.task} on ${r.clips} clips (${r.data.featureName} of ${r.data.featuresDir}):\n`);
    for (const x of r.results) {
      process.stdout.write(`  lr ${x.lr}: ${fmt(x.metrics)}\n`);
    }
    if (several) {
      process.stdout.write(`best: lr ${best.lr} (${fmt(best.metrics)})\n`);
    }
  }
  if (preview !== undefined) {
    process.stderr.write(`walt eval-readout: prediction picture → ${preview}\n`);
  }
  return 0;
}
