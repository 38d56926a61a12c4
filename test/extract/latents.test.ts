// The latent cache for t/block sweeps: --keep-latents stores each item's z0 and ε; --from-latents
// runs only the noising and the denoiser on them and gives features bit-identical to a full run,
// for another t and other blocks too; the frame and noise options come from the cached folder.
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { itemNoise } from '../../src/extract/features.js';
import { readManifest } from '../../src/extract/manifest.js';
import { FeatureSet } from '../../src/extract/reader.js';
import { featureBytes, sampleInputs, walt } from './helpers.js';

const root = mkdtempSync(join(tmpdir(), 'walt-latents-'));
const inputs = join(root, 'inputs');
const keep = join(root, 'keep');
const OPTS = ['--blocks', '2', '--start', 'center', '--stride', '2'];

beforeAll(async () => {
  const files = await sampleInputs(root, inputs, { videos: 3, images: true });
  expect(files.length).toBe(5);
  const r = walt(['extract', inputs, '--out', keep, ...OPTS, '--keep-latents']);
  expect(r.status, r.stderr).toBe(0);
}, 400_000);

describe('--keep-latents', () => {
  it('stores z0 and its ε per item, apart from the features', async () => {
    const fs = FeatureSet.open(keep);
    expect(fs.spec?.keep_latents).toBe(true);
    for (const it of fs.ok) {
      expect(Object.keys(it.tensors)).toEqual(['t200/block.2']);
      expect(it.latents).toEqual({
        z0: { shape: [1, 5, 8, 8, 8], dtype: 'F32' },
        eps: { shape: [1, 5, 8, 8, 8], dtype: 'F32' },
      });
      const { eps } = await fs.readLatents(it.source);
      // ε is the item's noise: a function of the noise seed and the source path.
      expect(Buffer.from(eps.data.buffer).equals(Buffer.from(itemNoise(it.source, 5 * 8 * 8 * 8, 0).buffer))).toBe(
        true,
      );
    }
    await fs.close();
  });
});

describe('--from-latents', () => {
  it('the same t and blocks: bit-identical features, the same manifest apart from the latents', async () => {
    const out = join(root, 'same');
    const r = walt(['extract', '--from-latents', keep, '--out', out, '--blocks', '2']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/from the latents in/);
    expect(await featureBytes(out)).toEqual(await featureBytes(keep));
    const strip = (dir: string): unknown[] =>
      readManifest(dir).map((l) => (l.status === 'ok' ? { ...l, latents: undefined } : l));
    expect(strip(out)).toEqual(strip(keep));
    // The folder's options are those of a full run with these options (so the two can be merged).
    const spec = JSON.parse(readFileSync(join(out, 'extract.json'), 'utf8')) as Record<string, unknown>;
    expect(spec).toMatchObject({ stride: 2, start: 'center', noise_seed: 0, keep_latents: false, t: [200] });
  });

  it('a t/block sweep equals full runs at those t and blocks, bit for bit', async () => {
    const cached = join(root, 'c100');
    const full = join(root, 'f100');
    expect(walt(['extract', '--from-latents', keep, '--out', cached, '--t', '100,300', '--blocks', '1,3']).status).toBe(
      0,
    );
    const r = walt(['extract', inputs, '--out', full, ...OPTS.slice(2), '--t', '100,300', '--blocks', '1,3']);
    expect(r.status, r.stderr).toBe(0);
    const a = await featureBytes(cached);
    expect(a.size).toBe(5 * 4);
    expect(a).toEqual(await featureBytes(full));
  });

  it('refuses options that come from the cached folder, and a folder without latents', () => {
    const r = walt(['extract', '--from-latents', keep, '--out', join(root, 'x'), '--stride', '3']);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/--stride 3: the latents in .* were made with 2/);
    const none = walt(['extract', '--from-latents', join(root, 'same'), '--out', join(root, 'y')]);
    expect(none.status).toBe(2);
    expect(none.stderr).toMatch(/did not keep latents \(extract it with --keep-latents\)/);
    const inputsToo = walt(['extract', inputs, '--from-latents', keep, '--out', join(root, 'z')]);
    expect(inputsToo.status).toBe(2);
  });

  it('image model, independent frames: cached runs equal full runs too', async () => {
    const k = join(root, 'img-keep');
    const one = join(inputs, readdirFirstVideo());
    expect(
      walt(['extract', one, '--out', k, '--config', 'test-tiny-i', '--blocks', '2', '--keep-latents']).status,
    ).toBe(0);
    const c = join(root, 'img-cached');
    const r = walt(['extract', '--from-latents', k, '--out', c, '--blocks', '2']);
    expect(r.status, r.stderr).toBe(0);
    expect(readManifest(k)[0]).toMatchObject({ latents: { z0: { shape: [17, 1, 8, 8, 8] } } });
    expect(await featureBytes(c)).toEqual(await featureBytes(k));
  });
});

function readdirFirstVideo(): string {
  const l = readManifest(keep).find((x) => x.status === 'ok' && x.kind === 'video');
  return l!.source.split('/').pop()!;
}
