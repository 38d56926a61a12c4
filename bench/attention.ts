// walt bench attention: the fused windowed attention ('walt'), the unfused three-pass baseline
// ('walt-naive') and the attention peers (tfjs ops, onnxruntime's MultiHeadAttention and plain-op
// graph) on the same adapter, in one process. Every implementation is checked against float64 CPU
// values at sampled query rows before its time counts.
//
// The peers take windows already partitioned, [batch·windows, Nw, heads, headDim]; ours take the
// same values in latent order (tokens (b, t, y, x), heads·headDim columns) and gather the windows
// themselves. Peers get plain attention (no bias, no qk-norm), and so does ours here.
// gflops = 4·N·N_w·headDim·heads / time (N = batch·tokens; QKᵀ and P·V, 2 FLOPs per multiply-add);
// gb_s = bytes of q, k, v and o, each once / time. With `rounds` > 1 the implementations take turns
// (each case and implementation timed once per round), so a disturbance of a shared machine is spread
// over all of them instead of landing on one.
import type { GpuContext } from '../src/gpu/context.js';
import {
  attention,
  attentionFlops,
  attentionTileFor,
  attentionTileName,
  type Dims3,
} from '../src/kernels/attention.js';
import { attentionNaive } from '../src/kernels/attention-naive.js';
import { bytesPerElement, type FloatDType } from '../src/tensor/dtype.js';
import { roundToF16 } from '../src/tensor/f16.js';
import type { Tensor } from '../src/tensor/tensor.js';
import { Rng } from '../src/util/rng.js';
import { esc, niceAxis } from './chart.js';
import { benchEnv, median, parseWindow, relErrorAt, timeRuns, type Row } from './harness.js';
import { loadAttentionPeer, type AttentionPeer } from './peers/index.js';

export interface AttentionBenchOptions {
  /** 'TxHxW' windows (each must tile the latent) or 'full' (the latent itself). */
  windows: string[];
  /** Latent (T, H, W) per clip. */
  latent: [number, number, number];
  heads: number;
  headDims: number[];
  batch: number;
  dtypes: FloatDType[];
  peers: string[];
  minTimeMs: number;
  /**
   * This adapter's matmul GFLOP/s per dtype, measured in the same run (e.g. at 1024³): adds
   * matmul_gflops and matmul_share = gflops / matmul_gflops to the rows of that dtype.
   */
  matmulGflops?: Partial<Record<FloatDType, number>>;
  onRow: (row: Row) => void;
  log: (s: string) => void;
  /**
   * Rounds (default 1): every case and implementation is timed once per round for minTimeMs / rounds,
   * so that a disturbance of the shared machine hits all of them alike; rows come after the last round.
   */
  rounds?: number;
}

/** Samples of one (case, implementation) over the rounds. */
interface Acc {
  ms: number[];
  gpuMs: number[];
  firstMs: number;
  err: number;
  reps: number;
}

/** Relative error (max|Δ|/max|ref| over the sampled rows) under which a result counts as correct. */
export const OK_TOLERANCE = {
  walt: { f32: 1e-5, f16: 1e-2 },
  'walt-naive': { f32: 1e-5, f16: 2e-2 },
  peer: { f32: 5e-2, f16: 5e-2 },
} as const;

export const ATTENTION_COLUMNS = [
  'impl',
  'window',
  'heads',
  'head_dim',
  'dtype',
  'ms',
  'ms_min',
  'gflops',
  'gb_s',
  'matmul_share',
  'ok',
  'err',
  'err_abs',
  'first_ms',
];

/** Query rows whose output is checked against the float64 reference, at most this many. */
const SAMPLE_ROWS = 48;

/** One problem: values in the peers' partitioned layout and the latent row of every (window, token). */
interface Problem {
  window: Dims3;
  nw: number;
  /** batch · windows per clip: the peers' batch. */
  windows: number;
  tokens: number;
  /** rowOf[w·nw + n] = latent row of window w's token n. */
  rowOf: Int32Array;
  q: Float32Array;
  k: Float32Array;
  v: Float32Array;
}

function makeProblem(
  latent: Dims3,
  window: Dims3,
  batch: number,
  width: number,
  dtype: FloatDType,
  seed: number,
): Problem {
  const [T, H, W] = latent;
  const [wt, wh, ww] = window;
  const nw = wt * wh * ww;
  const perClip = (T / wt) * (H / wh) * (W / ww);
  const windows = batch * perClip;
  const tokens = batch * T * H * W;
  const rowOf = new Int32Array(tokens);
  for (let b = 0; b < batch; b++) {
    for (let wi = 0; wi < perClip; wi++) {
      const t0 = Math.floor(wi / ((H / wh) * (W / ww))) * wt;
      const y0 = (Math.floor(wi / (W / ww)) % (H / wh)) * wh;
      const x0 = (wi % (W / ww)) * ww;
      for (let n = 0; n < nw; n++) {
        const t = Math.floor(n / (wh * ww));
        const y = Math.floor(n / ww) % wh;
        const x = n % ww;
        rowOf[(b * perClip + wi) * nw + n] = ((b * T + t0 + t) * H + y0 + y) * W + x0 + x;
      }
    }
  }
  const rng = new Rng(seed);
  const gen = (): Float32Array => {
    const x = rng.normals(tokens * width);
    return dtype === 'f16' ? roundToF16(x) : x;
  };
  return { window, nw, windows, tokens, rowOf, q: gen(), k: gen(), v: gen() };
}

/** Peer (window-partitioned) rows → latent rows, or back. */
function permuteRows(x: Float32Array, p: Problem, width: number, toLatent: boolean): Float32Array {
  const out = new Float32Array(x.length);
  for (let i = 0; i < p.tokens; i++) {
    const r = p.rowOf[i]!;
    if (toLatent) {
      out.set(x.subarray(i * width, (i + 1) * width), r * width);
    } else {
      out.set(x.subarray(r * width, (r + 1) * width), i * width);
    }
  }
  return out;
}

/** float64 attention at sampled (window, token) rows, every head; keys = peer-layout indices. */
function sampleReference(p: Problem, heads: number, dh: number): Map<number, number> {
  const width = heads * dh;
  const scale = 1 / Math.sqrt(dh);
  const rng = new Rng(p.tokens + p.nw, 7);
  const picks = new Set<number>([0, p.tokens - 1]);
  while (picks.size < Math.min(SAMPLE_ROWS, p.tokens)) {
    picks.add(rng.int(p.tokens));
  }
  const ref = new Map<number, number>();
  const s = new Float64Array(p.nw);
  const o = new Float64Array(dh);
  for (const i of picks) {
    const w0 = Math.floor(i / p.nw) * p.nw;
    for (let h = 0; h < heads; h++) {
      const qo = i * width + h * dh;
      let m = -Infinity;
      for (let j = 0; j < p.nw; j++) {
        const ko = (w0 + j) * width + h * dh;
        let dot = 0;
        for (let d = 0; d < dh; d++) {
          dot += p.q[qo + d]! * p.k[ko + d]!;
        }
        s[j] = dot * scale;
        m = Math.max(m, s[j]!);
      }
      let l = 0;
      o.fill(0);
      for (let j = 0; j < p.nw; j++) {
        const e = Math.exp(s[j]! - m);
        l += e;
        const vo = (w0 + j) * width + h * dh;
        for (let d = 0; d < dh; d++) {
          o[d] = o[d]! + e * p.v[vo + d]!;
        }
      }
      for (let d = 0; d < dh; d++) {
        ref.set(qo + d, o[d]! / l);
      }
    }
  }
  return ref;
}

export async function benchAttention(ctx: GpuContext, o: AttentionBenchOptions): Promise<Row[]> {
  const env = benchEnv(ctx);
  const rows: Row[] = [];
  const latent: Dims3 = o.latent;
  const emit = (r: Row): void => {
    rows.push(r);
    o.onRow(r);
  };
  for (const dtype of o.dtypes) {
    if (dtype === 'f16' && !ctx.caps.f16) {
      o.log(`f16 skipped: ${ctx.adapter.name} has no shader-f16`);
      continue;
    }
    const peers: AttentionPeer[] = [];
    for (const name of o.peers) {
      const r = await loadAttentionPeer(name, ctx.gpuInstance, dtype);
      if (r.peer) {
        peers.push(r.peer);
      } else {
        o.log(`peer ${name} (${dtype}) skipped: ${r.skipped ?? 'unavailable'}`);
      }
    }
    try {
      // The cases of this dtype, built once (values, reference) and reused by every round.
      const cases: { name: string; dh: number; window: Dims3; p: Problem; ref: Map<number, number> }[] = [];
      for (const dh of o.headDims) {
        for (const name of o.windows) {
          try {
            const window = parseWindow(name, latent);
            const p = makeProblem(latent, window, o.batch, o.heads * dh, dtype, p32(name, dh));
            cases.push({ name, dh, window, p, ref: sampleReference(p, o.heads, dh) });
          } catch (e) {
            o.log(`${name} skipped: ${e instanceof Error ? e.message : String(e)}`);
          }
        }
      }
      const rounds = Math.max(1, Math.floor(o.rounds ?? 1));
      const acc = new Map<string, Acc>();
      const note = (key: string, ms: number[], gpuMs: number[], firstMs: number, err: number, reps: number): void => {
        const a = acc.get(key);
        if (a) {
          a.ms.push(...ms);
          a.gpuMs.push(...gpuMs);
          a.err = Math.max(a.err, err);
          a.reps += reps;
        } else {
          acc.set(key, { ms, gpuMs, firstMs, err, reps });
        }
      };
      for (let round = 0; round < rounds; round++) {
        const last = round === rounds - 1;
        for (const { name, dh, window, p, ref } of cases) {
          const width = o.heads * dh;
          const flops = attentionFlops(p.tokens, p.nw, dh, o.heads);
          const bytes = 4 * p.tokens * width * bytesPerElement(dtype);
          const base = {
            window: name,
            heads: o.heads,
            head_dim: dh,
            dtype,
            latent: latent.join('x'),
            batch: o.batch,
            window_tokens: p.nw,
          };
          // One row per implementation, from every round's samples (emitted after the last round).
          const finish = (impl: string, variant: string | null): void => {
            const a = acc.get(`${name}|${dh}|${impl}`);
            if (!last || !a) {
              return;
            }
            const ms = median(a.ms);
            const gflops = flops / ms / 1e6;
            const mm = o.matmulGflops?.[dtype];
            const tol = impl === 'walt' || impl === 'walt-naive' ? OK_TOLERANCE[impl][dtype] : OK_TOLERANCE.peer[dtype];
            emit({
              impl,
              ...base,
              ms,
              gflops,
              // Best of the timed runs: on a shared machine the least disturbed estimate of the cost.
              ms_min: Math.min(...a.ms),
              gb_s: bytes / ms / 1e6,
              matmul_gflops: mm ?? null,
              matmul_share: mm ? gflops / mm : null,
              ok: a.err <= tol,
              err: a.err,
              // The same error in absolute terms (max|Δ|): err · max|ref| over the sampled rows.
              err_abs: a.err * maxAbs(ref),
              first_ms: a.firstMs,
              adapter: env.adapter,
              software: env.software,
              date: env.date,
              commit: env.commit,
              gpu_ms: a.gpuMs.length ? median(a.gpuMs) : null,
              reps: a.reps,
              rounds,
              variant,
            });
          };
          const timing = { warmup: 1, minTimeMs: o.minTimeMs / rounds, maxReps: Math.max(3, Math.ceil(50 / rounds)) };
          // Ours: the fused kernel and the unfused baseline, on latent-ordered copies of the same values.
          const [tq, tk, tv] = [p.q, p.k, p.v].map((x) =>
            ctx.upload(permuteRows(x, p, width, true), [p.tokens, width], dtype, 'bench.qkv'),
          ) as [Tensor, Tensor, Tensor];
          const opts = { latent, window, heads: o.heads, headDim: dh, batch: o.batch };
          const view = (t: Tensor) => ({ tensor: t, stride: width, offset: 0 });
          for (const [impl, fn] of [
            ['walt', attention],
            ['walt-naive', attentionNaive],
          ] as const) {
            let out: Tensor | null = null;
            try {
              const t = await timeRuns(
                ctx,
                () => {
                  out?.dispose();
                  out = fn(ctx, view(tq), view(tk), view(tv), { ...opts, label: `bench.${impl}` });
                },
                { ...timing, minReps: 3 },
              );
              const got = permuteRows(await (out as Tensor | null)!.read(), p, width, false);
              note(`${name}|${dh}|${impl}`, t.wallMs, t.gpuMs, t.firstMs, relErrorAt(got, ref), t.wallMs.length);
            } catch (e) {
              o.log(
                `${impl} ${name} d${dh} ${dtype} failed: ${e instanceof Error ? e.message.split('\n')[0] : String(e)}`,
              );
            } finally {
              (out as Tensor | null)?.dispose();
            }
            finish(impl, impl === 'walt' ? attentionTileName(attentionTileFor(dtype, dh, ctx.caps, p.nw)) : null);
          }
          for (const t of [tq, tk, tv]) {
            t.dispose();
          }
          // Peers (tfjs shares our Dawn instance; ORT runs its own Dawn on the same driver). A peer
          // reports the median of its own timed runs: each round adds that median as one sample.
          for (const peer of peers) {
            try {
              const r = await peer.attention(
                p.q,
                p.k,
                p.v,
                { batch: p.windows, tokens: p.nw, heads: o.heads, headDim: dh },
                dtype,
                timing,
              );
              note(`${name}|${dh}|${peer.impl}`, [r.ms], [], r.firstMs, relErrorAt(r.out, ref), r.reps);
            } catch (e) {
              o.log(
                `${peer.impl} ${name} d${dh} ${dtype} failed: ${e instanceof Error ? e.message.split('\n')[0] : String(e)}`,
              );
            }
            finish(peer.impl, null);
          }
        }
      }
    } finally {
      for (const peer of peers) {
        await peer.dispose();
      }
    }
  }
  return rows;
}

function maxAbs(ref: ReadonlyMap<number, number>): number {
  let m = 0;
  for (const v of ref.values()) {
    m = Math.max(m, Math.abs(v));
  }
  return m;
}

/** A seed per (window, head dim), so every implementation of a case sees the same values. */
function p32(window: string, dh: number): number {
  let h = dh;
  for (let i = 0; i < window.length; i++) {
    h = Math.imul(h ^ window.charCodeAt(i), 16777619) >>> 0;
  }
  return h;
}

// ---------------------------------------------------------------- chart

const COLORS: Record<string, string> = {
  walt: '#1f77b4',
  'walt-naive': '#aec7e8',
  'tfjs-webgpu': '#ff7f0e',
  'ort-webgpu': '#2ca02c',
  'ort-webgpu-ops': '#98df8a',
};
const EXTRA_COLORS = ['#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf'];

/**
 * Grouped bar chart of GFLOP/s: one group per window (and head dim / dtype when the rows hold
 * several), one bar per implementation, value labels on the bars; rows that failed the accuracy
 * check are drawn hatched. Hand-written SVG (convert with writeChart in bench/chart.ts).
 */
export function attentionChart(rows: readonly Row[]): { svg: string } {
  const dtypes = [...new Set(rows.map((r) => String(r.dtype)))];
  const dims = [...new Set(rows.map((r) => Number(r.head_dim)))];
  const groupOf = (r: Row): string =>
    [String(r.window), dims.length > 1 ? `d${r.head_dim}` : '', dtypes.length > 1 ? String(r.dtype) : '']
      .filter(Boolean)
      .join(' ');
  const groups = [...new Set(rows.map(groupOf))];
  const impls = [...new Set(rows.map((r) => String(r.impl)))];
  const color = (impl: string): string =>
    COLORS[impl] ?? EXTRA_COLORS[impls.filter((i) => !(i in COLORS)).indexOf(impl) % EXTRA_COLORS.length]!;
  const value = (g: string, impl: string): Row | undefined =>
    rows.find((r) => groupOf(r) === g && r.impl === impl && typeof r.gflops === 'number');
  const max = Math.max(0, ...rows.map((r) => (typeof r.gflops === 'number' ? r.gflops : 0)));
  const { top, step } = niceAxis(max);

  const barW = 22;
  const gap = 26;
  const groupW = impls.length * barW + gap;
  const [left, right, topM, plotH] = [70, 190, 70, 320];
  const width = Math.max(480, left + groups.length * groupW + right);
  const height = topM + plotH + 80;
  const y = (v: number): number => topM + plotH - (v / top) * plotH;
  const first = rows[0];
  const heads = [...new Set(rows.map((r) => r.heads))].join('/');
  const title = `Windowed attention, ${dtypes.join('/')}, head dim ${dims.join('/')}, ${heads} heads`;
  const adapter = first ? String(first.adapter) : '';
  const subtitle = `${adapter}${first?.software && !/software/i.test(adapter) ? ' (software)' : ''}${
    first?.latent ? ` · latent ${String(first.latent)}` : ''
  }${first?.batch !== undefined ? ` · batch ${String(first.batch)}` : ''}`;

  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="Helvetica, Arial, sans-serif">`,
    `<defs><pattern id="hatch" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><line x1="0" y1="0" x2="0" y2="6" stroke="#333" stroke-width="1.5"/></pattern></defs>`,
    `<rect width="${width}" height="${height}" fill="white"/>`,
    `<text x="${width / 2}" y="26" text-anchor="middle" font-size="17" font-weight="bold">${esc(title)}</text>`,
    `<text x="${width / 2}" y="46" text-anchor="middle" font-size="12" fill="#444">${esc(subtitle)}</text>`,
  );
  // Axes, grid and ticks.
  for (let v = 0; v <= top + 1e-9; v += step) {
    const yy = y(v).toFixed(1);
    const label = String(Number(v.toFixed(4)));
    out.push(
      `<line x1="${left}" y1="${yy}" x2="${left + groups.length * groupW}" y2="${yy}" stroke="#ddd"/>`,
      `<text x="${left - 8}" y="${(Number(yy) + 4).toFixed(1)}" text-anchor="end" font-size="11">${label}</text>`,
    );
  }
  out.push(
    `<line x1="${left}" y1="${topM}" x2="${left}" y2="${topM + plotH}" stroke="#000"/>`,
    `<line x1="${left}" y1="${topM + plotH}" x2="${left + groups.length * groupW}" y2="${topM + plotH}" stroke="#000"/>`,
    `<text transform="translate(20 ${topM + plotH / 2}) rotate(-90)" text-anchor="middle" font-size="13">GFLOP/s (4·N·N_w·d·heads / time)</text>`,
    `<text x="${left + (groups.length * groupW) / 2}" y="${topM + plotH + 50}" text-anchor="middle" font-size="13">window (T×H×W)</text>`,
  );
  // Bars.
  groups.forEach((g, gi) => {
    const x0 = left + gi * groupW + gap / 2;
    impls.forEach((impl, ii) => {
      const r = value(g, impl);
      if (!r) {
        return;
      }
      const v = r.gflops as number;
      const x = x0 + ii * barW;
      const yy = y(v);
      const h = topM + plotH - yy;
      out.push(
        `<rect x="${x}" y="${yy.toFixed(1)}" width="${barW - 2}" height="${h.toFixed(1)}" fill="${color(impl)}"><title>${esc(
          `${impl} ${g}: ${v.toFixed(2)} GFLOP/s, ${Number(r.ms).toFixed(1)} ms, err ${Number(r.err).toExponential(1)}`,
        )}</title></rect>`,
      );
      if (r.ok === false) {
        out.push(
          `<rect x="${x}" y="${yy.toFixed(1)}" width="${barW - 2}" height="${h.toFixed(1)}" fill="url(#hatch)"/>`,
        );
      }
      const label = v >= 10 ? v.toFixed(0) : v >= 1 ? v.toFixed(1) : v.toPrecision(2);
      out.push(
        `<text x="${x + (barW - 2) / 2}" y="${(yy - 4).toFixed(1)}" text-anchor="middle" font-size="9">${label}</text>`,
      );
    });
    out.push(
      `<text x="${x0 + (impls.length * barW) / 2 - 1}" y="${topM + plotH + 18}" text-anchor="middle" font-size="12">${esc(g)}</text>`,
    );
  });
  // Legend.
  const lx = left + groups.length * groupW + 20;
  impls.forEach((impl, i) => {
    const ly = topM + 10 + i * 20;
    out.push(
      `<rect x="${lx}" y="${ly - 10}" width="14" height="14" fill="${color(impl)}"/>`,
      `<text x="${lx + 20}" y="${ly + 1}" font-size="12">${esc(impl)}</text>`,
    );
  });
  if (rows.some((r) => r.ok === false)) {
    const ly = topM + 10 + impls.length * 20 + 6;
    out.push(
      `<rect x="${lx}" y="${ly - 10}" width="14" height="14" fill="#ccc"/><rect x="${lx}" y="${ly - 10}" width="14" height="14" fill="url(#hatch)"/>`,
      `<text x="${lx + 20}" y="${ly + 1}" font-size="12">failed accuracy check</text>`,
    );
  }
  out.push('</svg>');
  return { svg: `${out.join('\n')}\n` };
}
