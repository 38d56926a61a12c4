// walt bench <matmul|attention|model|kernels|extract> and walt profile: benchmarks, JSON lines on
// stdout with --json (nothing else there starts with '{'), a markdown table otherwise; --out DIR
// writes both to DIR (and a chart, SVG and PNG, where the bench draws one).
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { attentionChart, ATTENTION_COLUMNS, benchAttention } from '../../bench/attention.js';
import { writeChart } from '../../bench/chart.js';
import { benchExtract, EXTRACT_COLUMNS } from '../../bench/extract.js';
import { markdownTable, printJsonRow, type Row } from '../../bench/harness.js';
import { benchKernels, KERNELS_COLUMNS } from '../../bench/kernels.js';
import { benchMatmul } from '../../bench/matmul.js';
import { benchModel, MODEL_COLUMNS } from '../../bench/model.js';
import { KERNEL_COLUMNS, profileChart, runProfile, TRADEOFF_COLUMNS } from '../../bench/profile.js';
import { loadOrTune } from '../gpu/autotune.js';
import { SUPPORTED_HEAD_DIMS } from '../kernels/attention.js';
import { GpuContext } from '../gpu/context.js';
import { loadConfig } from '../model/config.js';
import { parseFloatDType, type FloatDType } from '../tensor/dtype.js';
import { writeBytesAtomic } from '../util/atomic.js';
import { flag, int, intList, optStr, parse, str, UsageError, type OptionSpec } from './args.js';

export const BENCH_HELP = `walt bench <matmul|attention|model|kernels|extract> [options]

walt bench matmul [--sizes 256,512,1024,2048] [--dtype f32|f16] [--json]
                  [--peers tfjs-webgpu,ort-webgpu,ort-cpu | --peers none] [--min-time-ms 1500]
                  [--out DIR] [--adapter NAME]
  M=N=K products through walt and, in the same process on the same adapter, the peers.
  Every result is checked against f64 CPU values before its time counts (ok, err).
  Rows: impl, m, n, k, dtype, ms (median wall, submit → done), gpu_ms (timestamps), gflops, ok,
  err, adapter, software, first_ms (cold, compilation included), reps, variant, date, commit.
  --out DIR also writes DIR/matmul-<dtype>-<date>.jsonl and .md.

walt bench attention [--quick] [--windows 1x16x16,5x4x4,5x8x8,5x16x16,full] [--latent 5x16x16]
                     [--heads 16] [--head-dim 64,72,80,96,104,112,128] [--batch 1] [--dtype f32,f16]
                     [--peers tfjs-webgpu,ort-webgpu,ort-webgpu-ops | --peers none]
                     [--rounds 1] [--min-time-ms 1500] [--matmul-size N] [--json] [--out DIR]
  Fused windowed attention (walt), our unfused three-pass baseline (walt-naive) and the peers in
  the same process on the same adapter: attention composed from tfjs-webgpu ops, onnxruntime's
  WebGPU MultiHeadAttention (ort-webgpu) and its plain-op graph (ort-webgpu-ops). Every result is
  checked against float64 values at sampled rows: err = max|Δ|/max|ref|; ok when err ≤ 1e-5 (ours,
  f32), 1e-2 (ours, f16), 5e-2 (peers). gflops = 4·N·N_w·head_dim·heads / time; gb_s counts q, k,
  v and o once; matmul_share = gflops / our matmul GFLOP/s at N³ measured first in the same run
  (N = --matmul-size: 1024 on a software adapter, 4096 on a GPU). --quick: head dim 64, 16 heads
  (width 1024), both dtypes where supported, 5 windows. --out DIR writes
  attention-<date>.{jsonl,md,svg,png}. --rounds R times every case R times in turn (fairer on a
  shared machine).

walt bench model --config L [--dtype f32,f16] [--frames 17 --size 128] [--warmup N] [--reps N]
                 [--torch] [--json] [--out DIR] [--adapter NAME]
  ms per clip of the encoder and the denoiser apart (and together), GFLOP/s from the FLOPs of
  spec §3.5/§4.12, peak GPU memory (weights + activations). Random weights. --torch adds the
  PyTorch reference (tools/reference, /usr/bin/python3) on this machine. On a software adapter
  the defaults are --warmup 0 --reps 1 (one L clip takes 15–30 minutes there: run it in the
  background, e.g. nohup … &).

walt bench kernels [--full] [--max-time-s 2] [--json] [--out DIR] [--adapter NAME]
  Per-family microbenchmarks (benny): matmul, conv3d, attention in GFLOP/s; layernorm,
  groupnorm, elementwise, softmax, reduce, patchify, adaln in GB/s. --full uses L-model sizes.

walt bench extract [--config test-tiny|L] [--compute f32|f16] [--torch] [--json] [--out DIR]
  The extraction job on a generated sample (6 videos): clips/s and frames/s, time in decode,
  encoder, denoiser (+ readback) and write; --torch adds the PyTorch reference's model time per
  clip on this machine. L on a software adapter takes hours: run it in the background.
`;

export const PROFILE_HELP = `walt profile --config NAME [--windows 5x4x4,5x8x8,5x16x16,full] [--dtype f32|f16]
             [--reps 3] [--warmup 1] [--no-encoder] [--json] [--out DIR] [--adapter NAME]

1. One forward pass (encoder + denoiser) with a GPU timestamp around every dispatch, grouped by
   kernel family (conv3d, groupnorm, matmul, attention, norms, elementwise) and by layer kind
   (encoder, spatial, spatiotemporal, denoiser other).
2. The window-size tradeoff of the W.A.L.T paper's Table 3b: for each spatiotemporal window
   (windows that do not tile the latent are skipped), denoiser passes per second, relative to
   full attention, attention's share of GPU time, FLOPs (spec §4.12), GFLOP/s, peak memory.
Random weights. Tables on stdout (JSON lines with --json); --out DIR writes them with a chart
(profile-<config>-tradeoff-<date>.svg/.png). --reps: timed passes per window, median reported
(default 3; on a software adapter 5, or 1 for models above 50 GFLOP per pass). --warmup: untimed
passes first (default 1; 0 on a software adapter for models above 50 GFLOP per pass, such as L:
run those in the background).
`;

const MATMUL_COLUMNS = ['impl', 'm', 'n', 'k', 'dtype', 'ms', 'gpu_ms', 'gflops', 'ok', 'err', 'first_ms', 'variant'];

type Values = Record<string, string | boolean | undefined>;

/** One table a bench returns: rows, the columns of its markdown, and optionally a chart. */
interface Table {
  name: string;
  rows: Row[];
  columns: string[];
  /** Markdown written above the table (e.g. the reference matmul rate). */
  header?: string;
  /** SVG of the chart: --out writes it as .svg and .png. */
  chart?: string;
}

async function openBenchContext(adapter: string | undefined): Promise<GpuContext> {
  const ctx = await GpuContext.create(adapter ? { adapter } : {});
  if (ctx.adapter.isSoftware) {
    process.stderr.write(
      `walt bench: ${ctx.adapter.name} is a SOFTWARE adapter: rows are marked software: true; compare implementations only within this run.\n`,
    );
  }
  const t = await loadOrTune(ctx, { log: (s) => process.stderr.write(`  tune: ${s}\n`) });
  process.stderr.write(`walt bench: tuning ${t.tuned ? 'written to' : 'from'} ${t.path}\n`);
  return ctx;
}

/** Writes a table's files under `dir` (each atomically, so a result is never half-written). */
async function writeResults(dir: string | undefined, t: Table): Promise<void> {
  if (!dir) {
    return;
  }
  mkdirSync(dir, { recursive: true });
  const stamp = new Date().toISOString().slice(0, 19).replace(/[:T]/g, '-');
  const base = join(dir, `${t.name}-${stamp}`);
  await writeBytesAtomic(`${base}.jsonl`, t.rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
  await writeBytesAtomic(`${base}.md`, `${t.header ? `${t.header}\n\n` : ''}${markdownTable(t.rows, t.columns)}`);
  if (t.chart) {
    await writeChart(`${base}.svg`, t.chart);
    await writeChart(`${base}.png`, t.chart);
  }
  process.stderr.write(`walt bench: wrote ${base}.{jsonl,md${t.chart ? ',svg,png' : ''}}\n`);
}

/** One bench: its own options, whether it needs a GPU context, and its tables. */
interface BenchSpec {
  options: OptionSpec;
  /** Opens a bench context (tuned) for `run`; false when the bench opens its own. */
  gpu: boolean;
  run: (v: Values, ctx: GpuContext | null, emit: (r: Row) => void, log: (s: string) => void) => Promise<Table[]>;
}

const log = (m: string): void => {
  process.stderr.write(`walt bench: ${m}\n`);
};

const BENCHES: Record<string, BenchSpec> = {
  matmul: {
    options: {
      sizes: { type: 'string' },
      dtype: { type: 'string' },
      peers: { type: 'string' },
      'min-time-ms': { type: 'string' },
    },
    gpu: true,
    run: async (v, ctx, emit, say) => {
      const sizes = intList(str(v, 'sizes', '256,512,1024,2048'), 'sizes');
      if (sizes.some((x) => x < 1)) {
        throw new UsageError('--sizes must be positive integers');
      }
      const dtype = parseFloatDType(str(v, 'dtype', 'f32'));
      if (dtype === 'f16' && !ctx!.caps.f16) {
        throw new UsageError(`--dtype f16: ${ctx!.adapter.name} has no shader-f16`);
      }
      const peersArg = str(v, 'peers', 'tfjs-webgpu,ort-webgpu,ort-cpu');
      const rows = await benchMatmul(ctx!, {
        sizes,
        dtype,
        peers: peersArg === 'none' ? [] : peersArg.split(',').filter(Boolean),
        minTimeMs: int(v, 'min-time-ms', 1500, 0),
        onRow: emit,
        log: say,
      });
      return [{ name: `matmul-${dtype}`, rows, columns: MATMUL_COLUMNS }];
    },
  },
  attention: {
    options: {
      quick: { type: 'boolean' },
      windows: { type: 'string' },
      latent: { type: 'string' },
      heads: { type: 'string' },
      'head-dim': { type: 'string' },
      batch: { type: 'string' },
      dtype: { type: 'string' },
      peers: { type: 'string' },
      rounds: { type: 'string' },
      'min-time-ms': { type: 'string' },
      'matmul-size': { type: 'string' },
    },
    gpu: true,
    run: async (v, ctx, emit, say) => {
      const c = ctx!;
      const quick = flag(v, 'quick');
      const latent = intList(str(v, 'latent', '5x16x16').replace(/x/g, ','), 'latent');
      if (latent.length !== 3 || latent.some((x) => x < 1)) {
        throw new UsageError(`--latent must be TxHxW with positive sizes (e.g. 5x16x16), got '${str(v, 'latent')}'`);
      }
      const headDims = intList(str(v, 'head-dim', quick ? '64' : '64,72,80,96,104,112,128'), 'head-dim');
      const bad = headDims.filter((d) => !(SUPPORTED_HEAD_DIMS as readonly number[]).includes(d));
      if (bad.length) {
        throw new UsageError(`--head-dim ${bad.join(',')}: supported head dims are ${SUPPORTED_HEAD_DIMS.join(', ')}`);
      }
      const dtypes = str(v, 'dtype', 'f32,f16')
        .split(',')
        .filter(Boolean)
        .map((d) => parseFloatDType(d));
      if (dtypes.includes('f16') && !c.caps.f16) {
        say(`f16 skipped: ${c.adapter.name} has no shader-f16`);
      }
      const usable = dtypes.filter((d) => d === 'f32' || c.caps.f16);
      // The reference matmul rate of this adapter, in this run (our own tuned matmul, N³).
      const size = int(v, 'matmul-size', c.adapter.isSoftware ? 1024 : 4096, 64);
      const matmulGflops: Partial<Record<FloatDType, number>> = {};
      const header: string[] = [];
      for (const dtype of usable) {
        const mm = await benchMatmul(c, {
          sizes: [size],
          dtype,
          peers: [],
          minTimeMs: 1000,
          onRow: () => {},
          log: say,
        });
        const r = mm.find((x) => x.impl === 'walt' && x.ok === true);
        if (r) {
          matmulGflops[dtype] = r.gflops as number;
          const line = `matmul ${size}³ ${dtype}: ${(r.ms as number).toFixed(1)} ms, ${(r.gflops as number).toFixed(2)} GFLOP/s (walt, same run: the reference of matmul_share)`;
          header.push(line);
          say(line);
        }
      }
      const peersArg = str(v, 'peers', 'tfjs-webgpu,ort-webgpu,ort-webgpu-ops');
      const rows = await benchAttention(c, {
        windows: str(v, 'windows', '1x16x16,5x4x4,5x8x8,5x16x16,full').split(',').filter(Boolean),
        latent: latent as [number, number, number],
        heads: int(v, 'heads', 16, 1),
        headDims,
        batch: int(v, 'batch', 1, 1),
        dtypes: usable,
        peers: peersArg === 'none' ? [] : peersArg.split(',').filter(Boolean),
        minTimeMs: int(v, 'min-time-ms', quick ? 1000 : 1500, 0),
        rounds: int(v, 'rounds', 1, 1),
        matmulGflops,
        onRow: emit,
        log: say,
      });
      return [
        {
          name: 'attention',
          rows,
          columns: ATTENTION_COLUMNS,
          header: header.join('\n\n'),
          ...(rows.length ? { chart: attentionChart(rows).svg } : {}),
        },
      ];
    },
  },
  model: {
    options: {
      config: { type: 'string' },
      dtype: { type: 'string' },
      frames: { type: 'string' },
      size: { type: 'string' },
      warmup: { type: 'string' },
      reps: { type: 'string' },
      torch: { type: 'boolean' },
    },
    gpu: true,
    run: async (v, ctx, emit, say) => {
      const config = loadConfig(str(v, 'config', 'L'));
      if (v.frames !== undefined || v.size !== undefined) {
        const size = int(v, 'size', config.pixels[1], 8);
        config.pixels = [int(v, 'frames', config.pixels[0], 1), size, size];
      }
      const soft = ctx!.adapter.isSoftware;
      const rows = await benchModel(ctx!, {
        config,
        dtypes: str(v, 'dtype', 'f32,f16')
          .split(',')
          .map((d) => parseFloatDType(d)),
        warmup: int(v, 'warmup', soft ? 0 : 1, 0),
        reps: int(v, 'reps', soft ? 1 : 3, 1),
        torch: flag(v, 'torch'),
        onRow: emit,
        log: say,
      });
      return [{ name: `model-${config.name}`, rows, columns: MODEL_COLUMNS }];
    },
  },
  kernels: {
    options: { full: { type: 'boolean' }, 'max-time-s': { type: 'string' } },
    gpu: true,
    run: async (v, ctx, emit, say) => {
      const rows = await benchKernels(ctx!, {
        full: flag(v, 'full'),
        maxTimeS: int(v, 'max-time-s', 2, 0),
        onRow: emit,
        log: say,
      });
      return [{ name: 'kernels', rows, columns: KERNELS_COLUMNS }];
    },
  },
  extract: {
    options: { config: { type: 'string' }, compute: { type: 'string' }, torch: { type: 'boolean' } },
    gpu: false,
    run: async (v, _ctx, emit, say) => {
      const adapter = optStr(v, 'adapter');
      const rows = await benchExtract({
        config: loadConfig(str(v, 'config', 'test-tiny')),
        compute: parseFloatDType(str(v, 'compute', 'f32'), '--compute'),
        torch: flag(v, 'torch'),
        ...(adapter ? { adapter } : {}),
        onRow: emit,
        log: say,
      });
      return [{ name: 'extract', rows, columns: EXTRACT_COLUMNS }];
    },
  },
  profile: {
    options: {
      config: { type: 'string' },
      windows: { type: 'string' },
      dtype: { type: 'string' },
      reps: { type: 'string' },
      warmup: { type: 'string' },
      'no-encoder': { type: 'boolean' },
    },
    gpu: true,
    run: async (v, ctx, emit, say) => {
      if (!ctx!.device.features.has('timestamp-query')) {
        throw new UsageError(`${ctx!.adapter.name} has no timestamp-query: per-kernel times are unavailable`);
      }
      const config = loadConfig(str(v, 'config', 'test-tiny'));
      const r = await runProfile(ctx!, {
        config,
        dtype: parseFloatDType(str(v, 'dtype', 'f32')),
        windows: str(v, 'windows', '5x4x4,5x8x8,5x16x16,full').split(','),
        ...(v.reps !== undefined ? { reps: int(v, 'reps', 3, 1) } : {}),
        ...(v.warmup !== undefined ? { warmup: int(v, 'warmup', 1, 0) } : {}),
        encoder: !flag(v, 'no-encoder'),
        onRow: emit,
        log: say,
      });
      return [
        { name: `profile-${config.name}-kernels`, rows: r.kernels, columns: KERNEL_COLUMNS },
        {
          name: `profile-${config.name}-tradeoff`,
          rows: r.tradeoff,
          columns: TRADEOFF_COLUMNS,
          chart: profileChart(r),
        },
      ];
    },
  },
};

async function runBench(what: string, argv: string[], help: string): Promise<number> {
  const spec = BENCHES[what];
  if (!spec) {
    throw new UsageError(
      `unknown bench '${what}' (${Object.keys(BENCHES)
        .filter((b) => b !== 'profile')
        .join(', ')})`,
    );
  }
  const { values } = parse(what === 'profile' ? 'profile' : `bench ${what}`, argv, {
    ...spec.options,
    json: { type: 'boolean' },
    out: { type: 'string' },
    adapter: { type: 'string' },
  });
  if (flag(values, 'help')) {
    process.stdout.write(help);
    return 0;
  }
  const json = flag(values, 'json');
  const ctx = spec.gpu ? await openBenchContext(optStr(values, 'adapter')) : null;
  try {
    const tables = await spec.run(values, ctx, (r) => (json ? printJsonRow(r) : undefined), log);
    for (const t of tables) {
      if (!json) {
        process.stdout.write(
          `${tables.length > 1 ? `## ${t.name}\n\n` : ''}${t.header ? `${t.header}\n\n` : ''}${markdownTable(t.rows, t.columns)}\n`,
        );
      }
      await writeResults(optStr(values, 'out'), t);
    }
  } finally {
    await ctx?.close();
  }
  return 0;
}

export async function benchCommand(argv: string[]): Promise<number> {
  const [what, ...rest] = argv;
  if (what === undefined || what === '--help' || what === '-h') {
    process.stdout.write(BENCH_HELP);
    return 0;
  }
  return runBench(what, rest, BENCH_HELP);
}

export function profileCommand(argv: string[]): Promise<number> {
  return runBench('profile', argv, PROFILE_HELP);
}
