// walt readout <subcommand>: readout heads (spec §7, issue 11 §6). `info` and `init` run on
// the CPU; `forward` and `step` on the GPU (readout-gpu-cmds.ts).
import { INIT_SCHEMES, parseInitScheme, writeHeadWeights } from '../readout/init.js';
import { headWeights, paramCount, weightList } from '../readout/spec.js';
import { numel } from '../tensor/shape.js';
import { flag, int, optStr, parse, str, UsageError } from './args.js';
import { checkOutPath, HEAD_ARG, headFromArgs, SIZING_OPTIONS } from './head-args.js';
import {
  READOUT_FORWARD_HELP,
  READOUT_STEP_HELP,
  readoutForwardCommand,
  readoutStepCommand,
} from './readout-gpu-cmds.js';

/** One `walt readout` subcommand. */
export interface ReadoutSubcommand {
  run: (argv: string[]) => Promise<number>;
  summary: string;
  help: string;
}

export const READOUT_INFO_HELP = `walt readout info --head HEAD [--json] [--width C --frames T --classes K]

The head's weights (canonical names, PyTorch [out, in] shapes) and its exact parameter count.
--json prints one line: {"params": N, "weights": [[name, shape], …]}.

${HEAD_ARG}
`;

export const READOUT_INIT_HELP = `walt readout init --head HEAD --scheme flax|test [--seed S] --out W.safetensors
                  [--width C --frames T --classes K]

Writes the head's initial weights (F32 safetensors, canonical order, written to a temporary name
and renamed). Schemes (spec OC24): flax (real training) — dense kernels lecun-normal truncated at
2σ, biases 0, norm scales 1, query and temporal_posenc N(0, 0.02²); test — every tensor
N(0, 0.05²), norm scales 1 + N(0, 0.05²). The same seed (default 0) gives the same bytes.

${HEAD_ARG}
`;

function infoCommand(argv: string[]): Promise<number> {
  const { values } = parse('readout info', argv, {
    head: { type: 'string' },
    json: { type: 'boolean' },
    ...SIZING_OPTIONS,
  });
  if (flag(values, 'help')) {
    process.stdout.write(READOUT_INFO_HELP);
    return Promise.resolve(0);
  }
  const cfg = headFromArgs(values);
  const params = paramCount(cfg);
  if (flag(values, 'json')) {
    process.stdout.write(`${JSON.stringify({ params, weights: weightList(cfg) })}\n`);
    return Promise.resolve(0);
  }
  const ws = headWeights(cfg);
  const sizes = Object.entries(cfg)
    .filter(([k]) => k !== 'kind' && k !== 'prefix')
    .map(([k, v]) => `${k} ${String(v)}`)
    .join(', ');
  const nameW = Math.max(...ws.map((w) => w.name.length));
  const shapeW = Math.max(...ws.map((w) => `[${w.shape.join(', ')}]`.length));
  const lines = [
    `${cfg.kind} head '${cfg.prefix}': ${sizes}`,
    '',
    ...ws.map(
      (w) =>
        `  ${w.name.padEnd(nameW)}  ${`[${w.shape.join(', ')}]`.padEnd(shapeW)}  ${numel(w.shape).toLocaleString('en-US').padStart(11)}`,
    ),
    '',
    `  ${ws.length} tensors, ${params.toLocaleString('en-US')} parameters`,
    '',
  ];
  process.stdout.write(lines.join('\n'));
  return Promise.resolve(0);
}

async function initCommand(argv: string[]): Promise<number> {
  const { values } = parse('readout init', argv, {
    head: { type: 'string' },
    scheme: { type: 'string' },
    seed: { type: 'string' },
    out: { type: 'string' },
    ...SIZING_OPTIONS,
  });
  if (flag(values, 'help')) {
    process.stdout.write(READOUT_INIT_HELP);
    return 0;
  }
  const cfg = headFromArgs(values);
  const schemeArg = optStr(values, 'scheme');
  if (schemeArg === undefined) {
    throw new UsageError(`--scheme is required: ${INIT_SCHEMES.join(' (real training) or ')} (fixtures, tests)`);
  }
  let scheme;
  try {
    scheme = parseInitScheme(schemeArg);
  } catch (e) {
    throw new UsageError(e instanceof Error ? e.message : String(e));
  }
  const seed = int(values, 'seed', 0);
  const out = str(values, 'out');
  checkOutPath('out', out);
  const n = await writeHeadWeights(out, cfg, scheme, seed);
  process.stderr.write(
    `walt readout init: wrote ${n.toLocaleString('en-US')} parameters of ${cfg.kind} head '${cfg.prefix}' (${scheme}, seed ${seed}) to ${out}\n`,
  );
  return 0;
}

/** The subcommands of `walt readout` (forward and step run on the GPU: readout-gpu-cmds.ts). */
const SUBCOMMANDS: Record<string, ReadoutSubcommand> = {
  info: {
    run: infoCommand,
    summary: "a head's weights (names, shapes) and exact parameter count",
    help: READOUT_INFO_HELP,
  },
  init: { run: initCommand, summary: 'seeded initial weights of a head (schemes flax, test)', help: READOUT_INIT_HELP },
  forward: {
    run: readoutForwardCommand,
    summary: "one clip's features through a head (GPU)",
    help: READOUT_FORWARD_HELP,
  },
  step: {
    run: readoutStepCommand,
    summary: 'AdamW steps on one batch, with the gradients (GPU)',
    help: READOUT_STEP_HELP,
  },
};

/** Adds a `walt readout` subcommand (for modules that implement one). */
export function registerReadoutSubcommand(name: string, sub: ReadoutSubcommand): void {
  SUBCOMMANDS[name] = sub;
}

export function readoutHelp(): string {
  const width = Math.max(...Object.keys(SUBCOMMANDS).map((c) => c.length));
  return [
    'walt readout <subcommand> [options]      (walt readout <subcommand> --help for its options)',
    '',
    "Readout heads on frozen features (spec §7): the study's built-in heads, JSON head files, kinds.",
    '',
    ...Object.entries(SUBCOMMANDS).map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`),
    '',
  ].join('\n');
}

export const READOUT_HELP = readoutHelp();

export async function readoutCommand(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === '--help' || sub === '-h' || sub === 'help') {
    process.stdout.write(readoutHelp());
    return 0;
  }
  if (sub === undefined) {
    process.stderr.write(
      `walt readout: give a subcommand (${Object.keys(SUBCOMMANDS).join(', ')})\n\n${readoutHelp()}`,
    );
    return 2;
  }
  const c = SUBCOMMANDS[sub];
  if (!c) {
    throw new UsageError(`unknown subcommand '${sub}' (expected one of: ${Object.keys(SUBCOMMANDS).join(', ')})`);
  }
  try {
    return await c.run(rest);
  } catch (e) {
    if (e instanceof UsageError) {
      // One line that names the subcommand (parse() already prefixes some messages with it).
      const own = `walt readout ${sub}: `;
      process.stderr.write(`${own}${e.message.startsWith(own) ? e.message.slice(own.length) : e.message}\n`);
      return 2;
    }
    throw e;
  }
}
