// Checkpoints of a training run: `checkpoints/step-NNNNNNNN/` holding the weights, the AdamW
// moments, the step, the data-order state and the metrics so far. A checkpoint is written into a
// temporary folder (`checkpoints/.step-NNNNNNNN.<pid>.tmp`), every file fsynced, then renamed into
// place and the parent folder fsynced: a `step-*` folder is always complete, whenever the process
// is stopped.
import { existsSync, readdirSync } from 'node:fs';
import { mkdir, open, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { SafetensorsFile, writeSafetensors } from '../io/safetensors.js';
import { writeBytesAtomic } from '../util/atomic.js';
import type { OrderState } from './order.js';

export const CHECKPOINTS = 'checkpoints';

/** One metrics.jsonl record: the loss before update `step` and the rate it used; validation keys `val_*`. */
export type MetricRecord = { step: number; loss: number; lr: number } & Record<string, number | null>;

export interface CheckpointState {
  /** Updates applied. */
  step: number;
  /** Where the data order stands before the next step. */
  order: OrderState & { seed: number; clips: number; batch: number };
}

export interface Checkpoint extends CheckpointState {
  values: Map<string, Float32Array>;
  m: Map<string, Float32Array>;
  v: Map<string, Float32Array>;
  records: MetricRecord[];
}

const stepName = (step: number): string => `step-${String(step).padStart(8, '0')}`;
const STEP_RE = /^step-(\d{8})$/;

/** fsync a folder (so a rename in it is durable). */
async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** The metrics.jsonl text of records (one JSON object per line; NaN → null). */
export function recordsText(records: readonly MetricRecord[]): string {
  return (
    records
      .map((r) => JSON.stringify(r, (_k, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? null : v)))
      .join('\n') + (records.length ? '\n' : '')
  );
}

export function parseRecords(text: string): MetricRecord[] {
  return text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as MetricRecord);
}

const tensorsOf = (
  names: readonly (readonly [string, readonly number[]])[],
  maps: readonly { prefix: string; map: ReadonlyMap<string, Float32Array> }[],
): { name: string; shape: readonly number[]; data: Float32Array }[] =>
  maps.flatMap(({ prefix, map }) => names.map(([n, shape]) => ({ name: `${prefix}${n}`, shape, data: map.get(n)! })));

/**
 * Writes checkpoint `c` of a run folder atomically (temp folder, fsync, rename).
 * @param weights the head's `[name, shape]` list in canonical order
 */
export async function writeCheckpoint(
  runDir: string,
  weights: readonly (readonly [string, readonly number[]])[],
  c: Checkpoint,
): Promise<string> {
  const root = join(runDir, CHECKPOINTS);
  await mkdir(root, { recursive: true });
  const final = join(root, stepName(c.step));
  if (existsSync(final)) {
    return final;
  }
  const tmp = join(root, `.${stepName(c.step)}.${process.pid}.tmp`);
  await rm(tmp, { recursive: true, force: true });
  await mkdir(tmp);
  await writeSafetensors(join(tmp, 'weights.safetensors'), tensorsOf(weights, [{ prefix: '', map: c.values }]), {
    step: String(c.step),
  });
  await writeSafetensors(
    join(tmp, 'adamw.safetensors'),
    tensorsOf(weights, [
      { prefix: 'm/', map: c.m },
      { prefix: 'v/', map: c.v },
    ]),
    { step: String(c.step), what: 'AdamW first (m/) and second (v/) moments' },
  );
  await writeBytesAtomic(join(tmp, 'metrics.jsonl'), recordsText(c.records));
  const state: CheckpointState = { step: c.step, order: c.order };
  await writeBytesAtomic(join(tmp, 'state.json'), `${JSON.stringify(state, null, 2)}\n`);
  await syncDir(tmp);
  await rename(tmp, final);
  await syncDir(root);
  return final;
}

/** The steps of a run folder's complete checkpoints, ascending. */
export function checkpointSteps(runDir: string): number[] {
  const root = join(runDir, CHECKPOINTS);
  if (!existsSync(root)) {
    return [];
  }
  return readdirSync(root)
    .map((n) => STEP_RE.exec(n))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => Number(m[1]))
    .filter((s) => existsSync(join(root, stepName(s), 'state.json')))
    .sort((a, b) => a - b);
}

/** Reads checkpoint `step` of a run folder. */
export async function readCheckpoint(
  runDir: string,
  weights: readonly (readonly [string, readonly number[]])[],
  step: number,
): Promise<Checkpoint> {
  const dir = join(runDir, CHECKPOINTS, stepName(step));
  const state = JSON.parse(await readFile(join(dir, 'state.json'), 'utf8')) as CheckpointState;
  const read = async (file: string, prefix: string): Promise<Map<string, Float32Array>> => {
    const f = await SafetensorsFile.open(join(dir, file));
    try {
      const out = new Map<string, Float32Array>();
      for (const [n, shape] of weights) {
        const e = f.tensors.get(`${prefix}${n}`);
        if (!e || e.shape.join() !== shape.join()) {
          throw new Error(`${join(dir, file)}: no tensor '${prefix}${n}' [${shape.join(', ')}]`);
        }
        out.set(n, await f.readF32(`${prefix}${n}`));
      }
      return out;
    } finally {
      await f.close();
    }
  };
  const values = await read('weights.safetensors', '');
  const m = await read('adamw.safetensors', 'm/');
  const v = await read('adamw.safetensors', 'v/');
  const records = parseRecords(await readFile(join(dir, 'metrics.jsonl'), 'utf8'));
  return { ...state, values, m, v, records };
}

/** Removes leftover temporary checkpoint folders and every checkpoint other than `keep`. */
export async function pruneCheckpoints(runDir: string, keep: number | null): Promise<void> {
  const root = join(runDir, CHECKPOINTS);
  if (!existsSync(root)) {
    return;
  }
  for (const n of readdirSync(root)) {
    const m = STEP_RE.exec(n);
    if ((n.startsWith('.step-') && n.endsWith('.tmp')) || (m && Number(m[1]) !== keep)) {
      await rm(join(root, n), { recursive: true, force: true });
    }
  }
}
