// Permission errors cannot be provoked as root, so `open` is mocked to fail with EACCES for one file name.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { loadClip } from '../../src/io/media.js';
import { MediaError } from '../../src/io/media-error.js';

vi.mock('node:fs/promises', async (importOriginal) => {
  const real = await importOriginal<typeof import('node:fs/promises')>();
  return {
    ...real,
    open: (path: string, ...rest: []) => {
      if (String(path).includes('locked')) {
        return Promise.reject(
          Object.assign(new Error(`EACCES: permission denied, open '${path}'`), { code: 'EACCES' }),
        );
      }
      return real.open(path, ...rest);
    },
  };
});

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'walt-unreadable-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('unreadable files', () => {
  it('gives an unreadable MediaError naming the file', async () => {
    for (const name of ['locked.mp4', 'locked.npy']) {
      const p = join(dir, name);
      await writeFile(p, 'x');
      const e = await loadClip(p).then(
        () => undefined,
        (x: unknown) => x,
      );
      expect(e).toBeInstanceOf(MediaError);
      expect((e as MediaError).reason).toBe('unreadable');
      expect((e as MediaError).message).toBe(
        `${p}: permission denied (the file cannot be read); fix its permissions or remove it`,
      );
    }
  });
});
