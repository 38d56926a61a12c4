// Sub-command dispatch.
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
import { CONVERT_HELP, convertCommand, FORWARD_HELP, forwardCommand, INIT_HELP, initCommand } from './model-cmds.js';

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
  if (cmd === undefined || cmd === 'help' || cmd === '--help' || cmd === '-h') {
    const sub = rest[0] ? COMMANDS[rest[0]] : undefined;
    process.stdout.write(sub ? sub.help : usage());
    return 0;
  }
  const c = COMMANDS[cmd];
  if (!c) {
    process.stderr.write(`walt: unknown command '${cmd}'\n\n${usage()}`);
    return 2;
  }
  try {
    return await c.run(rest);
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(`walt ${cmd}: ${e.message}\n`);
      return 2;
    }
    throw e;
  }
}
