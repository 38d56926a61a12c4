import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { add, gelu } from '../../src/kernels/elementwise.js';
import { matmul } from '../../src/kernels/matmul.js';
import { gpu } from '../helpers/gpu.js';

describe('resources', () => {
  it('scope() disposes intermediates and keeps the result; the pool returns to baseline', async () => {
    const ctx = await gpu();
    const before = ctx.memory();
    const kept = ctx.scope(() => {
      const a = ctx.zeros([64, 32]);
      const b = ctx.zeros([32, 16]);
      return gelu(ctx, add(ctx, matmul(ctx, a, b), ctx.zeros([64, 16])));
    });
    const mid = ctx.memory();
    expect(mid.liveTensors).toBe(before.liveTensors + 1);
    kept.dispose();
    await ctx.sync();
    const after = ctx.memory();
    expect(after.liveTensors).toBe(before.liveTensors);
    expect(after.bytesInUse).toBe(before.bytesInUse);
    // A second identical pass allocates nothing new.
    ctx.scope(() => gelu(ctx, ctx.zeros([64, 16]))).dispose();
    expect(ctx.memory().misses).toBe(after.misses);
  });

  it('refuses to use a disposed tensor, with its name', async () => {
    const ctx = await gpu();
    const t = ctx.zeros([3], 'f32', 'victim');
    t.dispose();
    expect(() => gelu(ctx, t)).toThrow(/victim.*disposed/);
  });

  it('surfaces GPU errors with the kernel label', async () => {
    const ctx = await gpu();
    await ctx.sync();
    const big = ctx.zeros([8]);
    // A view that starts at an unaligned byte offset is rejected before encoding.
    const odd = big.view(1, [4]);
    if (ctx.caps.limits.minStorageBufferOffsetAlignment > 4) {
      expect(() => gelu(ctx, odd)).toThrow(/minStorageBufferOffsetAlignment/);
    }
    odd.dispose();
    big.dispose();
  });

  it('close() lets the process exit', () => {
    const out = execFileSync(process.execPath, ['dist/cli.js', 'info', '--json'], {
      timeout: 60_000,
      encoding: 'utf8',
    });
    expect(out).toContain('"adapter"');
  });
});
