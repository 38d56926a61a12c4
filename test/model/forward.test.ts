// The forward pass against independent implementations of the spec:
//  - test/fixtures/micro (written by another team's float64 implementation; see its README),
//  - test/fixtures/test-tiny and test-tiny-i (tools/reference, PyTorch float64),
// at ≤ 1e-4 relative (max|a−b| / max|b|) on every output, for pixel video, image and latent input.
import { afterAll, describe, expect, it } from 'vitest';
import { GpuContext } from '../../src/gpu/context.js';
import { poolCapFromEnv } from '../../src/gpu/memory.js';
import { loadConfig } from '../../src/model/config.js';
import { forwardClip, prepareForward } from '../../src/model/walt.js';
import { loadWeights } from '../../src/model/weights.js';
import { expectRelToMax } from '../helpers/compare.js';
import { gpu } from '../helpers/gpu.js';
import { skipBecause } from '../helpers/skip.js';
import { loadFixture } from './fixtures.js';

const SUITES = [
  { dir: 'test/fixtures/micro', config: 'micro' },
  { dir: 'test/fixtures/test-tiny', config: 'test-tiny' },
  { dir: 'test/fixtures/test-tiny-i', config: 'test-tiny-i' },
  { dir: 'test/fixtures/test-wide', config: 'test-wide' },
];

/** Every case of a fixture folder at every output; returns nothing, fails on a mismatch or a leak. */
async function checkSuite(ctx: GpuContext, s: (typeof SUITES)[number]): Promise<void> {
  const cfg = loadConfig(s.config);
  const W = await loadWeights(ctx, `${s.dir}/weights.safetensors`, cfg, { needEncoder: true });
  const before = ctx.memory().liveTensors;
  const blocks = Array.from({ length: cfg.denoiser.layers }, (_, i) => i + 1);
  for (const c of await loadFixture(s.dir)) {
    const r = await forwardClip(ctx, W, {
      input: c.input.data,
      inputShape: c.input.shape,
      latent: c.latentInput,
      t: c.t,
      noise: c.noise,
      ...(c.classIndex !== undefined ? { classIndex: c.classIndex } : {}),
      taps: blocks,
      final: true,
    });
    if (!c.latentInput) {
      expectRelToMax(r.latent!, c.expected.get('latent')!, 1e-4, `${c.name} latent`);
    }
    expectRelToMax(r.zt, c.expected.get('z_t')!, 1e-4, `${c.name} z_t`);
    for (const l of blocks) {
      expectRelToMax(r.blocks.get(l)!.data, c.expected.get(`block.${l}`)!, 1e-4, `${c.name} block.${l}`);
    }
    expectRelToMax(r.vPred!.data, c.expected.get('v_pred')!, 1e-4, `${c.name} v_pred`);
  }
  // The forward pass leaks nothing: only the weights stay alive.
  expect(ctx.memory().liveTensors).toBe(before);
  W.dispose();
}

for (const s of SUITES) {
  describe(`forward vs ${s.dir}`, () => {
    it('matches every case at every output (f32, 1e-4 relative)', async () => {
      await checkSuite(await gpu(), s);
    });
  });
}

// prepare: a forward's pipelines are all created ahead (in parallel); the forward itself then
// compiles none at a dispatch. Catches a model change that dispatches a variant prepare misses.
describe('prepareForward', () => {
  it('creates every pipeline the forward dispatches', async () => {
    const ctx = await GpuContext.create();
    try {
      const cfg = loadConfig('test-wide');
      const W = await loadWeights(ctx, 'test/fixtures/test-wide/weights.safetensors', cfg, { needEncoder: true });
      const c = (await loadFixture('test/fixtures/test-wide')).find((x) => x.name === 'video-pixels')!;
      const req = {
        input: c.input.data,
        inputShape: c.input.shape,
        latent: false,
        t: c.t,
        noise: c.noise,
        ...(c.classIndex !== undefined ? { classIndex: c.classIndex } : {}),
        taps: [1, 2],
        final: true,
      };
      const n = await prepareForward(ctx, W, req);
      expect(n).toBeGreaterThan(5);
      const before = ctx.stats;
      expect(before.syncCompiles).toBe(0);
      const r = await forwardClip(ctx, W, req);
      expect(ctx.stats.syncCompiles).toBe(0);
      expect(ctx.stats.pipelines).toBe(before.pipelines);
      expectRelToMax(r.vPred!.data, c.expected.get('v_pred')!, 1e-4, 'v_pred after prepare');
      W.dispose();
    } finally {
      await ctx.close();
    }
  });
});

// WALT_POOL_MB=0: every released buffer is destroyed once the GPU is done with it, so a buffer
// destroyed too early (while a command that uses it waits in the open encoder) would drop the
// whole command buffer. The whole forward pass still matches the goldens, and nothing is reused.
describe('forward with the pool off (WALT_POOL_MB=0)', () => {
  let ctx: GpuContext | null = null;
  afterAll(async () => {
    await ctx?.close();
  });
  for (const s of SUITES) {
    it(`${s.config}: matches every case; no buffer is reused`, async () => {
      ctx ??= await GpuContext.create({ poolCapBytes: poolCapFromEnv({ WALT_POOL_MB: '0' }) });
      await checkSuite(ctx, s);
      const m = ctx.memory();
      expect(m.capBytes).toBe(0);
      expect(m.buffersReused).toBe(0);
      expect(m.buffersCreated).toBeGreaterThan(0);
    });
  }
});

describe('forward in f16', () => {
  it('stays within 3% of the f32 reference (f16 weights and activations, f32 accumulation)', async (t) => {
    const ctx = await gpu();
    if (!ctx.caps.f16) {
      skipBecause(t, 'this adapter has no shader-f16');
    }
    const cfg = loadConfig('test-tiny');
    const W = await loadWeights(ctx, 'test/fixtures/test-tiny/weights.safetensors', cfg, {
      needEncoder: true,
      dtype: 'f16',
    });
    const c = (await loadFixture('test/fixtures/test-tiny')).find((x) => x.name === 'video-pixels')!;
    const r = await forwardClip(ctx, W, {
      input: c.input.data,
      inputShape: c.input.shape,
      latent: false,
      t: c.t,
      noise: c.noise,
      ...(c.classIndex !== undefined ? { classIndex: c.classIndex } : {}),
      taps: [4],
      final: true,
    });
    const e1 = expectRelToMax(r.latent!, c.expected.get('latent')!, 3e-2, 'f16 latent');
    const e2 = expectRelToMax(r.blocks.get(4)!.data, c.expected.get('block.4')!, 3e-2, 'f16 block.4');
    const e3 = expectRelToMax(r.vPred!.data, c.expected.get('v_pred')!, 3e-2, 'f16 v_pred');
    expect(Math.max(e1, e2, e3)).toBeGreaterThan(0);
    W.dispose();
  });
});
