import { spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { add, gelu } from '../../src/kernels/elementwise.js';
import { matmul } from '../../src/kernels/matmul.js';
import { GpuContext } from '../../src/gpu/context.js';
import { poolCapFromEnv } from '../../src/gpu/memory.js';
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
    expect(ctx.memory().buffersCreated).toBe(after.buffersCreated);
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

  // stderr to a file and through a shell pipe (what terminals, shells, Slurm and Kubernetes give):
  // Dawn's native limit notice is filtered out (see src/util/quiet-stderr.ts; a socket stderr, as
  // Node's spawn makes, cannot be redirected and is left alone).
  it('close() lets the process exit; quiet by default (no Dawn limit notice, no Node warning)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'walt-quiet-'));
    const err = openSync(join(dir, 'err.txt'), 'w');
    const r = spawnSync(process.execPath, ['dist/cli.js', 'info', '--json'], {
      timeout: 60_000,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', err],
    });
    closeSync(err);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('"adapter"');
    expect(readFileSync(join(dir, 'err.txt'), 'utf8')).toBe('');
    const piped = spawnSync('bash', ['-c', `"${process.execPath}" dist/cli.js info --json 2>&1 >/dev/null | cat`], {
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(piped.stdout).toBe('');
  });
});

// Buffer lifetimes (memory.ts): a released buffer whose last use sits in the unsubmitted encoder
// must outlive that submit, whatever the pool cap.
describe('buffer lifetimes', () => {
  it('pool off: upload, gelu, dispose the input before the submit, read', async () => {
    const ctx = await GpuContext.create({ poolCapBytes: 0 });
    try {
      const x = ctx.upload(Float32Array.from([1, -2, 3, 0.5]), [4]);
      const y = gelu(ctx, x);
      x.dispose(); // its dispatch is still in the open encoder
      const got = await y.read();
      expect(Array.from(got).map((v) => Math.round(v * 1e4) / 1e4)).toEqual([0.8412, -0.0454, 2.9964, 0.3457]);
      y.dispose();
      await ctx.sync();
      const m = ctx.memory();
      expect(m.buffersReused).toBe(0);
      expect(m.pending).toBe(0);
    } finally {
      await ctx.close();
    }
  });

  it('pooled: a buffer released before the submit is not handed out until after it', async () => {
    const ctx = await gpu();
    await ctx.sync();
    const a = ctx.upload(new Float32Array(64).fill(2), [64]);
    const b = gelu(ctx, a);
    a.dispose();
    expect(ctx.memory().pending).toBeGreaterThan(0);
    // Same size: must not get a's buffer while b's dispatch that reads it is unsubmitted.
    const c = ctx.upload(new Float32Array(64).fill(-7), [64]);
    expect(c.buffer).not.toBe(a.buffer);
    expect((await b.read())[0]).toBeCloseTo(1.9546, 3);
    b.dispose();
    c.dispose();
  });

  it('WALT_POOL_MB sets the cap in MiB and rejects nonsense with the fix', () => {
    expect(poolCapFromEnv({ WALT_POOL_MB: '0' })).toBe(0);
    expect(poolCapFromEnv({ WALT_POOL_MB: '1.5' })).toBe(1.5 * 2 ** 20);
    expect(poolCapFromEnv({})).toBe(2 * 2 ** 30);
    expect(() => poolCapFromEnv({ WALT_POOL_MB: 'lots' })).toThrow(/WALT_POOL_MB.*0 turns pooling off/);
  });

  it('out of memory: fails at the next sync naming the size and the fix; retryOnOom trims and retries once', async () => {
    const ctx = await GpuContext.create();
    try {
      const pool = ctx.pool as unknown as { create: (s: number, u: number, l: string, k: string) => GPUBuffer };
      const real = pool.create.bind(pool);
      let failures = 1;
      // Simulate the device refusing one allocation: the error scope reports out-of-memory.
      pool.create = (size, usage, label, key) => {
        if (failures-- > 0) {
          const b = real(size, usage, label, key);
          (ctx.pool as unknown as { checks: Promise<string | null>[] }).checks.push(
            Promise.resolve(`${label} of ${size} bytes: Out of memory`),
          );
          return b;
        }
        return real(size, usage, label, key);
      };
      let attempts = 0;
      const out = await ctx.retryOnOom(async () => {
        attempts++;
        const t = ctx.zeros([1000], 'f32', `batch-${attempts}`);
        await ctx.sync();
        return t.read();
      });
      expect(attempts).toBe(2);
      expect(out.length).toBe(1000);
      failures = 2;
      await expect(
        ctx.retryOnOom(async () => {
          ctx.zeros([1 << 20], 'f32', 'activations');
          await ctx.sync();
        }),
      ).rejects.toThrow(/out of memory allocating activations of 4194304 bytes.*smaller --batch/);
    } finally {
      await ctx.close();
    }
  });
});
