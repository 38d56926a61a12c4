// Opt-in (npm run test:gpu, WALT_HEAVY=1): the full L config at 17×128×128 runs end to end
// within the device's binding limits (the 17×128×128×128 f32 activation is 136 MiB, above
// lavapipe's 128 MiB: the encoder must chunk frames). 15–30 minutes on a software adapter.
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/model/config.js';
import { forwardClip } from '../../src/model/walt.js';
import { randomWeightValues, uploadWeights } from '../../src/model/weights.js';
import { Rng } from '../../src/util/rng.js';
import { gpu, heavy } from '../helpers/gpu.js';

describe.skipIf(!heavy)('L at 17×128×128 (heavy: runs with WALT_HEAVY=1, npm run test:gpu)', () => {
  it('forward completes with finite outputs and frees its activations', { timeout: 3 * 3600_000 }, async () => {
    const ctx = await gpu();
    const cfg = loadConfig('L');
    const W = uploadWeights(ctx, cfg, randomWeightValues(cfg, 0), { needEncoder: true });
    const before = ctx.memory().liveTensors;
    const t0 = performance.now();
    const r = await forwardClip(ctx, W, {
      input: new Rng(1).uniforms(17 * 128 * 128 * 3),
      inputShape: [17, 128, 128, 3],
      latent: false,
      t: 200,
      noise: { seed: 0 },
      taps: [16],
      final: true,
    });
    process.stderr.write(`L forward on ${ctx.adapter.name}: ${((performance.now() - t0) / 1000).toFixed(1)} s\n`);
    expect(r.latentShape).toEqual([5, 16, 16, 8]);
    expect(r.blocks.get(16)!.shape).toEqual([5, 16, 16, 1024]);
    expect(r.vPred!.shape).toEqual([5, 16, 16, 8]);
    for (const x of [r.latent!, r.blocks.get(16)!.data, r.vPred!.data]) {
      expect(x.every(Number.isFinite)).toBe(true);
    }
    expect(ctx.memory().liveTensors).toBe(before);
    W.dispose();
  });
});
