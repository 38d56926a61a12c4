// Reading metric inputs from safetensors: every numeric dtype the reader knows (F32, F16, BF16,
// F64, I32, I64, U8), so integer-valued tensors (labels, query frames, masks) may be stored as
// floats or integers. (SafetensorsFile.readF32 refuses integer dtypes; the conversion is here.)
import { SafetensorsFile } from '../io/safetensors.js';
import { numel } from '../tensor/shape.js';
import { MetricsInputError, type NumericTensor } from './common.js';
import { TASK_SPECS, type MetricTask } from './tasks.js';

/** One tensor's values as numbers: F32 stays a Float32Array, integers become exact numbers. */
export async function readNumeric(file: SafetensorsFile, name: string): Promise<NumericTensor> {
  const e = file.tensors.get(name);
  if (!e) {
    throw new MetricsInputError(`${file.path}: no tensor named '${name}'`);
  }
  const n = numel(e.shape);
  switch (e.dtype) {
    case 'F32':
    case 'F16':
    case 'BF16':
      return { data: await file.readF32(name), shape: e.shape };
    case 'F64': {
      const buf = await file.readBytes(name);
      return { data: Float64Array.from({ length: n }, (_, i) => buf.readDoubleLE(8 * i)), shape: e.shape };
    }
    case 'I32': {
      const buf = await file.readBytes(name);
      return { data: Int32Array.from({ length: n }, (_, i) => buf.readInt32LE(4 * i)), shape: e.shape };
    }
    case 'I64': {
      const buf = await file.readBytes(name);
      const out = new Float64Array(n);
      for (let i = 0; i < n; i++) {
        const v = buf.readBigInt64LE(8 * i);
        if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < BigInt(Number.MIN_SAFE_INTEGER)) {
          throw new MetricsInputError(`${file.path}: tensor '${name}' holds ${v}, beyond ±2^53`);
        }
        out[i] = Number(v);
      }
      return { data: out, shape: e.shape };
    }
    case 'U8':
      return { data: Uint8Array.from(await file.readBytes(name)), shape: e.shape };
  }
}

/**
 * Opens the prediction and ground-truth files of a task and reads the tensors it needs.
 * @throws MetricsInputError naming the file, the missing tensor and the tensors it holds
 */
export async function readTaskTensors(
  task: MetricTask,
  predPath: string,
  gtPath: string,
): Promise<{ pred: Record<string, NumericTensor>; gt: Record<string, NumericTensor> }> {
  const spec = TASK_SPECS[task];
  const read = async (path: string, names: readonly string[], role: string): Promise<Record<string, NumericTensor>> => {
    const f = await SafetensorsFile.open(path);
    try {
      const out: Record<string, NumericTensor> = {};
      for (const n of names) {
        if (!f.tensors.has(n)) {
          const has = [...f.tensors.values()].map((t) => `${t.name} [${t.shape.join(',')}] ${t.dtype}`);
          throw new MetricsInputError(
            `${path}: no tensor '${n}', which task ${task} needs in the ${role} file (${spec[role === 'prediction' ? 'pred' : 'gt'].map((s) => `'${s.name}' [${s.pattern.join(',')}]`).join(', ')}); it holds ${has.length > 0 ? has.join(', ') : 'no tensors'}`,
          );
        }
        out[n] = await readNumeric(f, n);
      }
      return out;
    } finally {
      await f.close();
    }
  };
  const pred = await read(
    predPath,
    spec.pred.map((s) => s.name),
    'prediction',
  );
  const gt = await read(
    gtPath,
    spec.gt.map((s) => s.name),
    'ground-truth',
  );
  return { pred, gt };
}
