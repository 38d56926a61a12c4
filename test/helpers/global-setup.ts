// Runs once before all test files: make sure Dawn finds a runtime dir, and build the CLI bundle
// that the CLI tests execute.
import { execFileSync } from 'node:child_process';

export default function setup(): void {
  process.env.XDG_RUNTIME_DIR ??= '/tmp';
  if (process.env.WALT_SKIP_BUILD !== '1') {
    execFileSync(process.execPath, ['tools/build.mjs'], { stdio: 'inherit' });
  }
}
