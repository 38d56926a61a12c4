// walt profile: one forward with per-kernel GPU timestamps grouped by family and by layer kind,
// and the window-size tradeoff of the W.A.L.T paper's Table 3b: for each spatiotemporal window,
// denoiser forward passes per second, relative to full attention, attention's share of GPU
// time, FLOPs (spec §4.12), GFLOP/s and peak memory.
import type { GpuContext, ProfileRecord } from '../src/gpu/context.js';
import { tokenGrid, withWindow, type WaltConfig } from '../src/model/config.js';
import { denoise } from '../src/model/denoiser.js';
import { encode, latentShapeOf, padPixels } from '../src/model/encoder.js';
import { denoiserFlops } from '../src/model/flops.js';
import { randomWeightValues, uploadWeights, type ModelWeights } from '../src/model/weights.js';
import type { FloatDType } from '../src/tensor/dtype.js';
import { Rng } from '../src/util/rng.js';
import { barLabel, panelFigure, type BarPanel } from './chart.js';
import { benchEnv, parseWindow, summarize, type Row } from './harness.js';

/** Kernel family of a profile label → the group the profile reports. */
export function familyGroup(family: string): string {
  switch (family) {
    case 'conv3d':
    case 'groupnorm':
    case 'matmul':
    case 'attention':
      return family;
    case 'layernorm':
      return 'norms';
    default:
      return 'elementwise';
  }
}

/** Layer kind of a dispatch from its tag ('blocks.3/spatiotemporal' → 'spatiotemporal'). */
export function layerKind(tag: string): string {
  const m = /^blocks\.\d+\/(\w+)$/.exec(tag);
  if (m) {
    return m[1]!;
  }
  return tag.startsWith('encoder') ? 'encoder' : tag ? 'denoiser other' : 'other';
}

function groupSum(
  recs: readonly ProfileRecord[],
  key: (r: ProfileRecord) => string,
): Map<string, { ms: number; n: number }> {
  const out = new Map<string, { ms: number; n: number }>();
  for (const r of recs) {
    const k = key(r);
    const v = out.get(k) ?? { ms: 0, n: 0 };
    v.ms += r.ms;
    v.n++;
    out.set(k, v);
  }
  return new Map([...out].sort((a, b) => b[1].ms - a[1].ms));
}

export interface ProfileOptions {
  config: WaltConfig;
  dtype: FloatDType;
  windows: string[];
  /**
   * Timed passes per window (their median is reported). Default 3; on a software adapter 5 for a
   * denoiser up to 50 GFLOP per pass (timings there are noisy) and 1 above (an L pass takes minutes).
   */
  reps?: number;
  /**
   * Untimed passes before the timed ones (they compile the pipelines). Default 1; 0 on a software
   * adapter for a denoiser above 50 GFLOP per pass (an L pass takes minutes there, and Mesa's
   * shader cache keeps the compiles in the first timed pass to seconds).
   */
  warmup?: number;
  /** Skip the encoder in the per-kernel profile (it dominates on large configs). */
  encoder: boolean;
  /** Stops at the next pass; the rows measured so far are returned. */
  signal?: AbortSignal;
  onRow: (r: Row) => void;
  log: (s: string) => void;
}

export interface ProfileResult {
  kernels: Row[];
  tradeoff: Row[];
}

/**
 * `warmup` untimed denoiser passes, `reps` wall-clock passes (no timestamps), then `profiled`
 * passes with a timestamp on every dispatch, in runs of their own (profiling puts every dispatch in
 * a pass of its own, which changes the wall time). Returns the wall times and the records of the
 * last profiled pass.
 */
async function timedForward(
  ctx: GpuContext,
  W: ModelWeights,
  z: Float32Array,
  lat: number[],
  passes: { warmup: number; reps: number; profiled: number },
  onPass: (what: string) => void,
  stopped: () => boolean,
): Promise<{ ms: number[]; recs: ProfileRecord[] }> {
  const run = (): void => {
    ctx.scope(() =>
      denoise(ctx, W, ctx.upload(z, [1, ...lat], W.dtype), {
        t: [200],
        classes: [W.config.denoiser.numClasses],
        taps: [],
        final: true,
      }),
    );
  };
  for (let i = 0; i < passes.warmup && !stopped(); i++) {
    run(); // warm-up (compiles)
    await ctx.sync();
    onPass(`warm-up ${i + 1}/${passes.warmup}`);
  }
  const ms: number[] = [];
  for (let i = 0; i < passes.reps && !stopped(); i++) {
    const t0 = performance.now();
    run();
    await ctx.sync();
    ms.push(performance.now() - t0);
    onPass(`timed ${i + 1}/${passes.reps}`);
  }
  let recs: ProfileRecord[] = [];
  for (let i = 0; i < passes.profiled && !stopped(); i++) {
    ctx.setProfiling(true);
    try {
      await ctx.takeProfile();
      run();
      recs = await ctx.takeProfile();
    } finally {
      ctx.setProfiling(false);
    }
    onPass(`timestamps ${i + 1}/${passes.profiled}`);
  }
  return { ms, recs };
}

export async function runProfile(ctx: GpuContext, o: ProfileOptions): Promise<ProfileResult> {
  const env = benchEnv(ctx);
  const cfg = o.config;
  const base = {
    config: cfg.name,
    dtype: o.dtype,
    adapter: env.adapter,
    software: env.software,
    date: env.date,
    commit: env.commit,
  };
  const kernels: Row[] = [];
  const tradeoff: Row[] = [];
  const large = denoiserFlops(cfg).total > 50e9;
  const warmup = o.warmup ?? (ctx.adapter.isSoftware && large ? 0 : 1);
  const reps = o.reps ?? (ctx.adapter.isSoftware ? (large ? 1 : 5) : 3);
  const [T, H, Wd] = cfg.pixels;
  const lat = latentShapeOf(cfg, T, H, Wd);
  const z = new Rng(2).normals(lat.reduce((a, b) => a * b));
  const grid = tokenGrid(cfg.denoiser);
  const entries: { name: string; c: WaltConfig }[] = [];
  for (const s of o.windows) {
    try {
      // 'full' also widens the spatial window (withWindow), so it stays a name here.
      entries.push({ name: s, c: withWindow(cfg, s === 'full' ? 'full' : parseWindow(s, grid)) });
    } catch (e) {
      o.log(`window ${s} skipped: ${e instanceof Error ? e.message : String(e)}`);
    }
  }

  // Progress: one line per pass with the time it took and an estimate of what is left from the
  // mean encoder and denoiser pass so far (an L pass takes minutes on a software adapter).
  const encPasses = o.encoder ? warmup + 1 : 0;
  const passes = encPasses + warmup + 1 + entries.length * (warmup + reps + 1);
  const stopped = (): boolean => o.signal?.aborted === true;
  const spent = { enc: 0, den: 0 };
  let done = 0;
  let last = performance.now();
  const progress =
    (stage: string) =>
    (what: string): void => {
      const now = performance.now();
      spent[stage === 'encoder' ? 'enc' : 'den'] += now - last;
      done++;
      const encDone = Math.min(done, encPasses);
      const encMean = encDone ? spent.enc / encDone : 0;
      const denMean = done > encPasses ? spent.den / (done - encPasses) : encMean;
      const left = (encPasses - encDone) * encMean + (passes - Math.max(done, encPasses)) * denMean;
      o.log(
        `profile: ${stage} ${what}: ${((now - last) / 1000).toFixed(1)} s [${done}/${passes} passes${
          done < passes ? `, about ${Math.round(left / 1000)} s left` : ''
        }]`,
      );
      last = now;
    };

  // 1. One forward, every dispatch timed.
  if (!stopped()) {
    const W = uploadWeights(ctx, cfg, randomWeightValues(cfg, 0), { needEncoder: o.encoder, dtype: o.dtype });
    const recs: ProfileRecord[] = [];
    if (o.encoder) {
      const px = padPixels(new Rng(1).uniforms(T * H * Wd * 3));
      const tick = progress('encoder');
      for (let i = 0; i < warmup; i++) {
        ctx.scope(() => encode(ctx, W, ctx.upload(px, [T, H, Wd, 4], o.dtype)));
        await ctx.sync();
        tick(`warm-up ${i + 1}/${warmup}`);
      }
      ctx.setProfiling(true);
      await ctx.takeProfile();
      ctx.scope(() => encode(ctx, W, ctx.upload(px, [T, H, Wd, 4], o.dtype)));
      recs.push(...(await ctx.takeProfile()));
      ctx.setProfiling(false);
      tick('timed 1/1');
    }
    recs.push(
      ...(await timedForward(ctx, W, z, lat, { warmup, reps: 0, profiled: 1 }, progress('denoiser'), stopped)).recs,
    );
    W.dispose();
    const total = recs.reduce((a, r) => a + r.ms, 0);
    for (const [by, key] of [
      ['family', (r: ProfileRecord) => familyGroup(r.family)],
      ['layer', (r: ProfileRecord) => layerKind(r.tag)],
    ] as const) {
      for (const [name, v] of groupSum(recs, key)) {
        const row: Row = {
          kind: 'kernels',
          by,
          group: name,
          gpu_ms: v.ms,
          share: v.ms / total,
          dispatches: v.n,
          ...base,
        };
        kernels.push(row);
        o.onRow(row);
      }
    }
  }

  // 2. Window tradeoff (denoiser only, like Table 3b's steps/s).
  for (const { name, c } of entries) {
    if (stopped()) {
      break;
    }
    const W = uploadWeights(ctx, c, randomWeightValues(c, 0), { needEncoder: false, dtype: o.dtype });
    const weightBytes = [...W.gpu.values()].reduce((a, t) => a + t.byteLength, 0);
    ctx.pool.resetPeak();
    const { ms, recs } = await timedForward(
      ctx,
      W,
      z,
      lat,
      { warmup, reps, profiled: 1 },
      progress(`window ${name}`),
      stopped,
    );
    W.dispose();
    if (ms.length === 0 || recs.length === 0) {
      break; // interrupted
    }
    const gpuTotal = recs.reduce((a, r) => a + r.ms, 0);
    const attn = recs.filter((r) => r.family === 'attention').reduce((a, r) => a + r.ms, 0);
    const f = denoiserFlops(c);
    const st = summarize(ms);
    const row: Row = {
      kind: 'tradeoff',
      window: name,
      ms: st.ms,
      ms_min: st.ms_min,
      reps: st.reps,
      // Timestamps come from a pass of their own (not one of the wall-clock passes).
      gpu_ms: gpuTotal,
      passes_per_s: 1000 / st.ms,
      attention_share: attn / gpuTotal,
      attention_ms: attn,
      gflop: f.total / 1e9,
      attention_gflop: f.parts.attention! / 1e9,
      gflops: f.total / st.ms / 1e6,
      attention_gflops: attn > 0 ? f.parts.attention! / attn / 1e6 : null,
      peak_mib: (ctx.memory().peakBytesInUse + weightBytes) / 2 ** 20,
      ...base,
    };
    tradeoff.push(row);
  }
  const full = tradeoff.find((r) => r.window === 'full');
  for (const r of tradeoff) {
    r.relative_to_full = full ? (r.passes_per_s as number) / (full.passes_per_s as number) : null;
    o.onRow(r);
  }
  return { kernels, tradeoff };
}

export const KERNEL_COLUMNS = ['by', 'group', 'gpu_ms', 'share', 'dispatches'];
export const TRADEOFF_COLUMNS = [
  'window',
  'ms',
  'passes_per_s',
  'relative_to_full',
  'attention_share',
  'gflop',
  'gflops',
  'attention_gflops',
  'peak_mib',
];

/**
 * The profile as a picture: the window tradeoff (passes/s with the ratio to full attention; GFLOP/s
 * of the whole denoiser and of attention alone, i.e. efficiency per FLOP) and GPU time by kernel
 * family and by layer kind.
 */
export function profileChart(r: ProfileResult): string {
  const t = r.tradeoff;
  const first = t[0] ?? r.kernels[0];
  const windows = t.map((x) => String(x.window));
  const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);
  const share = (by: string): BarPanel => {
    const rows = r.kernels.filter((k) => k.by === by);
    return {
      title: `GPU time by ${by} (one forward)`,
      yLabel: 'share of GPU time (%)',
      groups: rows.map((k) => String(k.group)),
      series: [
        {
          name: 'share',
          color: by === 'family' ? '#8c564b' : '#9467bd',
          values: rows.map((k) => 100 * (num(k.share) ?? 0)),
          labels: rows.map((k) => `${(100 * (num(k.share) ?? 0)).toFixed(0)}%`),
        },
      ],
    };
  };
  const panels: BarPanel[] = [
    {
      title: 'Denoiser passes per second',
      yLabel: 'passes / s',
      groups: windows,
      series: [
        {
          name: 'passes/s',
          color: '#1f77b4',
          values: t.map((x) => num(x.passes_per_s)),
          labels: t.map((x) => {
            const rel = num(x.relative_to_full);
            return `${barLabel(num(x.passes_per_s) ?? 0)}${rel !== null ? ` (${rel.toFixed(2)}×)` : ''}`;
          }),
        },
      ],
    },
    {
      title: 'Efficiency per FLOP',
      yLabel: 'GFLOP/s',
      groups: windows,
      series: [
        { name: 'denoiser GFLOP/s', color: '#2ca02c', values: t.map((x) => num(x.gflops)) },
        { name: 'attention GFLOP/s', color: '#ff7f0e', values: t.map((x) => num(x.attention_gflops)) },
      ],
    },
    {
      title: "Attention's share of denoiser GPU time",
      yLabel: '% of GPU time',
      groups: windows,
      series: [
        {
          name: 'attention share',
          color: '#d62728',
          values: t.map((x) => 100 * (num(x.attention_share) ?? 0)),
          labels: t.map((x) => `${(100 * (num(x.attention_share) ?? 0)).toFixed(1)}%`),
        },
      ],
    },
    {
      title: 'Peak GPU memory (weights + activations)',
      yLabel: 'MiB',
      groups: windows,
      series: [{ name: 'peak MiB', color: '#7f7f7f', values: t.map((x) => num(x.peak_mib)) }],
    },
    share('family'),
    share('layer'),
  ];
  const sub = first
    ? `${String(first.adapter)}${first.software && !/software/i.test(String(first.adapter)) ? ' (software)' : ''} · ${String(first.dtype)} · ${String(first.commit)}`
    : '';
  return panelFigure(
    `walt profile --config ${first ? String(first.config) : '?'}: window-size tradeoff`,
    sub,
    panels,
    3,
  );
}
