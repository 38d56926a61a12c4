// The CLI end to end on test-tiny: info counts, init, forward (pixels, image, latent), errors.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readNpy } from '../../src/io/npy.js';
import { SafetensorsFile } from '../../src/io/safetensors.js';
import { expectRelToMax } from '../helpers/compare.js';

const CLI = join(process.cwd(), 'dist/cli.js');
const run = (args: string[]) =>
  spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 300_000, cwd: tmpdir() });

describe('walt CLI', () => {
  it('info --config L --json prints the counts as integers', () => {
    const out = JSON.parse(
      execFileSync(process.execPath, [CLI, 'info', '--config', 'L', '--json'], { encoding: 'utf8' }),
    ) as Record<string, number>;
    expect(out.denoiser).toBe(313238408);
    expect(out.encoder).toBe(144860184);
    expect(out.total).toBe(313238408 + 144860184);
  });

  // --stats: the pool cap in force and the counters of that run (WALT_POOL_MB=0: nothing reused).
  for (const [pool, reuse] of [
    ['0', false],
    ['', true],
  ] as const) {
    it(`forward --stats with WALT_POOL_MB=${pool || '(default)'}`, () => {
      const dir = mkdtempSync(join(tmpdir(), 'walt-cli-'));
      const fx = join(process.cwd(), 'test/fixtures/test-tiny');
      const r = spawnSync(
        process.execPath,
        [
          CLI,
          'forward',
          '--config',
          'test-tiny',
          '--weights',
          `${fx}/weights.safetensors`,
          '--input',
          `${fx}/video-latent/input.npy`,
          '--latent',
          '--taps',
          '2',
          '--out',
          join(dir, 'o.safetensors'),
          '--stats',
        ],
        { encoding: 'utf8', timeout: 300_000, cwd: tmpdir(), env: { ...process.env, WALT_POOL_MB: pool } },
      );
      expect(r.status, r.stderr).toBe(0);
      const lines = r.stdout.trim().split('\n');
      expect(lines.length).toBe(1);
      const s = JSON.parse(lines[0]!) as { memory: Record<string, number>; time: Record<string, number> };
      expect(Object.keys(s.memory).sort()).toEqual(['buffers_created', 'buffers_reused', 'peak_bytes', 'pool_mb']);
      expect(s.memory.pool_mb).toBe(pool === '0' ? 0 : 2048);
      expect(s.memory.peak_bytes).toBeGreaterThan(0);
      expect(s.memory.buffers_created).toBeGreaterThan(0);
      expect(s.memory.buffers_reused! > 0).toBe(reuse);
      expect(s.time.pipelines).toBeGreaterThan(5);
      expect(r.stderr).toMatch(/cold start: \d+ pipelines in [\d.]+ s/);
    });
  }

  it('forward on test-tiny matches the reference fixture (pixels, all taps, final)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'walt-cli-'));
    const fx = join(process.cwd(), 'test/fixtures/test-tiny');
    const out = join(dir, 'out.safetensors');
    const r = run([
      'forward',
      '--config',
      'test-tiny',
      '--weights',
      `${fx}/weights.safetensors`,
      '--input',
      `${fx}/video-pixels/input.npy`,
      '--t',
      '200',
      '--noise',
      `${fx}/video-pixels/noise.npy`,
      '--class',
      '3',
      '--taps',
      '2,4,final',
      '--out',
      out,
    ]);
    expect(r.status, r.stderr).toBe(0);
    return (async () => {
      const got = await SafetensorsFile.open(out);
      const exp = await SafetensorsFile.open(`${fx}/video-pixels/expected.safetensors`);
      expect([...got.tensors.keys()].sort()).toEqual(['block.2', 'block.4', 'latent', 'v_pred', 'z_t']);
      expect(got.tensors.get('block.2')!.shape).toEqual([5, 8, 8, 64]);
      expect(got.tensors.get('v_pred')!.shape).toEqual([5, 8, 8, 8]);
      for (const k of ['latent', 'block.2', 'block.4', 'v_pred']) {
        expectRelToMax(await got.readF32(k), await exp.readF32(k), 1e-4, k);
      }
    })();
  });

  it('forward stops after the deepest tap and takes latent input', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'walt-cli-'));
    const fx = join(process.cwd(), 'test/fixtures/test-tiny');
    const out = join(dir, 'o.safetensors');
    const r = run([
      'forward',
      '--config',
      'test-tiny',
      '--weights',
      `${fx}/weights.safetensors`,
      '--latent',
      '--input',
      `${fx}/video-latent/input.npy`,
      '--noise',
      `${fx}/video-latent/noise.npy`,
      '--class',
      '7',
      '--taps',
      '1',
      '--out',
      out,
    ]);
    expect(r.status, r.stderr).toBe(0);
    const got = await SafetensorsFile.open(out);
    expect([...got.tensors.keys()].sort()).toEqual(['block.1', 'z_t']);
    const exp = await SafetensorsFile.open(`${fx}/video-latent/expected.safetensors`);
    expectRelToMax(await got.readF32('block.1'), await exp.readF32('block.1'), 1e-4, 'block.1');
    expect((await readNpy(`${fx}/video-latent/input.npy`)).shape).toEqual([5, 8, 8, 8]);
  });

  it('clear errors: missing weights, wrong input shape, unknown config', () => {
    const fx = join(process.cwd(), 'test/fixtures/test-tiny');
    const a = run([
      'forward',
      '--config',
      'test-tiny',
      '--weights',
      '/nope/w.safetensors',
      '--input',
      `${fx}/video-pixels/input.npy`,
    ]);
    expect(a.status).not.toBe(0);
    expect(a.stderr).toMatch(/no such file.*walt init --config test-tiny/);
    const b = run([
      'forward',
      '--config',
      'test-tiny',
      '--weights',
      `${fx}/weights.safetensors`,
      '--input',
      `${fx}/video-latent/input.npy`,
    ]);
    expect(b.status).not.toBe(0);
    expect(b.stderr).toMatch(/pixel input must be \[T, H, W, 3\]/);
    const c = run(['info', '--config', 'Z']);
    expect(c.status).not.toBe(0);
    expect(c.stderr).toMatch(/not a built-in config/);
  });
});
