// Filtering what native code writes to stderr (fd 2) while a function runs: fd 2 points at a
// temporary file meanwhile (Linux: the original target is reopened through /proc/self/fd), and
// afterwards everything that does not match `drop` is written back to stderr. Elsewhere, or when
// fd 2 cannot be redirected (a socket), `fn` runs unfiltered.
import { closeSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export async function withFilteredStderr<T>(drop: RegExp, fn: () => Promise<T>): Promise<T> {
  const file = join(tmpdir(), `walt-stderr-${process.pid}.log`);
  let saved = -1;
  try {
    saved = process.platform === 'linux' ? openSync('/proc/self/fd/2', 'a') : -1;
    if (saved < 0) {
      return await fn();
    }
    closeSync(2);
    if (openSync(file, 'w') !== 2) {
      throw new Error('fd 2 was not reused');
    }
  } catch {
    if (saved >= 0) {
      openSync(`/proc/self/fd/${saved}`, 'a'); // back on fd 2 (the lowest free descriptor)
      closeSync(saved);
    }
    return fn();
  }
  try {
    return await fn();
  } finally {
    closeSync(2);
    openSync(`/proc/self/fd/${saved}`, 'a');
    closeSync(saved);
    const text = readFileSync(file, 'utf8').replace(drop, '');
    rmSync(file, { force: true });
    if (text) {
      process.stderr.write(text);
    }
  }
}
