// File helpers of the sample makers (sample.ts, sample-formats.ts): whether a sample file is already
// there, and a write under a temporary name followed by a rename.

import { rename, stat, writeFile } from 'node:fs/promises';

/** True when `path` is a non-empty regular file. */
export async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    (s) => s.isFile() && s.size > 0,
    () => false,
  );
}

/** Writes `data` to `path` through a temporary name, so an interrupted run leaves no half-written file. */
export async function writeAtomic(path: string, data: Uint8Array | string): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}`;
  await writeFile(tmp, data);
  await rename(tmp, path);
}
