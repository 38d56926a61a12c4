// walt readout forward | step: a head's forward on one clip, and AdamW steps on one batch, on
// the GPU (issue 11 §6). Every input is checked before the device opens; outputs are F32
// safetensors written to a temporary name and renamed; JSON on stdout is one object per line.
import { GpuContext } from '../gpu/context.js';
import { SafetensorsFile, writeSafetensors, type TensorToWrite } from '../io/safetensors.js';
import { readBatch, readClip, ReadoutInputError, type HostBatch } from '../readout/batch.js';
import { ReadoutRunner } from '../readout/runner.js';
import { type HeadConfig, weightList } from '../readout/spec.js';
import { warmupCosineDecaySchedule } from '../ref/adamw.js';
import { flag, gridOpt, int, optStr, parse, str, UsageError } from './args.js';
import { checkOutPath, HEAD_ARG, headFromArgs, SIZING_OPTIONS } from './head-args.js';

const COMMON = `--adapter NAME picks a GPU by name (WALT_ADAPTER). --form fast|direct (attention and
camera heads): the single-query form that never materialises keys and values (default), or the
direct cross-attention form (the internal baseline); both compute the same function.`;

export const READOUT_FORWARD_HELP = `walt readout forward --head HEAD --weights W.safetensors --features F.npy
                     [--queries Q.npy --query-frames QF.npy] [--grid HxW] --out O.safetensors
                     [--form fast|direct] [--adapter NAME]

One clip's frozen features F (float32 [T, N, C]) through a head. Outputs (F32 safetensors):
  attention  logits [K]
  camera     pose [12]  (raw: R row-major, then t; Procrustes only in walt metrics)
  depth      depth [T, H·W]  (metres, grid --grid, default 128x128, row-major (y, x))
  points     values [T, M, 2] (x, y in [0, 1]), logits [T, M, 2] (visibility, certainty)
  boxes      values [T, M, 4] (ymin, xmin, ymax, xmax in [0, 1]), logits [T, M, 2]
Points and boxes take --queries [M, 2] (x, y) or [M, 4] (ymin, xmin, ymax, xmax) in [-1, 1] and
--query-frames [M] (integers in any numeric dtype; default 0). An attention head whose T differs
from the features' frame count resamples them in time (linear, half-pixel centres, OC25).
${COMMON}

${HEAD_ARG}
`;

export const READOUT_STEP_HELP = `walt readout step --head HEAD --weights W.safetensors --batch B.safetensors --lr LR
                  [--weight-decay 1e-4] [--warmup 0] [--total-steps N] [--steps S] [--grid HxW]
                  --out W2.safetensors [--grads-out G.safetensors] [--form fast|direct] [--adapter NAME]

S AdamW steps (optax.adamw defaults, decoupled weight decay on every parameter, OC22) on one
fixed batch, with the warm-up + cosine schedule of OC23 (peak LR, --warmup W, --total-steps D
including the warm-up, default S; end 1e-7; the first update uses lr(0)). Prints one JSON line
per step: {"step": s, "loss": …, "lr": …} — the batch loss before update s and the rate that
update used. --grads-out writes the gradient of the first step's loss for every weight, before
any update. B holds features [B, T, N, C] and the targets:
  attention  labels [B]
  camera     pose [B, 12]
  depth      depth [B, T, H, W] in metres (sampled at the query grid, OC13)
  points     queries [B, M, 2], query_frames [B, M], tracks [B, T, M, 2] in [0, 1], visible [B, T, M]
  boxes      queries [B, M, 4], query_frames [B, M], boxes [B, T, M, 4] in [0, 1], valid [B, T, M]
Integer-valued tensors may be F32, I32 or I64. The loss pools as OC10 (the mean over every
unmasked element of the whole batch), however the batch is split to fit the device.
${COMMON}

${HEAD_ARG}
`;

const GPU_OPTIONS = { adapter: { type: 'string' }, form: { type: 'string' }, grid: { type: 'string' } } as const;

function parseForm(v: string | undefined, cfg: HeadConfig): 'fast' | 'direct' {
  if (v === undefined) {
    return 'fast';
  }
  if (v !== 'fast' && v !== 'direct') {
    throw new UsageError(`--form ${v}: expected fast or direct`);
  }
  if (cfg.kind !== 'attention' && cfg.kind !== 'camera') {
    throw new UsageError(`--form is for attention and camera heads, not ${cfg.kind}`);
  }
  return v;
}

/** Reads a head's weights, checking every name and shape (the fix: walt readout init). */
export async function readHeadWeights(
  path: string,
  cfg: HeadConfig,
  option = '--weights',
): Promise<Map<string, Float32Array>> {
  let f: SafetensorsFile;
  try {
    f = await SafetensorsFile.open(path);
  } catch (e) {
    throw new ReadoutInputError(`${option} ${path}: ${e instanceof Error ? e.message : String(e)}`);
  }
  try {
    const out = new Map<string, Float32Array>();
    for (const [name, shape] of weightList(cfg)) {
      const e = f.tensors.get(name);
      if (!e) {
        const have = [...f.tensors.keys()].slice(0, 3).join(', ');
        throw new ReadoutInputError(
          `${option} ${path}: no tensor '${name}' for head ${cfg.prefix} (the file holds ${f.tensors.size} tensors, e.g. ${have}); ` +
            'check --head, or write weights with `walt readout init`',
        );
      }
      if (e.shape.length !== shape.length || e.shape.some((d, i) => d !== shape[i])) {
        throw new ReadoutInputError(
          `${option} ${path}: '${name}' is [${e.shape.join(', ')}]; head ${cfg.prefix} needs [${shape.join(', ')}]`,
        );
      }
      out.set(name, await f.readF32(name));
    }
    return out;
  } finally {
    await f.close();
  }
}

/** Head tensors in canonical order as F32 safetensors (atomic). */
async function writeWeights(
  path: string,
  cfg: HeadConfig,
  values: ReadonlyMap<string, Float32Array>,
  meta: Record<string, string>,
): Promise<void> {
  const tensors: TensorToWrite[] = weightList(cfg).map(([name, shape]) => ({ name, shape, data: values.get(name)! }));
  await writeSafetensors(path, tensors, meta);
}

async function withRunner<T>(
  adapter: string | undefined,
  cfg: HeadConfig,
  values: Map<string, Float32Array>,
  opts: { form: 'fast' | 'direct'; grid: [number, number] },
  fn: (r: ReadoutRunner) => Promise<T>,
): Promise<T> {
  const ctx = await GpuContext.create(adapter ? { adapter } : {});
  try {
    const r = new ReadoutRunner(ctx, cfg, values, opts);
    try {
      return await fn(r);
    } finally {
      r.dispose();
    }
  } finally {
    await ctx.close();
  }
}

function inputError(e: unknown): never {
  if (e instanceof ReadoutInputError) {
    throw new UsageError(e.message);
  }
  throw e;
}

export async function readoutForwardCommand(argv: string[]): Promise<number> {
  const { values } = parse('readout forward', argv, {
    head: { type: 'string' },
    weights: { type: 'string' },
    features: { type: 'string' },
    queries: { type: 'string' },
    'query-frames': { type: 'string' },
    out: { type: 'string' },
    ...GPU_OPTIONS,
    ...SIZING_OPTIONS,
  });
  if (flag(values, 'help')) {
    process.stdout.write(READOUT_FORWARD_HELP);
    return 0;
  }
  const cfg = headFromArgs(values);
  const grid = gridOpt(values) ?? [128, 128];
  const form = parseForm(optStr(values, 'form'), cfg);
  const out = str(values, 'out');
  checkOutPath('out', out);
  const [weights, clip] = await Promise.all([
    readHeadWeights(str(values, 'weights'), cfg),
    readClip(cfg, str(values, 'features'), optStr(values, 'queries'), optStr(values, 'query-frames')),
  ]).catch(inputError);
  const outs = await withRunner(optStr(values, 'adapter'), cfg, weights, { form, grid }, (r) => r.forward(clip));
  const tensors: TensorToWrite[] = [...outs].map(([name, o]) => ({ name, shape: o.shape.slice(1), data: o.data }));
  await writeSafetensors(out, tensors, { head: cfg.prefix, kind: cfg.kind });
  process.stderr.write(
    `walt readout forward: ${cfg.kind} head ${cfg.prefix}: ${tensors.map((t) => `${t.name} [${t.shape.join(', ')}]`).join(', ')} → ${out}\n`,
  );
  return 0;
}

export async function readoutStepCommand(argv: string[]): Promise<number> {
  const { values } = parse('readout step', argv, {
    head: { type: 'string' },
    weights: { type: 'string' },
    batch: { type: 'string' },
    lr: { type: 'string' },
    'weight-decay': { type: 'string' },
    warmup: { type: 'string' },
    'total-steps': { type: 'string' },
    steps: { type: 'string' },
    out: { type: 'string' },
    'grads-out': { type: 'string' },
    ...GPU_OPTIONS,
    ...SIZING_OPTIONS,
  });
  if (flag(values, 'help')) {
    process.stdout.write(READOUT_STEP_HELP);
    return 0;
  }
  const cfg = headFromArgs(values);
  const num = (name: string, fallback?: number): number => {
    const v = optStr(values, name);
    if (v === undefined) {
      if (fallback === undefined) {
        throw new UsageError(`--${name} is required`);
      }
      return fallback;
    }
    const n = Number(v);
    if (!Number.isFinite(n) || n < 0) {
      throw new UsageError(`--${name} ${v}: expected a number ≥ 0`);
    }
    return n;
  };
  const lr = num('lr');
  const weightDecay = num('weight-decay', 1e-4);
  const steps = int(values, 'steps', 1, 1);
  const warmup = int(values, 'warmup', 0, 0);
  const total = int(values, 'total-steps', Math.max(steps, warmup + 1), 1);
  if (total <= warmup) {
    throw new UsageError(`--total-steps ${total} must be larger than --warmup ${warmup} (it includes the warm-up)`);
  }
  const grid = gridOpt(values) ?? [128, 128];
  const form = parseForm(optStr(values, 'form'), cfg);
  const out = str(values, 'out');
  checkOutPath('out', out);
  const gradsOut = optStr(values, 'grads-out');
  if (gradsOut) {
    checkOutPath('grads-out', gradsOut);
  }
  const [weights, batch] = await Promise.all<[Promise<Map<string, Float32Array>>, Promise<HostBatch>]>([
    readHeadWeights(str(values, 'weights'), cfg),
    readBatch(str(values, 'batch'), cfg),
  ]).catch(inputError);
  const schedule = (s: number): number =>
    warmupCosineDecaySchedule(s, {
      initValue: 0,
      peakValue: lr,
      warmupSteps: warmup,
      decaySteps: total,
      endValue: 1e-7,
    });
  await withRunner(optStr(values, 'adapter'), cfg, weights, { form, grid }, async (r) => {
    for (let s = 1; s <= steps; s++) {
      const loss = await r.lossAndGrad(batch);
      if (s === 1 && gradsOut) {
        await writeWeights(gradsOut, cfg, await r.params.read('grads'), {
          head: cfg.prefix,
          what: 'gradient of the first loss',
        });
      }
      const rate = schedule(s - 1);
      r.update(s - 1, { lr: rate, weightDecay });
      process.stdout.write(`${JSON.stringify({ step: s, loss, lr: rate })}\n`);
    }
    await writeWeights(out, cfg, await r.params.read('values'), { head: cfg.prefix, steps: String(steps) });
  });
  return 0;
}
