// walt bench <matmul|attention|model|kernels|extract|readout|train> and walt profile: benchmarks. With --json,
// stdout carries only the result rows, one JSON object per line (everything else, progress
// included, goes to stderr); otherwise a markdown table. --out DIR writes both to DIR (and a chart,
// SVG and PNG, where the bench draws one). Ctrl-C or --timeout-s stops at the next measurement and
// still writes the rows measured so far; a sweep in which every case is skipped exits 1.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { attentionChart, ATTENTION_COLUMNS, benchAttention } from '../../bench/attention.js';
import { writeChart } from '../../bench/chart.js';
import { benchExtract, EXTRACT_COLUMNS } from '../../bench/extract.js';
import { markdownTable, type Row, type Scope } from '../../bench/harness.js';
import { benchKernels, KERNELS_COLUMNS } from '../../bench/kernels.js';
import { benchMatmul, MATMUL_COLUMNS } from '../../bench/matmul.js';
import { benchModel, MODEL_COLUMNS } from '../../bench/model.js';
import { benchReadout, READOUT_COLUMNS } from '../../bench/readout.js';
import { benchTrainReadout, TRAIN_READOUT_COLUMNS } from '../../bench/train-readout.js';
import { KERNEL_COLUMNS, profileChart, runProfile, TRADEOFF_COLUMNS } from '../../bench/profile.js';
import { loadOrTune } from '../kernels/tuning.js';
import { SUPPORTED_HEAD_DIMS } from '../kernels/attention.js';
import { GpuContext } from '../gpu/context.js';
import { loadConfig } from '../model/config.js';
import { HeadSpecError } from '../readout/spec.js';
import { parseFloatDType, type FloatDType } from '../tensor/dtype.js';
import { writeBytesAtomic } from '../util/atomic.js';
import { flag, gridOpt, int, intList, optStr, parse, positiveList, str, UsageError, type OptionSpec } from './args.js';
import { workerUrl } from './train-cmds.js';
import { BENCH_HELP, PROFILE_HELP } from './bench-help.js';

export { BENCH_HELP, PROFILE_HELP };

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
async function writeResults(dir: string | undefined, t: Table, note = ''): Promise<void> {
  if (!dir) {
    return;
  }
  if (t.rows.length === 0) {
    process.stderr.write(`walt bench: ${t.name}: no rows, nothing written\n`);
    return;
  }
  mkdirSync(dir, { recursive: true });
  const stamp = new Date().toISOString().slice(0, 19).replace(/[:T]/g, '-');
  const base = join(dir, `${t.name}-${stamp}`);
  const header = [note, t.header].filter(Boolean).join('\n\n');
  await writeBytesAtomic(`${base}.jsonl`, t.rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
  await writeBytesAtomic(`${base}.md`, `${header ? `${header}\n\n` : ''}${markdownTable(t.rows, t.columns)}`);
  if (t.chart) {
    await writeChart(`${base}.svg`, t.chart);
    await writeChart(`${base}.png`, t.chart);
  }
  process.stderr.write(`walt bench: wrote ${base}.{jsonl,md${t.chart ? ',svg,png' : ''}}\n`);
}

/** What a bench's run gets: its options, the context, where rows and messages go, the stop signal. */
interface RunArgs {
  v: Values;
  ctx: GpuContext | null;
  emit: (r: Row) => void;
  say: (s: string) => void;
  signal: AbortSignal;
}

/** One bench: its own options, whether it needs a GPU context, and its tables. */
interface BenchSpec {
  options: OptionSpec;
  /** Opens a bench context (tuned) for `run`; false when the bench opens its own. */
  gpu: boolean;
  /** The table written from the rows emitted so far when a bench is stopped before it returns. */
  partial: (v: Values) => { name: string; columns: string[] };
  run: (a: RunArgs) => Promise<Table[]>;
}

const log = (m: string): void => {
  process.stderr.write(`walt bench: ${m}\n`);
};

/** Timed runs per implementation and scope (--reps), when given. */
function repsOption(v: Values): { reps?: number } {
  return v.reps !== undefined ? { reps: int(v, 'reps', 1, 1) } : {};
}

const BENCHES: Record<string, BenchSpec> = {
  matmul: {
    options: {
      sizes: { type: 'string' },
      dtype: { type: 'string' },
      peers: { type: 'string' },
      reps: { type: 'string' },
      'min-time-ms': { type: 'string' },
    },
    gpu: true,
    partial: (v) => ({ name: `matmul-${str(v, 'dtype', 'f32')}`, columns: MATMUL_COLUMNS }),
    run: async ({ v, ctx, emit, say, signal }) => {
      const sizes = intList(str(v, 'sizes', '256,512,1024,2048'), 'sizes');
      if (sizes.some((x) => x < 1)) {
        throw new UsageError('--sizes must be positive integers');
      }
      const dtype = parseFloatDType(str(v, 'dtype', 'f32'));
      if (dtype === 'f16' && !ctx!.caps.f16) {
        throw new UsageError(`--dtype f16: ${ctx!.adapter.name} has no shader-f16`);
      }
      const peersArg = str(v, 'peers', 'tfjs-webgpu,ort-webgpu,ort-cpu');
      const r = await benchMatmul(ctx!, {
        sizes,
        dtype,
        peers: peersArg === 'none' ? [] : peersArg.split(',').filter(Boolean),
        minTimeMs: int(v, 'min-time-ms', 1500, 0),
        ...repsOption(v),
        signal,
        onRow: emit,
        log: say,
      });
      return [{ name: `matmul-${dtype}`, rows: r.rows, columns: MATMUL_COLUMNS, header: r.header }];
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
      reps: { type: 'string' },
      'min-time-ms': { type: 'string' },
      'matmul-size': { type: 'string' },
    },
    gpu: true,
    partial: () => ({ name: 'attention', columns: ATTENTION_COLUMNS }),
    run: async ({ v, ctx, emit, say, signal }) => {
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
      // The reference matmul rate of this adapter, in this run (our own tuned matmul, N³), per scope.
      const size = int(v, 'matmul-size', c.adapter.isSoftware ? 1024 : 4096, 64);
      const matmulGflops: Partial<Record<FloatDType, Partial<Record<Scope, number>>>> = {};
      const header: string[] = [];
      for (const dtype of usable) {
        const mm = await benchMatmul(c, {
          sizes: [size],
          dtype,
          peers: [],
          minTimeMs: 1000,
          signal,
          onRow: () => {},
          log: say,
        });
        for (const r of mm.rows.filter((x) => x.impl === 'walt' && x.ok === true)) {
          (matmulGflops[dtype] ??= {})[r.scope as Scope] = r.gflops as number;
          const line = `matmul ${size}³ ${dtype} ${String(r.scope)}: ${(r.ms as number).toFixed(1)} ms, ${(r.gflops as number).toFixed(2)} GFLOP/s (walt, same run: the reference of matmul_share in that scope)`;
          header.push(line);
          say(line);
        }
      }
      const peersArg = str(v, 'peers', 'tfjs-webgpu,ort-webgpu,ort-webgpu-ops');
      const r = await benchAttention(c, {
        windows: str(v, 'windows', '1x16x16,5x4x4,5x8x8,5x16x16,full').split(',').filter(Boolean),
        latent: latent as [number, number, number],
        heads: int(v, 'heads', 16, 1),
        headDims,
        batch: int(v, 'batch', 1, 1),
        dtypes: usable,
        peers: peersArg === 'none' ? [] : peersArg.split(',').filter(Boolean),
        minTimeMs: int(v, 'min-time-ms', quick ? 1000 : 1500, 0),
        ...repsOption(v),
        rounds: int(v, 'rounds', 1, 1),
        matmulGflops,
        signal,
        onRow: emit,
        log: say,
      });
      return [
        {
          name: 'attention',
          rows: r.rows,
          columns: ATTENTION_COLUMNS,
          header: [r.header, ...header].join('\n\n'),
          ...(r.rows.length ? { chart: attentionChart(r.rows).svg } : {}),
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
    partial: (v) => ({ name: `model-${str(v, 'config', 'L')}`, columns: MODEL_COLUMNS }),
    run: async ({ v, ctx, emit, say, signal }) => {
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
        signal,
        onRow: emit,
        log: say,
      });
      return [{ name: `model-${config.name}`, rows, columns: MODEL_COLUMNS }];
    },
  },
  readout: {
    options: {
      head: { type: 'string' },
      batch: { type: 'string' },
      reps: { type: 'string' },
      grid: { type: 'string' },
      form: { type: 'string' },
    },
    gpu: true,
    partial: (v) => ({ name: `readout-${str(v, 'head', 'k400')}`, columns: READOUT_COLUMNS }),
    run: async ({ v, ctx, emit, say, signal }) => {
      const head = str(v, 'head', 'k400');
      const form = optStr(v, 'form');
      if (form !== undefined && form !== 'fast' && form !== 'direct') {
        throw new UsageError(`--form ${form}: expected fast or direct (default: both)`);
      }
      let rows;
      try {
        rows = await benchReadout(ctx!, {
          head,
          batch: int(v, 'batch', 8, 1),
          reps: int(v, 'reps', ctx!.adapter.isSoftware ? 2 : 10, 1),
          grid: gridOpt(v) ?? [32, 32],
          ...(form ? { forms: [form] } : {}),
          signal,
          onRow: emit,
          log: say,
        });
      } catch (e) {
        if (e instanceof HeadSpecError) {
          throw new UsageError(`--head: ${e.message}`);
        }
        throw e;
      }
      return [{ name: `readout-${head}`, rows, columns: READOUT_COLUMNS }];
    },
  },
  train: {
    options: {
      clips: { type: 'string' },
      steps: { type: 'string' },
      batch: { type: 'string' },
      grid: { type: 'string' },
      sweep: { type: 'string' },
    },
    gpu: false,
    partial: () => ({ name: 'train', columns: TRAIN_READOUT_COLUMNS }),
    run: async ({ v, emit, say }) => {
      const sweepText = str(v, 'sweep', '1e-4,3e-4,1e-3');
      const sweep =
        sweepText === 'none'
          ? []
          : positiveList(sweepText, 'sweep', 'positive learning rate', ' (or pass --sweep none)');
      const adapter = optStr(v, 'adapter');
      const worker = workerUrl();
      const r = await benchTrainReadout({
        clips: int(v, 'clips', 16, 1),
        steps: int(v, 'steps', 20, 1),
        batch: int(v, 'batch', 8, 1),
        grid: gridOpt(v) ?? [32, 32],
        sweep,
        ...(adapter ? { adapter } : {}),
        ...(worker ? { workerUrl: worker } : {}),
        onRow: emit,
        log: say,
      });
      return [{ name: 'train', rows: r.rows, columns: TRAIN_READOUT_COLUMNS, header: r.header, chart: r.chart }];
    },
  },
  kernels: {
    options: { full: { type: 'boolean' }, train: { type: 'boolean' }, 'max-time-s': { type: 'string' } },
    gpu: true,
    partial: () => ({ name: 'kernels', columns: KERNELS_COLUMNS }),
    run: async ({ v, ctx, emit, say }) => {
      const rows = await benchKernels(ctx!, {
        full: flag(v, 'full'),
        train: flag(v, 'train'),
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
    partial: () => ({ name: 'extract', columns: EXTRACT_COLUMNS }),
    run: async ({ v, emit, say }) => {
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
    partial: (v) => ({ name: `profile-${str(v, 'config', 'test-tiny')}`, columns: ['kind', ...TRADEOFF_COLUMNS] }),
    run: async ({ v, ctx, emit, say, signal }) => {
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
        signal,
        onRow: emit,
        log: say,
      });
      return [
        { name: `profile-${config.name}-kernels`, rows: r.kernels, columns: KERNEL_COLUMNS },
        {
          name: `profile-${config.name}-tradeoff`,
          rows: r.tradeoff,
          columns: TRADEOFF_COLUMNS,
          ...(r.tradeoff.length ? { chart: profileChart(r) } : {}),
        },
      ];
    },
  },
};

/** Exit statuses of a bench stopped before it finished (its rows so far are written). */
const EXIT_INTERRUPTED = 130;
const EXIT_TIMED_OUT = 124;
/** After --timeout-s, how long the current measurement may take to finish before the rows are written anyway. */
const TIMEOUT_GRACE_MS = 15_000;

/**
 * In --json mode, makes stdout carry only `write`'s rows: anything else written there (console.log of
 * a dependency, a stray message) goes to stderr until the returned function restores stdout.
 */
function reserveStdout(): { write: (line: string) => void; restore: () => void } {
  const out = process.stdout;
  const original = out.write.bind(out);
  const log = console.log;
  const info = console.info;
  const debug = console.debug;
  out.write = process.stderr.write.bind(process.stderr);
  console.log = console.info = console.debug = console.error;
  return {
    write: (line) => {
      original(line);
    },
    restore: () => {
      out.write = original;
      console.log = log;
      console.info = info;
      console.debug = debug;
    },
  };
}

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
    'timeout-s': { type: 'string' },
    note: { type: 'string' },
  });
  if (flag(values, 'help')) {
    process.stdout.write(help);
    return 0;
  }
  const json = flag(values, 'json');
  const timeoutS = values['timeout-s'] !== undefined ? int(values, 'timeout-s', 0, 1) : 0;
  const out = optStr(values, 'out');
  const userNote = optStr(values, 'note') ?? '';
  const stdout = json ? reserveStdout() : null;
  const collected: Row[] = [];
  const emit = (r: Row): void => {
    collected.push(r);
    stdout?.write(`${JSON.stringify(r)}\n`);
  };
  const controller = new AbortController();
  // Why the bench was stopped (set by the SIGINT handler or the timer).
  const state: { stop: 'interrupted' | 'timed out' | null } = { stop: null };
  const code = (): number => (state.stop === 'interrupted' ? EXIT_INTERRUPTED : EXIT_TIMED_OUT);
  const partialNote = (): string =>
    `**Partial results**: the bench was ${state.stop ?? 'stopped'} (${collected.length} rows measured before that).`;
  // The last resort: write what was emitted and exit without waiting for the current measurement.
  const stopNow = async (): Promise<void> => {
    try {
      const t = spec.partial(values);
      if (!json) {
        process.stdout.write(markdownTable(collected, t.columns));
      }
      await writeResults(out, { ...t, rows: collected }, [userNote, partialNote()].filter(Boolean).join('\n\n'));
    } finally {
      process.exit(code());
    }
  };
  let hard: NodeJS.Timeout | null = null;
  const onSigint = (): void => {
    if (state.stop === null) {
      state.stop = 'interrupted';
      controller.abort();
      log(
        'interrupted: finishing the current measurement, then writing the rows measured so far (Ctrl-C again to write them now)',
      );
    } else {
      void stopNow();
    }
  };
  process.on('SIGINT', onSigint);
  const timer = timeoutS
    ? setTimeout(() => {
        state.stop = 'timed out';
        controller.abort();
        log(`--timeout-s ${timeoutS} reached: stopping at the next measurement`);
        hard = setTimeout(() => void stopNow(), TIMEOUT_GRACE_MS);
        hard.unref();
      }, timeoutS * 1000)
    : null;
  timer?.unref();
  let ctx: GpuContext | null = null;
  try {
    ctx = spec.gpu ? await openBenchContext(optStr(values, 'adapter')) : null;
    const tables = await spec.run({ v: values, ctx, emit, say: log, signal: controller.signal });
    for (const t of tables) {
      if (!json) {
        process.stdout.write(
          `${tables.length > 1 ? `## ${t.name}\n\n` : ''}${t.header ? `${t.header}\n\n` : ''}${markdownTable(t.rows, t.columns)}\n`,
        );
      }
      await writeResults(out, t, [userNote, state.stop ? partialNote() : ''].filter(Boolean).join('\n\n'));
    }
    if (state.stop) {
      log(`${state.stop}: ${collected.length} rows measured${out ? ` and written to ${out}` : ''}`);
      return code();
    }
    if (tables.every((t) => t.rows.length === 0)) {
      log('every case was skipped (see the messages above): no rows measured');
      return 1;
    }
    return 0;
  } finally {
    process.off('SIGINT', onSigint);
    if (timer) {
      clearTimeout(timer);
    }
    if (hard) {
      clearTimeout(hard);
    }
    stdout?.restore();
    await ctx?.close();
  }
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
