// Writes that never leave a half-written file: write to a temporary name in the same folder,
// fsync, then rename over the target.
import { randomBytes } from 'node:crypto';
import { open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/** A temporary path next to `path` (same filesystem, so rename is atomic). */
export function tempPathFor(path: string): string {
  return join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
}

/**
 * Writes chunks produced by `produce` to `path` atomically. On error the temporary file is
 * removed and the target is left as it was.
 */
export async function writeFileAtomic(
  path: string,
  produce: (write: (chunk: Uint8Array) => Promise<void>) => Promise<void>,
): Promise<void> {
  const tmp = tempPathFor(path);
  const fh = await open(tmp, 'w');
  try {
    let pos = 0;
    await produce(async (chunk) => {
      let off = 0;
      while (off < chunk.byteLength) {
        const { bytesWritten } = await fh.write(chunk, off, chunk.byteLength - off, pos);
        off += bytesWritten;
        pos += bytesWritten;
      }
    });
    await fh.sync();
    await fh.close();
    await rename(tmp, path);
  } catch (e) {
    await fh.close().catch(() => undefined);
    await rm(tmp, { force: true });
    throw e;
  }
}

/** Atomic write of one buffer. */
export function writeBytesAtomic(path: string, data: Uint8Array | string): Promise<void> {
  const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  return writeFileAtomic(path, (write) => write(bytes));
}
