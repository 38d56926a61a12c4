// Sub-command dispatch.
import pkg from '../../package.json';
import { ConfigError } from '../model/config.js';
import { UsageError } from './args.js';
import { BENCH_HELP, benchCommand, PROFILE_HELP, profileCommand } from './bench-cmds.js';
import {
  EXTRACT_HELP,
  extractCommand,
  MERGE_HELP,
  mergeCommand,
  PCA_HELP,
  pcaCommand,
  SAMPLE_HELP,
  sampleCommand,
} from './extract-cmds.js';
import { INFO_HELP, infoCommand } from './info.js';
import { METRICS_HELP, metricsCommand } from './metrics-cmds.js';
import { CONVERT_HELP, convertCommand, FORWARD_HELP, forwardCommand, INIT_HELP, initCommand } from './model-cmds.js';
import { READOUT_HELP, readoutCommand } from './readout-cmds.js';
import { SYNTH_HELP, synthCommand } from './synth-cmds.js';
import { EVAL_READOUT_HELP, evalReadoutCommand, TRAIN_READOUT_HELP, trainReadoutCommand } from './train-cmds.js';

const COMMANDS: Record<string, { run: (argv: string[]) => Promise<number>; summary: string; help: string }> = {
  info: {
    run: infoCommand,
    summary: 'device report; with --config, the config and its parameter counts',
    help: INFO_HELP,
  },
  init: { run: initCommand, summary: 'write seeded random weights for a config', help: INIT_HELP },
  forward: {
    run: forwardCommand,
    summary: 'one clip through the model; writes latent, blocks, v_pred',
    help: FORWARD_HELP,
  },
  convert: { run: convertCommand, summary: 'convert an .npz checkpoint to safetensors', help: CONVERT_HELP },
  extract: {
    run: extractCommand,
    summary: 'features over videos, images and .npy clips (resumable, shardable)',
    help: EXTRACT_HELP,
  },
  merge: { run: mergeCommand, summary: 'join the manifests of shard runs', help: MERGE_HELP },
  pca: { run: pcaCommand, summary: "a PCA picture (PNG) of one clip's features", help: PCA_HELP },
  sample: { run: sampleCommand, summary: 'make a small sample collection with ffmpeg', help: SAMPLE_HELP },
  profile: { run: profileCommand, summary: 'per-kernel GPU times and the window-size tradeoff', help: PROFILE_HELP },
  bench: {
    run: benchCommand,
    summary: 'benchmarks: matmul, attention (with tfjs/onnxruntime peers), model, kernels, extract',
    help: BENCH_HELP,
  },
  readout: {
    run: readoutCommand,
    summary: 'readout heads: info (weights, counts), init (seeded weights)',
    help: READOUT_HELP,
  },
  metrics: {
    run: metricsCommand,
    summary: 'task metrics (top1, absrel, pose, tapvid, boxes) of predictions vs ground truth',
    help: METRICS_HELP,
  },
  synth: {
    run: synthCommand,
    summary: 'seeded synthetic clips for every readout task, in the real datasets’ layouts',
    help: SYNTH_HELP,
  },
  'train-readout': {
    run: trainReadoutCommand,
    summary: 'train a readout head on extracted features (several learning rates in one pass, resumable)',
    help: TRAIN_READOUT_HELP,
  },
  'eval-readout': {
    run: evalReadoutCommand,
    summary: "a trained readout's task metrics on features and labels (best learning rate)",
    help: EVAL_READOUT_HELP,
  },
};

export function usage(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((c) => c.length));
  return [
    'walt — W.A.L.T video diffusion features on WebGPU',
    '',
    'usage: walt <command> [options]      (walt <command> --help for its options)',
    '',
    ...Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`),
    '',
  ].join('\n');
}

/** Registers more commands (benches, extract) from other modules. */
export function registerCommand(
  name: string,
  run: (argv: string[]) => Promise<number>,
  summary: string,
  help: string,
): void {
  COMMANDS[name] = { run, summary, help };
}

export async function runCli(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (cmd === '--version' || cmd === '-V' || cmd === 'version') {
    process.stdout.write(`walt-webgpu ${pkg.version}\n`);
    return 0;
  }
  if (cmd === undefined || cmd === 'help' || cmd === '--help' || cmd === '-h') {
    const sub = rest[0] ? COMMANDS[rest[0]] : undefined;
    process.stdout.write(sub ? sub.help : usage());
    return 0;
  }
  const c = COMMANDS[cmd];
  if (!c) {
    const what = cmd.startsWith('-') ? `unknown option '${cmd}'` : `unknown command '${cmd}'`;
    process.stderr.write(`walt: ${what} (see walt --help)\n`);
    return 2;
  }
  try {
    return await c.run(rest);
  } catch (e) {
    // Usage errors (and a config that does not exist or does not parse) exit 2 with one line.
    if (e instanceof UsageError || e instanceof ConfigError) {
      process.stderr.write(`walt ${cmd}: ${e.message}\n`);
      return 2;
    }
    throw e;
  }
}
