// The forward pass against independent implementations of the spec:
//  - shared/golden/micro (written by another team's float64 implementation),
//  - test/fixtures/test-tiny and test-tiny-i (tools/reference, PyTorch float64),
// at ≤ 1e-4 relative (max|a−b| / max|b|) on every output, for pixel video, image and latent input.
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/model/config.js';
import { forwardClip } from '../../src/model/walt.js';
import { loadWeights } from '../../src/model/weights.js';
import { expectRelToMax } from '../helpers/compare.js';
import { gpu } from '../helpers/gpu.js';
import { loadFixture } from './fixtures.js';

const SUITES = [
  { dir: '../shared/golden/micro', config: 'micro' },
  { dir: 'test/fixtures/test-tiny', config: 'test-tiny' },
  { dir: 'test/fixtures/test-tiny-i', config: 'test-tiny-i' },
];

for (const s of SUITES) {
  describe.skipIf(!existsSync(s.dir))(`forward vs ${s.dir}`, () => {
    it('matches every case at every output (f32, 1e-4 relative)', async () => {
      const ctx = await gpu();
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
    });
  });
}

describe.skipIf(!existsSync('test/fixtures/test-tiny'))('forward in f16', () => {
  it('stays within 3% of the f32 reference (f16 weights and activations, f32 accumulation)', async () => {
    const ctx = await gpu();
    if (!ctx.caps.f16) {
      return;
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
