// walt bench matmul: our matmul against tfjs-webgpu and onnxruntime's WebGPU EP (and ORT CPU)
// in the same process, on the same adapter, in both scopes where an implementation can do them
// (host: upload + compute + download; device: resident inputs, output left on the GPU). Every
// result is checked against float64 values (src/ref/matmul.ts at sampled rows) before its time
// counts; every implementation of a size makes the same number of timed runs.
import type { GpuContext } from '../src/gpu/context.js';
import { matmul, tileFor, tileName } from '../src/kernels/matmul.js';
import type { FloatDType } from '../src/tensor/dtype.js';
import { fromF16Array, roundToF16, toF16Array } from '../src/tensor/f16.js';
import type { Tensor } from '../src/tensor/tensor.js';
import { Rng } from '../src/util/rng.js';
import {
  addWaltRatios,
  benchEnv,
  byScope,
  gpuTimes,
  matmulRefRows,
  Progress,
  relErrorAt,
  repsFor,
  sampleRows,
  scopeHeader,
  summarize,
  timeRuns,
  WALT_SCOPE_NOTES,
  type Row,
  type Scope,
} from './harness.js';
import { loadMatmulPeer, type MatmulPeer } from './peers/index.js';

export interface MatmulBenchOptions {
  sizes: number[];
  dtype: FloatDType;
  peers: string[];
  /** Timed runs per implementation and scope: enough for this much of ours (3…30), unless `reps`. */
  minTimeMs: number;
  /** Timed runs per implementation and scope, fixed. */
  reps?: number;
  /** Stops at the next measurement; the rows measured so far are returned. */
  signal?: AbortSignal;
  onRow: (row: Row) => void;
  log: (s: string) => void;
}

export interface MatmulBenchResult {
  rows: Row[];
  /** Markdown header of the result file: environment and how every implementation times every scope. */
  header: string;
}

/** Relative error (max|Δ|/max|ref|) under which a result counts as correct. */
export const OK_TOLERANCE = { f32: 1e-4, f16: 2e-2 } as const;

export const MATMUL_COLUMNS = [
  'impl',
  'scope',
  'm',
  'n',
  'k',
  'dtype',
  'ms',
  'ms_min',
  'reps',
  'gpu_ms',
  'gflops',
  'walt_x',
  'ok',
  'err',
  'first_ms',
  'variant',
];

/** Rows of C checked against float64 per size. */
const CHECKED_ROWS = 8;

/** f32 values as the upload of `dtype` takes them (f16: bits, converted before timing). */
function hostValues(x: Float32Array, dtype: FloatDType): Float32Array | Uint16Array {
  return dtype === 'f16' ? toF16Array(x) : x;
}

/** Raw readback → f32 values (f16 decoded after timing). */
function decode(raw: ArrayBuffer, n: number, dtype: FloatDType): Float32Array {
  return dtype === 'f16' ? fromF16Array(new Uint16Array(raw, 0, n)) : new Float32Array(raw, 0, n);
}

export async function benchMatmul(ctx: GpuContext, o: MatmulBenchOptions): Promise<MatmulBenchResult> {
  const env = benchEnv(ctx);
  const rows: Row[] = [];
  const limit = ctx.caps.limits.maxStorageBufferBindingSize;
  const peers: MatmulPeer[] = [];
  for (const name of o.peers) {
    const r = await loadMatmulPeer(name, ctx.gpuInstance, o.dtype);
    if (r.peer) {
      peers.push(r.peer);
    } else {
      o.log(`peer ${name} skipped: ${r.skipped ?? 'unavailable'}`);
    }
  }
  const notes = new Map<string, Partial<Record<Scope, string>>>([['walt', WALT_SCOPE_NOTES]]);
  for (const p of peers) {
    notes.set(p.impl, p.scopeNotes);
  }
  const tile = tileFor({ dtype: o.dtype }, ctx.caps);
  const steps = o.sizes.length * (2 + peers.reduce((a, p) => a + p.scopes.length, 0));
  const progress = new Progress(steps, o.log);
  const stopped = (): boolean => o.signal?.aborted === true;
  const emit = (r: Row): void => {
    rows.push(r);
    o.onRow(r);
  };
  try {
    for (const s of o.sizes) {
      if (stopped()) {
        break;
      }
      const [m, n, k] = [s, s, s];
      const rng = new Rng(s);
      let a = rng.normals(m * k);
      let b = rng.normals(k * n);
      if (o.dtype === 'f16') {
        a = roundToF16(a);
        b = roundToF16(b);
      }
      const ref = matmulRefRows(a, b, m, n, k, sampleRows(m, CHECKED_ROWS, m * 31 + n));
      const flops = 2 * m * n * k;
      const base = { m, n, k, dtype: o.dtype, adapter: env.adapter, software: env.software };
      const caseRows: Row[] = [];
      const row = (
        impl: string,
        scope: Scope,
        times: number[],
        firstMs: number,
        err: number,
        gpu: number[],
        variant: string | null,
      ): Row => {
        const st = summarize(times);
        const r: Row = {
          impl,
          scope,
          ...base,
          ms: st.ms,
          ms_min: st.ms_min,
          reps: st.reps,
          gpu_ms: gpu.length ? summarize(gpu).ms : null,
          gflops: flops / st.ms / 1e6,
          ok: err <= OK_TOLERANCE[o.dtype],
          err,
          first_ms: firstMs,
          variant,
          date: env.date,
          commit: env.commit,
        };
        caseRows.push(r);
        return r;
      };
      // Ours, device scope first: its warm run sets the number of timed runs of every implementation.
      const [ha, hb] = [hostValues(a, o.dtype), hostValues(b, o.dtype)];
      let reps = o.reps ?? 0;
      {
        progress.step(`${s}³ ${o.dtype} walt device`);
        const ta = ctx.upload(ha, [m, k], o.dtype, 'bench.a');
        const tb = ctx.upload(hb, [k, n], o.dtype, 'bench.b');
        let last: Tensor | null = null;
        let coldMs: number | undefined;
        const encode = (): void => {
          last?.dispose();
          last = matmul(ctx, ta, tb, { label: 'bench' });
        };
        try {
          if (!reps) {
            const c0 = performance.now();
            encode();
            await ctx.sync();
            coldMs = performance.now() - c0;
            const w0 = performance.now();
            encode();
            await ctx.sync();
            reps = repsFor(performance.now() - w0, o.minTimeMs);
          }
          const t = await timeRuns(
            async () => {
              encode();
              await ctx.sync();
            },
            { warmup: 1, reps },
          );
          const got = decode(await (last as Tensor | null)!.readRaw(), m * n, o.dtype);
          const gpu = await gpuTimes(ctx, encode, Math.min(reps, 5));
          row('walt', 'device', t.times, coldMs ?? t.firstMs, relErrorAt(got, ref), gpu, tileName(tile));
        } finally {
          (last as Tensor | null)?.dispose();
          ta.dispose();
          tb.dispose();
        }
      }
      if (!stopped()) {
        progress.step(`${s}³ ${o.dtype} walt host`);
        const t = await timeRuns(
          async () => {
            const ta = ctx.upload(ha, [m, k], o.dtype, 'bench.a');
            const tb = ctx.upload(hb, [k, n], o.dtype, 'bench.b');
            const c = matmul(ctx, ta, tb, { label: 'bench' });
            try {
              return await c.readRaw();
            } finally {
              c.dispose();
              ta.dispose();
              tb.dispose();
            }
          },
          { warmup: 1, reps },
        );
        row('walt', 'host', t.times, t.firstMs, relErrorAt(decode(t.last, m * n, o.dtype), ref), [], tileName(tile));
      }
      // Peers (same adapter: tfjs shares our Dawn instance; ORT runs its own Dawn on the same driver).
      for (const p of peers) {
        const bytes = Math.max(m * k, k * n, m * n) * (o.dtype === 'f16' ? 2 : 4);
        if (bytes > limit && p.impl !== 'ort-cpu') {
          o.log(
            `${p.impl} ${s}³ skipped: a ${bytes}-byte operand exceeds the ${limit}-byte binding limit (peers fail silently there)`,
          );
          continue;
        }
        for (const scope of p.scopes) {
          if (stopped()) {
            break;
          }
          progress.step(`${s}³ ${o.dtype} ${p.impl} ${scope}`);
          try {
            const r = await p.matmul(a, b, m, n, k, o.dtype, scope, { warmup: 1, reps });
            row(p.impl, scope, r.times, r.firstMs, relErrorAt(r.out, ref), [], null);
          } catch (e) {
            o.log(`${p.impl} ${scope} ${s}³ failed: ${e instanceof Error ? e.message.split('\n')[0] : String(e)}`);
          }
        }
      }
      addWaltRatios(caseRows, ['m', 'n', 'k', 'dtype']);
      for (const r of byScope(caseRows)) {
        emit(r);
      }
    }
  } finally {
    for (const p of peers) {
      await p.dispose();
    }
  }
  return { rows, header: scopeHeader(env, notes) };
}
