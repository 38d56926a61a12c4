// walt bench <matmul|…>: benchmarks, JSON lines on stdout with --json, a markdown table otherwise.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { benchExtract, EXTRACT_COLUMNS } from '../../bench/extract.js';
import { benchKernels, KERNELS_COLUMNS } from '../../bench/kernels.js';
import { benchMatmul } from '../../bench/matmul.js';
import { benchModel, MODEL_COLUMNS } from '../../bench/model.js';
import { KERNEL_COLUMNS, runProfile, TRADEOFF_COLUMNS } from '../../bench/profile.js';
import { loadConfig } from '../model/config.js';
import { markdownTable, printJsonRow, type Row } from '../../bench/harness.js';
import { loadOrTune } from '../gpu/autotune.js';
import { GpuContext } from '../gpu/context.js';
import { parseFloatDType } from '../tensor/dtype.js';
import { flag, int, intList, optStr, parse, str, UsageError } from './args.js';

export const BENCH_HELP = `walt bench <matmul|model|kernels|extract> [options]

walt bench matmul [--sizes 256,512,1024,2048] [--dtype f32|f16] [--json]
                  [--peers tfjs-webgpu,ort-webgpu,ort-cpu | --peers none] [--min-time-ms 1500]
                  [--out DIR] [--adapter NAME]
  M=N=K products through walt and, in the same process on the same adapter, the peers.
  Every result is checked against f64 CPU values before its time counts (ok, err).
  Rows: impl, m, n, k, dtype, ms (median wall, submit → done), gpu_ms (timestamps), gflops, ok,
  err, adapter, software, first_ms (cold, compilation included), reps, variant, date, commit.
  --out DIR also writes DIR/matmul-<dtype>-<date>.jsonl and .md.

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

const MATMUL_COLUMNS = ['impl', 'm', 'n', 'k', 'dtype', 'ms', 'gpu_ms', 'gflops', 'ok', 'err', 'first_ms', 'variant'];

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

function writeResults(dir: string | undefined, name: string, rows: Row[], columns: string[]): void {
  if (!dir) {
    return;
  }
  mkdirSync(dir, { recursive: true });
  const stamp = new Date().toISOString().slice(0, 19).replace(/[:T]/g, '-');
  writeFileSync(join(dir, `${name}-${stamp}.jsonl`), rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
  writeFileSync(join(dir, `${name}-${stamp}.md`), markdownTable(rows, columns));
  process.stderr.write(`walt bench: wrote ${join(dir, `${name}-${stamp}.{jsonl,md}`)}\n`);
}

export async function benchCommand(argv: string[]): Promise<number> {
  const [what, ...rest] = argv;
  if (what === undefined || what === '--help' || what === '-h') {
    process.stdout.write(BENCH_HELP);
    return 0;
  }
  switch (what) {
    case 'matmul': {
      const { values } = parse('bench matmul', rest, {
        sizes: { type: 'string' },
        dtype: { type: 'string' },
        json: { type: 'boolean' },
        peers: { type: 'string' },
        'min-time-ms': { type: 'string' },
        out: { type: 'string' },
        adapter: { type: 'string' },
      });
      if (flag(values, 'help')) {
        process.stdout.write(BENCH_HELP);
        return 0;
      }
      const sizes = intList(str(values, 'sizes', '256,512,1024,2048'), 'sizes');
      if (sizes.some((s) => s < 1)) {
        throw new UsageError('--sizes must be positive integers');
      }
      const dtype = parseFloatDType(str(values, 'dtype', 'f32'));
      const peersArg = str(values, 'peers', 'tfjs-webgpu,ort-webgpu,ort-cpu');
      const peers = peersArg === 'none' ? [] : peersArg.split(',').filter(Boolean);
      const json = flag(values, 'json');
      const ctx = await openBenchContext(optStr(values, 'adapter'));
      try {
        if (dtype === 'f16' && !ctx.caps.f16) {
          throw new UsageError(`--dtype f16: ${ctx.adapter.name} has no shader-f16`);
        }
        const rows = await benchMatmul(ctx, {
          sizes,
          dtype,
          peers,
          minTimeMs: int(values, 'min-time-ms', 1500, 0),
          onRow: (r) => (json ? printJsonRow(r) : undefined),
          log: (s) => process.stderr.write(`walt bench: ${s}\n`),
        });
        if (!json) {
          process.stdout.write(markdownTable(rows, MATMUL_COLUMNS));
        }
        writeResults(optStr(values, 'out'), `matmul-${dtype}`, rows, MATMUL_COLUMNS);
      } finally {
        await ctx.close();
      }
      return 0;
    }
    case 'model': {
      const { values } = parse('bench model', rest, {
        config: { type: 'string' },
        dtype: { type: 'string' },
        frames: { type: 'string' },
        size: { type: 'string' },
        warmup: { type: 'string' },
        reps: { type: 'string' },
        torch: { type: 'boolean' },
        json: { type: 'boolean' },
        out: { type: 'string' },
        adapter: { type: 'string' },
      });
      if (flag(values, 'help')) {
        process.stdout.write(BENCH_HELP);
        return 0;
      }
      const config = loadConfig(str(values, 'config', 'L'));
      if (values.frames !== undefined || values.size !== undefined) {
        const size = int(values, 'size', config.pixels[1], 8);
        config.pixels = [int(values, 'frames', config.pixels[0], 1), size, size];
      }
      const dtypes = str(values, 'dtype', 'f32,f16')
        .split(',')
        .map((d) => parseFloatDType(d));
      const json = flag(values, 'json');
      const ctx = await openBenchContext(optStr(values, 'adapter'));
      try {
        const soft = ctx.adapter.isSoftware;
        const rows = await benchModel(ctx, {
          config,
          dtypes,
          warmup: int(values, 'warmup', soft ? 0 : 1, 0),
          reps: int(values, 'reps', soft ? 1 : 3, 1),
          torch: flag(values, 'torch'),
          onRow: (r) => (json ? printJsonRow(r) : undefined),
          log: (m) => process.stderr.write(`walt bench: ${m}\n`),
        });
        if (!json) {
          process.stdout.write(markdownTable(rows, MODEL_COLUMNS));
        }
        writeResults(optStr(values, 'out'), `model-${config.name}`, rows, MODEL_COLUMNS);
      } finally {
        await ctx.close();
      }
      return 0;
    }
    case 'kernels': {
      const { values } = parse('bench kernels', rest, {
        full: { type: 'boolean' },
        'max-time-s': { type: 'string' },
        json: { type: 'boolean' },
        out: { type: 'string' },
        adapter: { type: 'string' },
      });
      if (flag(values, 'help')) {
        process.stdout.write(BENCH_HELP);
        return 0;
      }
      const json = flag(values, 'json');
      const ctx = await openBenchContext(optStr(values, 'adapter'));
      try {
        const rows = await benchKernels(ctx, {
          full: flag(values, 'full'),
          maxTimeS: int(values, 'max-time-s', 2, 0),
          onRow: (r) => (json ? printJsonRow(r) : undefined),
          log: (m) => process.stderr.write(`walt bench: ${m}\n`),
        });
        if (!json) {
          process.stdout.write(markdownTable(rows, KERNELS_COLUMNS));
        }
        writeResults(optStr(values, 'out'), 'kernels', rows, KERNELS_COLUMNS);
      } finally {
        await ctx.close();
      }
      return 0;
    }
    case 'extract': {
      const { values } = parse('bench extract', rest, {
        config: { type: 'string' },
        compute: { type: 'string' },
        torch: { type: 'boolean' },
        json: { type: 'boolean' },
        out: { type: 'string' },
        adapter: { type: 'string' },
      });
      if (flag(values, 'help')) {
        process.stdout.write(BENCH_HELP);
        return 0;
      }
      const json = flag(values, 'json');
      const adapter = optStr(values, 'adapter');
      const rows = await benchExtract({
        config: loadConfig(str(values, 'config', 'test-tiny')),
        compute: parseFloatDType(str(values, 'compute', 'f32'), '--compute'),
        torch: flag(values, 'torch'),
        ...(adapter ? { adapter } : {}),
        onRow: (r) => (json ? printJsonRow(r) : undefined),
        log: (m) => process.stderr.write(`walt bench: ${m}\n`),
      });
      if (!json) {
        process.stdout.write(markdownTable(rows, EXTRACT_COLUMNS));
      }
      writeResults(optStr(values, 'out'), 'extract', rows, EXTRACT_COLUMNS);
      return 0;
    }
    default:
      throw new UsageError(`unknown bench '${what}' (matmul, model, kernels, extract)`);
  }
}

export const PROFILE_HELP = `walt profile --config NAME [--windows 5x4x4,5x8x8,5x16x16,full] [--dtype f32|f16]
             [--reps 3] [--no-encoder] [--json] [--out DIR] [--adapter NAME]

1. One forward pass (encoder + denoiser) with a GPU timestamp around every dispatch, grouped by
   kernel family (conv3d, groupnorm, matmul, attention, norms, elementwise) and by layer kind
   (encoder, spatial, spatiotemporal, denoiser other).
2. The window-size tradeoff of the W.A.L.T paper's Table 3b: for each spatiotemporal window
   (windows that do not tile the latent are skipped), denoiser passes per second, relative to
   full attention, attention's share of GPU time, FLOPs (spec §4.12), GFLOP/s, peak memory.
Random weights. Tables on stdout (JSON lines with --json); --out DIR writes them with a chart.
`;

export async function profileCommand(argv: string[]): Promise<number> {
  const { values } = parse('profile', argv, {
    config: { type: 'string' },
    windows: { type: 'string' },
    dtype: { type: 'string' },
    reps: { type: 'string' },
    'no-encoder': { type: 'boolean' },
    json: { type: 'boolean' },
    out: { type: 'string' },
    adapter: { type: 'string' },
  });
  if (flag(values, 'help')) {
    process.stdout.write(PROFILE_HELP);
    return 0;
  }
  const config = loadConfig(str(values, 'config', 'test-tiny'));
  const json = flag(values, 'json');
  const ctx = await openBenchContext(optStr(values, 'adapter'));
  try {
    if (!ctx.device.features.has('timestamp-query')) {
      throw new UsageError(`${ctx.adapter.name} has no timestamp-query: per-kernel times are unavailable`);
    }
    const r = await runProfile(ctx, {
      config,
      dtype: parseFloatDType(str(values, 'dtype', 'f32')),
      windows: str(values, 'windows', '5x4x4,5x8x8,5x16x16,full').split(','),
      reps: int(values, 'reps', ctx.adapter.isSoftware ? 1 : 3, 1),
      encoder: !flag(values, 'no-encoder'),
      onRow: (row) => (json ? printJsonRow(row) : undefined),
      log: (m) => process.stderr.write(`walt profile: ${m}\n`),
    });
    if (!json) {
      process.stdout.write(
        `## ${config.name}: GPU time per kernel family and layer kind\n\n${markdownTable(r.kernels, KERNEL_COLUMNS)}\n`,
      );
      process.stdout.write(
        `## ${config.name}: window-size tradeoff (denoiser forward)\n\n${markdownTable(r.tradeoff, TRADEOFF_COLUMNS)}`,
      );
    }
    writeResults(optStr(values, 'out'), `profile-${config.name}-kernels`, r.kernels, KERNEL_COLUMNS);
    writeResults(optStr(values, 'out'), `profile-${config.name}-tradeoff`, r.tradeoff, TRADEOFF_COLUMNS);
  } finally {
    await ctx.close();
  }
  return 0;
}
