import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SafetensorsFile, writeSafetensors } from '../../src/io/safetensors.js';
import { BUILTIN_CONFIGS, loadConfig } from '../../src/model/config.js';
import { alphasCumprod, noiseCoefficients } from '../../src/model/schedule.js';
import { fullSpec, paramCounts } from '../../src/model/spec.js';
import { validateWeights, writeRandomWeights } from '../../src/model/weights.js';

describe('parameter counts (spec §3.5, §4.11)', () => {
  it('L, XL, L-separate and the encoder match the spec exactly', () => {
    expect(paramCounts(BUILTIN_CONFIGS.L!)).toEqual({
      total: 458_098_592,
      encoder: 144_860_184,
      denoiser: 313_238_408,
    });
    expect(paramCounts(BUILTIN_CONFIGS.XL!).denoiser).toBe(460_019_080);
    expect(paramCounts(BUILTIN_CONFIGS['L-separate']!).denoiser).toBe(457_739_144);
  });

  it('the LoRA-rank sweep of Table 3d', () => {
    const at = (r: number): number => {
      const c = structuredClone(BUILTIN_CONFIGS.L!);
      c.denoiser.loraRank = r;
      return paramCounts(c).denoiser / 1e6;
    };
    expect(at(4)).toBeCloseTo(313.58, 1);
    expect(at(16)).toBeCloseTo(315.65, 1);
    expect(at(64)).toBeCloseTo(323.9, 1);
    expect(at(256)).toBeCloseTo(356.93, 1);
  });
});

describe('schedule (spec §5.1)', () => {
  it('zero terminal SNR and the table values', () => {
    const a = alphasCumprod();
    expect(a[999]).toBe(0);
    expect(a[0]).toBeCloseTo(0.9999, 6);
    expect(a[200]).toBeCloseTo(0.654382, 5);
    expect(noiseCoefficients(200).signal).toBeCloseTo(0.808939, 5);
    expect(noiseCoefficients(200).noise).toBeCloseTo(0.587893, 5);
    expect(a[500]).toBeCloseTo(0.075246, 5);
    expect(() => noiseCoefficients(1000)).toThrow(/0…999/);
  });
});

describe('weights files', () => {
  const dir = mkdtempSync(join(tmpdir(), 'walt-w-'));

  it('walt init writes every canonical tensor; the file validates', async () => {
    const cfg = loadConfig('test-tiny');
    const path = join(dir, 'w.safetensors');
    await writeRandomWeights(path, cfg, 3);
    const f = await SafetensorsFile.open(path);
    expect(f.tensors.size).toBe(fullSpec(cfg).length);
    expect(() => validateWeights(f, cfg, true)).not.toThrow();
    await f.close();
  });

  it('one error lists every missing, unknown and mis-shaped tensor', async () => {
    const cfg = loadConfig('micro');
    const spec = fullSpec(cfg);
    const path = join(dir, 'bad.safetensors');
    const tensors = spec
      .filter((s) => s.name !== 'blocks.1.mlp.fc2.bias' && s.name !== 'encoder.conv_in.weight')
      .map((s) => ({ name: s.name, shape: s.name === 'pos_embed.temporal' ? [4, 32] : s.shape }))
      .concat([{ name: 'blocks.7.extra', shape: [2] }])
      .map((s) => ({ ...s, data: new Float32Array(s.shape.reduce((a, b) => a * b, 1)) }));
    await writeSafetensors(path, tensors);
    const f = await SafetensorsFile.open(path);
    let msg = '';
    try {
      validateWeights(f, cfg, true);
    } catch (e) {
      msg = (e as Error).message;
    }
    expect(msg).toMatch(/missing \(2\)/);
    expect(msg).toMatch(/blocks\.1\.mlp\.fc2\.bias/);
    expect(msg).toMatch(/encoder\.conv_in\.weight/);
    expect(msg).toMatch(/unknown \(1\):\s+blocks\.7\.extra/);
    expect(msg).toMatch(/pos_embed\.temporal: file \[4,32\], config micro expects \[5,32\]/);
    // Without the encoder, its absence is not an error (a --latent run), the rest still is.
    expect(() => validateWeights(f, cfg, false)).toThrow(/missing \(1\)/);
    await f.close();
  });
});
