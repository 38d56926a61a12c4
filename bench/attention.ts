// walt bench attention: the fused windowed attention ('walt'), the unfused three-pass baseline
// ('walt-naive') and the attention peers (tfjs ops, onnxruntime's MultiHeadAttention and plain-op
// graph) on the same adapter, in one process, in both scopes where an implementation can do them
// (host: upload of q, k, v + compute + download of o; device: resident inputs, output left on the
// GPU). Every implementation is checked against float64 values (src/ref/attention.ts on sampled
// (window, head) pairs, every row of each) before its time counts.
//
// The peers take windows already partitioned, [batch·windows, Nw, heads, headDim]; ours take the
// same values in latent order (tokens (b, t, y, x), heads·headDim columns) and gather the windows
// themselves. Peers get plain attention (no bias, no qk-norm), and so does ours here.
// gflops = 4·N·N_w·headDim·heads / time (N = batch·tokens; QKᵀ and P·V, 2 FLOPs per multiply-add);
// gb_s = bytes of q, k, v and o, each once / time. With `rounds` > 1 the implementations take turns
// (each case, implementation and scope timed once per round), so a disturbance of a shared machine is
// spread over all of them instead of landing on one. Every implementation and scope of a case makes
// the same number of timed runs.
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
import { fromF16Array, roundToF16, toF16Array } from '../src/tensor/f16.js';
import type { Tensor } from '../src/tensor/tensor.js';
import { Rng } from '../src/util/rng.js';
import { esc, niceAxis } from './chart.js';
import {
  addWaltRatios,
  attentionRefSampled,
  benchEnv,
  byScope,
  gpuTimes,
  parseWindow,
  Progress,
  relErrorAt,
  repsFor,
  samplePairs,
  SCOPES,
  scopeHeader,
  summarize,
  timeRuns,
  WALT_SCOPE_NOTES,
  type Row,
  type Scope,
} from './harness.js';
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
  /** Timed runs per implementation, scope and case: enough for this much of ours (3…30), unless `reps`. */
  minTimeMs: number;
  /** Timed runs per implementation, scope and case over all rounds, fixed (rounded up to a multiple of `rounds`). */
  reps?: number;
  /**
   * This adapter's matmul GFLOP/s per dtype and scope, measured in the same run (e.g. at 1024³): adds
   * matmul_gflops and matmul_share = gflops / matmul_gflops to the rows of that dtype and scope.
   */
  matmulGflops?: Partial<Record<FloatDType, Partial<Record<Scope, number>>>>;
  /** Stops at the next measurement; rows are made from the runs measured so far. */
  signal?: AbortSignal;
  onRow: (row: Row) => void;
  log: (s: string) => void;
  /**
   * Rounds (default 1): every case, implementation and scope is timed in every round for its share of
   * the runs, so that a disturbance of the shared machine hits all of them alike; rows come after the
   * last round (or the interruption).
   */
  rounds?: number;
}

export interface AttentionBenchResult {
  rows: Row[];
  /** Markdown header of the result file: environment and how every implementation times every scope. */
  header: string;
}

/** Samples of one (case, implementation, scope) over the rounds. */
interface Acc {
  times: number[];
  gpuMs: number[];
  firstMs: number;
  err: number;
}

/** Relative error (max|Δ|/max|ref| over the sampled rows) under which a result counts as correct. */
export const OK_TOLERANCE = {
  walt: { f32: 1e-5, f16: 1e-2 },
  'walt-naive': { f32: 1e-5, f16: 2e-2 },
  peer: { f32: 5e-2, f16: 5e-2 },
} as const;

export const ATTENTION_COLUMNS = [
  'impl',
  'scope',
  'window',
  'heads',
  'head_dim',
  'dtype',
  'ms',
  'ms_min',
  'reps',
  'gflops',
  'walt_x',
  'walt_x_min',
  'gb_s',
  'matmul_share',
  'ok',
  'err',
  'err_abs',
  'first_ms',
];

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

/** One case of the sweep, built once (values, reference, our host inputs) and reused by every round. */
interface Case {
  name: string;
  dh: number;
  window: Dims3;
  p: Problem;
  ref: Map<number, number>;
  /** q, k, v in latent order as our upload takes them (f16: bits, converted before timing). */
  host: (Float32Array | Uint16Array)[];
  /** Timed runs per implementation and scope in each round (set at the case's first measurement). */
  perRound: number;
}

export async function benchAttention(ctx: GpuContext, o: AttentionBenchOptions): Promise<AttentionBenchResult> {
  const env = benchEnv(ctx);
  const rows: Row[] = [];
  const latent: Dims3 = o.latent;
  const rounds = Math.max(1, Math.floor(o.rounds ?? 1));
  const stopped = (): boolean => o.signal?.aborted === true;
  const notes = new Map<string, Partial<Record<Scope, string>>>([
    ['walt', WALT_SCOPE_NOTES],
    ['walt-naive', WALT_SCOPE_NOTES],
  ]);
  for (const dtype of o.dtypes) {
    if (stopped()) {
      break;
    }
    if (dtype === 'f16' && !ctx.caps.f16) {
      o.log(`f16 skipped: ${ctx.adapter.name} has no shader-f16`);
      continue;
    }
    const peers: AttentionPeer[] = [];
    for (const name of o.peers) {
      const r = await loadAttentionPeer(name, ctx.gpuInstance, dtype);
      if (r.peer) {
        peers.push(r.peer);
        notes.set(r.peer.impl, r.peer.scopeNotes);
      } else {
        o.log(`peer ${name} (${dtype}) skipped: ${r.skipped ?? 'unavailable'}`);
      }
    }
    try {
      const cases: Case[] = [];
      for (const dh of o.headDims) {
        for (const name of o.windows) {
          try {
            const window = parseWindow(name, latent);
            const width = o.heads * dh;
            const p = makeProblem(latent, window, o.batch, width, dtype, p32(name, dh));
            const pairs = samplePairs(p.windows, o.heads, p.nw, dh, p.tokens + p.nw);
            const ref = attentionRefSampled({ ...p, heads: o.heads, headDim: dh }, pairs);
            const host = [p.q, p.k, p.v].map((x) => {
              const lat = permuteRows(x, p, width, true);
              return dtype === 'f16' ? toF16Array(lat) : lat;
            });
            cases.push({ name, dh, window, p, ref, host, perRound: 0 });
          } catch (e) {
            o.log(`${name} skipped: ${e instanceof Error ? e.message : String(e)}`);
          }
        }
      }
      const acc = new Map<string, Acc>();
      const note = (key: string, times: number[], firstMs: number, err: number, gpuMs: number[] = []): void => {
        const a = acc.get(key);
        if (a) {
          a.times.push(...times);
          a.gpuMs.push(...gpuMs);
          a.err = Math.max(a.err, err);
        } else {
          acc.set(key, { times, gpuMs, firstMs, err });
        }
      };
      const progress = new Progress(rounds * cases.length, o.log);
      const fail = (what: string, e: unknown): void =>
        o.log(`${what} failed: ${e instanceof Error ? e.message.split('\n')[0] : String(e)}`);
      for (let round = 0; round < rounds && !stopped(); round++) {
        for (const c of cases) {
          if (stopped()) {
            break;
          }
          const { name, dh, window, p, ref, host } = c;
          const what = `${name} d${dh} ${dtype}`;
          progress.step(`${what}${rounds > 1 ? ` round ${round + 1}/${rounds}` : ''}`);
          const width = o.heads * dh;
          const opts = { latent, window, heads: o.heads, headDim: dh, batch: o.batch };
          const view = (t: Tensor) => ({ tensor: t, stride: width, offset: 0 });
          const upload = (): [Tensor, Tensor, Tensor] =>
            host.map((x) => ctx.upload(x, [p.tokens, width], dtype, 'bench.qkv')) as [Tensor, Tensor, Tensor];
          const check = (raw: ArrayBuffer): number =>
            relErrorAt(permuteRows(decode(raw, p.tokens * width, dtype), p, width, false), ref);
          // Ours: the fused kernel and the unfused baseline; device scope first (its first warm run
          // of the fused kernel sets the number of timed runs of every implementation of the case).
          for (const [impl, fn] of [
            ['walt', attention],
            ['walt-naive', attentionNaive],
          ] as const) {
            if (stopped()) {
              break;
            }
            const [tq, tk, tv] = upload();
            let out: Tensor | null = null;
            let coldMs: number | undefined;
            const encode = (): void => {
              out?.dispose();
              out = fn(ctx, view(tq), view(tk), view(tv), { ...opts, label: `bench.${impl}` });
            };
            try {
              if (!c.perRound) {
                const c0 = performance.now();
                encode();
                await ctx.sync();
                coldMs = performance.now() - c0;
                const w0 = performance.now();
                encode();
                await ctx.sync();
                const reps = o.reps ?? repsFor(performance.now() - w0, o.minTimeMs);
                c.perRound = Math.max(1, Math.ceil(reps / rounds));
              }
              const t = await timeRuns(
                async () => {
                  encode();
                  await ctx.sync();
                },
                { warmup: 1, reps: c.perRound },
              );
              const err = check(await (out as Tensor | null)!.readRaw());
              const gpu = round === rounds - 1 ? await gpuTimes(ctx, encode, Math.min(c.perRound, 5)) : [];
              note(`${name}|${dh}|${impl}|device`, t.times, coldMs ?? t.firstMs, err, gpu);
            } catch (e) {
              fail(`${impl} device ${what}`, e);
            } finally {
              (out as Tensor | null)?.dispose();
              for (const x of [tq, tk, tv]) {
                x.dispose();
              }
            }
            if (stopped() || !c.perRound) {
              continue;
            }
            try {
              const t = await timeRuns(
                async () => {
                  const [hq, hk, hv] = upload();
                  const r = fn(ctx, view(hq), view(hk), view(hv), { ...opts, label: `bench.${impl}` });
                  try {
                    return await r.readRaw();
                  } finally {
                    for (const x of [r, hq, hk, hv]) {
                      x.dispose();
                    }
                  }
                },
                { warmup: 1, reps: c.perRound },
              );
              note(`${name}|${dh}|${impl}|host`, t.times, t.firstMs, check(t.last));
            } catch (e) {
              fail(`${impl} host ${what}`, e);
            }
          }
          if (!c.perRound) {
            continue; // ours failed: nothing sets the run count of this case
          }
          // Peers (tfjs shares our Dawn instance; ORT runs its own Dawn on the same driver).
          for (const peer of peers) {
            for (const scope of peer.scopes) {
              if (stopped()) {
                break;
              }
              try {
                const r = await peer.attention(
                  p.q,
                  p.k,
                  p.v,
                  { batch: p.windows, tokens: p.nw, heads: o.heads, headDim: dh },
                  dtype,
                  scope,
                  { warmup: 1, reps: c.perRound },
                );
                note(`${name}|${dh}|${peer.impl}|${scope}`, r.times, r.firstMs, relErrorAt(r.out, ref));
              } catch (e) {
                fail(`${peer.impl} ${scope} ${what}`, e);
              }
            }
          }
        }
      }
      // Rows from the runs made (every round, or those before an interruption).
      const impls = ['walt', 'walt-naive', ...peers.map((q) => q.impl)];
      for (const c of cases) {
        const { name, dh, p, ref } = c;
        const width = o.heads * dh;
        const flops = attentionFlops(p.tokens, p.nw, dh, o.heads);
        const bytes = 4 * p.tokens * width * bytesPerElement(dtype);
        const caseRows: Row[] = [];
        for (const impl of impls) {
          for (const scope of SCOPES) {
            const a = acc.get(`${name}|${dh}|${impl}|${scope}`);
            if (!a) {
              continue;
            }
            const st = summarize(a.times);
            const gflops = flops / st.ms / 1e6;
            const mm = o.matmulGflops?.[dtype]?.[scope];
            const tol = impl === 'walt' || impl === 'walt-naive' ? OK_TOLERANCE[impl][dtype] : OK_TOLERANCE.peer[dtype];
            caseRows.push({
              impl,
              scope,
              window: name,
              heads: o.heads,
              head_dim: dh,
              dtype,
              latent: latent.join('x'),
              batch: o.batch,
              window_tokens: p.nw,
              ms: st.ms,
              ms_min: st.ms_min,
              reps: st.reps,
              gflops,
              gb_s: bytes / st.ms / 1e6,
              matmul_gflops: mm ?? null,
              matmul_share: mm ? gflops / mm : null,
              ok: a.err <= tol,
              err: a.err,
              // The same error in absolute terms (max|Δ|): err · max|ref| over the sampled rows.
              err_abs: a.err * maxAbs(ref),
              first_ms: a.firstMs,
              gpu_ms: a.gpuMs.length ? summarize(a.gpuMs).ms : null,
              adapter: env.adapter,
              software: env.software,
              date: env.date,
              commit: env.commit,
              rounds,
              variant: impl === 'walt' ? attentionTileName(attentionTileFor(dtype, dh, ctx.caps, p.nw)) : null,
            });
          }
        }
        addWaltRatios(caseRows, ['window', 'head_dim', 'dtype']);
        for (const r of byScope(caseRows)) {
          rows.push(r);
          o.onRow(r);
        }
      }
    } finally {
      for (const peer of peers) {
        await peer.dispose();
      }
    }
  }
  return { rows, header: scopeHeader(env, notes) };
}

/** Raw readback → f32 values (f16 decoded after timing). */
function decode(raw: ArrayBuffer, n: number, dtype: FloatDType): Float32Array {
  return dtype === 'f16' ? fromF16Array(new Uint16Array(raw, 0, n)) : new Float32Array(raw, 0, n);
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
 * check are drawn hatched. One scope only, the host scope where the rows have it (the headline:
 * bars of different scopes are never side by side). Hand-written SVG (convert with writeChart in
 * bench/chart.ts).
 */
export function attentionChart(all: readonly Row[]): { svg: string } {
  const scope = all.some((r) => r.scope === 'host') ? 'host' : String(all[0]?.scope ?? '');
  const rows = all.filter((r) => String(r.scope ?? '') === scope);
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
  const title = `Windowed attention, ${dtypes.join('/')}, head dim ${dims.join('/')}, ${heads} heads${
    scope ? `, ${scope} scope` : ''
  }`;
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
