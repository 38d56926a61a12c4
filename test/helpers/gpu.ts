// One GPU context per test file, closed after the file's tests.
import { afterAll } from 'vitest';
import { GpuContext } from '../../src/gpu/context.js';

process.env.XDG_RUNTIME_DIR ??= '/tmp';

let ctxPromise: Promise<GpuContext> | null = null;

/** The test file's shared context (software adapter on CI). */
export function gpu(): Promise<GpuContext> {
  if (!ctxPromise) {
    ctxPromise = GpuContext.create();
    afterAll(async () => {
      const ctx = await ctxPromise!;
      await ctx.close();
      ctxPromise = null;
    });
  }
  return ctxPromise;
}

/** GPU-heavy sizes run only with WALT_HEAVY=1 (npm run test:gpu). */
export const heavy = process.env.WALT_HEAVY === '1';
