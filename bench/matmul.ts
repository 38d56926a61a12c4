// walt bench matmul: our matmul against tfjs-webgpu and onnxruntime's WebGPU EP (and ORT CPU)
// in the same process, on the same adapter; every implementation is checked against f64 CPU
// values (a sample of entries) before its time counts.
import type { GpuContext } from '../src/gpu/context.js';
import { matmul, tileFor, tileName } from '../src/kernels/matmul.js';
import type { FloatDType } from '../src/tensor/dtype.js';
import { roundToF16 } from '../src/tensor/f16.js';
import { Rng } from '../src/util/rng.js';
import { benchEnv, median, relErrorAt, timeRuns, type Row } from './harness.js';
import { loadMatmulPeer, type MatmulPeer } from './peers/index.js';

export interface MatmulBenchOptions {
  sizes: number[];
  dtype: FloatDType;
  peers: string[];
  minTimeMs: number;
  onRow: (row: Row) => void;
  log: (s: string) => void;
}

/** Relative error (max|Δ|/max|ref|) under which a result counts as correct. */
export const OK_TOLERANCE = { f32: 1e-4, f16: 2e-2 } as const;

/** f64 reference at `count` sampled entries of C = A·B. */
function sampleReference(
  a: Float32Array,
  b: Float32Array,
  m: number,
  n: number,
  k: number,
  count: number,
): Map<number, number> {
  const rng = new Rng(m * 31 + n, 99);
  const out = new Map<number, number>();
  const picks: [number, number][] = [
    [0, 0],
    [m - 1, n - 1],
    [m - 1, 0],
    [0, n - 1],
  ];
  while (picks.length < count) {
    picks.push([rng.int(m), rng.int(n)]);
  }
  for (const [i, j] of picks) {
    let s = 0;
    for (let p = 0; p < k; p++) {
      s += a[i * k + p]! * b[p * n + j]!;
    }
    out.set(i * n + j, s);
  }
  return out;
}

export async function benchMatmul(ctx: GpuContext, o: MatmulBenchOptions): Promise<Row[]> {
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
  const tile = tileFor({ dtype: o.dtype }, ctx.caps);
  try {
    for (const s of o.sizes) {
      const [m, n, k] = [s, s, s];
      const rng = new Rng(s);
      let a = rng.normals(m * k);
      let b = rng.normals(k * n);
      if (o.dtype === 'f16') {
        a = roundToF16(a);
        b = roundToF16(b);
      }
      const ref = sampleReference(a, b, m, n, k, 256);
      const flops = 2 * m * n * k;
      const base = { m, n, k, dtype: o.dtype, adapter: env.adapter, software: env.software };
      // Ours.
      const ta = ctx.upload(a, [m, k], o.dtype);
      const tb = ctx.upload(b, [k, n], o.dtype);
      let last: ReturnType<typeof matmul> | null = null;
      const t = await timeRuns(
        ctx,
        () => {
          last?.dispose();
          last = matmul(ctx, ta, tb, { label: 'bench' });
        },
        { warmup: 1, minTimeMs: o.minTimeMs, minReps: 3, maxReps: 50 },
      );
      const out = await last!.read();
      (last as ReturnType<typeof matmul> | null)?.dispose();
      ta.dispose();
      tb.dispose();
      const err = relErrorAt(out, ref);
      const ms = median(t.wallMs);
      const row: Row = {
        impl: 'walt',
        ...base,
        ms,
        gpu_ms: t.gpuMs.length ? median(t.gpuMs) : null,
        gflops: flops / ms / 1e6,
        ok: err <= OK_TOLERANCE[o.dtype],
        err,
        first_ms: t.firstMs,
        reps: t.wallMs.length,
        variant: tileName(tile),
        date: env.date,
        commit: env.commit,
      };
      rows.push(row);
      o.onRow(row);
      // Peers (same adapter: tfjs shares our Dawn instance; ORT runs its own Dawn on the same driver).
      for (const p of peers) {
        const bytes = Math.max(m * k, k * n, m * n) * (o.dtype === 'f16' ? 2 : 4);
        if (bytes > limit && p.impl !== 'ort-cpu') {
          o.log(
            `${p.impl} ${s}³ skipped: a ${bytes}-byte operand exceeds the ${limit}-byte binding limit (peers fail silently there)`,
          );
          continue;
        }
        try {
          const r = await p.matmul(a, b, m, n, k, o.dtype, { warmup: 1, minTimeMs: o.minTimeMs, maxReps: 50 });
          const e = relErrorAt(r.out, ref);
          const pr: Row = {
            impl: p.impl,
            ...base,
            ms: r.ms,
            gpu_ms: null,
            gflops: flops / r.ms / 1e6,
            ok: e <= OK_TOLERANCE[o.dtype],
            err: e,
            first_ms: r.firstMs,
            reps: r.reps,
            variant: null,
            date: env.date,
            commit: env.commit,
          };
          rows.push(pr);
          o.onRow(pr);
        } catch (e) {
          o.log(`${p.impl} ${s}³ failed: ${e instanceof Error ? e.message.split('\n')[0] : String(e)}`);
        }
      }
    }
  } finally {
    for (const p of peers) {
      await p.dispose();
    }
  }
  return rows;
}
