// A test that cannot run here says why: the reason goes into the task's meta, which the JSON
// report carries, and tools/run-tests.mjs prints every skip with its reason in the summary line.
import type { TestContext } from 'vitest';

declare module 'vitest' {
  interface TaskMeta {
    skip?: string;
  }
}

/** Skips the running test with a reason that reaches the summary line. */
export function skipBecause(ctx: TestContext, reason: string): never {
  ctx.task.meta.skip = `${ctx.task.name}: ${reason}`;
  ctx.skip(reason);
  throw new Error('unreachable');
}
