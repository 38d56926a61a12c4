// Sub-command dispatch.
import { GpuContext } from '../gpu/context.js';
import { listAdapters } from '../gpu/adapter.js';

const USAGE = `walt — W.A.L.T video diffusion features on WebGPU

usage: walt <command> [options]

commands:
  info       device report; with --config NAME, the config and its parameter counts
  help       this text
`;

export async function runCli(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  switch (cmd) {
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(USAGE);
      return 0;
    case 'info': {
      void rest;
      const ctx = await GpuContext.create();
      try {
        process.stdout.write(`${JSON.stringify({ adapter: ctx.adapter, adapters: await listAdapters() }, null, 2)}\n`);
      } finally {
        await ctx.close();
      }
      return 0;
    }
    default:
      process.stderr.write(`walt: unknown command '${cmd}'\n${USAGE}`);
      return 2;
  }
}
