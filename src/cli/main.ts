// walt: the command-line entry point.
import { runCli } from './commands.js';

process.env.XDG_RUNTIME_DIR ??= '/tmp';

runCli(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
    if (code === 130 || code === 143) {
      // Interrupted (SIGINT/SIGTERM): what had to be written is written; do not wait for work
      // still queued on the device or decoders being torn down.
      process.exit(code);
    }
  },
  (e: unknown) => {
    const msg = e instanceof Error ? (process.env.WALT_DEBUG === '1' ? (e.stack ?? e.message) : e.message) : String(e);
    process.stderr.write(`walt: ${msg}\n`);
    process.exitCode = 1;
  },
);
