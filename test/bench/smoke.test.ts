// Every bench runs at a tiny size on the software adapter and prints rows of the documented
// schema (times are not checked). With --json, stdout carries one JSON object per line and
// nothing else; matmul and attention rows carry their scope.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const CLI = join(process.cwd(), 'dist/cli.js');

function rows(args: string[]): Record<string, unknown>[] {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 600_000 });
  expect(r.status, r.stderr).toBe(0);
  const lines = r.stdout.split('\n').filter((l) => l !== '');
  for (const l of lines) {
    expect(l.startsWith('{') && l.endsWith('}'), `stdout line that is not a JSON row: ${l}`).toBe(true);
  }
  return lines.map((l) => JSON.parse(l) as Record<string, unknown>);
}

function expectFields(row: Record<string, unknown>, fields: Record<string, 'number' | 'string' | 'boolean'>): void {
  for (const [k, t] of Object.entries(fields)) {
    expect(typeof row[k], `${k} in ${JSON.stringify(row)}`).toBe(t);
  }
}

describe('bench smoke tests (schema only)', () => {
  it('bench matmul', () => {
    const out = mkdtempSync(join(tmpdir(), 'walt-bench-'));
    const r = rows([
      'bench',
      'matmul',
      '--sizes',
      '64,96',
      '--json',
      '--peers',
      'tfjs-webgpu,ort-webgpu,ort-cpu',
      '--min-time-ms',
      '0',
      '--out',
      out,
    ]);
    const impls = new Set(r.map((x) => x.impl));
    expect(impls.has('walt')).toBe(true);
    expect(impls.size).toBeGreaterThanOrEqual(3);
    // Every implementation in every scope it can time: ours and the GPU peers both, ORT's CPU EP host only.
    const scopesOf = (impl: string) => new Set(r.filter((x) => x.impl === impl && x.m === 64).map((x) => x.scope));
    expect(scopesOf('walt')).toEqual(new Set(['host', 'device']));
    for (const peer of ['tfjs-webgpu', 'ort-webgpu']) {
      if (impls.has(peer)) {
        expect(scopesOf(peer), peer).toEqual(new Set(['host', 'device']));
      }
    }
    if (impls.has('ort-cpu')) {
      expect(scopesOf('ort-cpu')).toEqual(new Set(['host']));
    }
    for (const x of r) {
      expectFields(x, {
        impl: 'string',
        scope: 'string',
        ms_min: 'number',
        reps: 'number',
        m: 'number',
        n: 'number',
        k: 'number',
        dtype: 'string',
        ms: 'number',
        gflops: 'number',
        ok: 'boolean',
        adapter: 'string',
      });
      expect(Number.isInteger(x.m) && Number.isInteger(x.n) && Number.isInteger(x.k)).toBe(true);
      expect(['f32', 'f16']).toContain(x.dtype);
      expect(x.ok, JSON.stringify(x)).toBe(true);
    }
    expect(readdirSync(out).some((f) => f.endsWith('.jsonl'))).toBe(true);
    expect(readdirSync(out).some((f) => f.endsWith('.md'))).toBe(true);
  });

  it('bench model', () => {
    const r = rows(['bench', 'model', '--config', 'micro', '--dtype', 'f32', '--json']);
    expect(r.map((x) => x.stage)).toEqual(['encoder', 'denoiser', 'encoder+denoiser']);
    for (const x of r) {
      expectFields(x, {
        impl: 'string',
        config: 'string',
        stage: 'string',
        dtype: 'string',
        ms: 'number',
        gflops: 'number',
        peak_mib: 'number',
      });
    }
  });

  it('bench kernels', () => {
    const r = rows(['bench', 'kernels', '--max-time-s', '0', '--json']);
    const families = new Set(r.map((x) => x.family));
    for (const f of ['matmul', 'conv3d', 'attention', 'layernorm', 'groupnorm', 'elementwise', 'softmax', 'reduce']) {
      expect(families.has(f), f).toBe(true);
    }
    for (const x of r) {
      expectFields(x, { family: 'string', case: 'string', ms: 'number' });
      expect(typeof x.gflops === 'number' || typeof x.gb_s === 'number').toBe(true);
    }
  });

  it('bench attention', () => {
    const out = mkdtempSync(join(tmpdir(), 'walt-bench-'));
    const r = rows([
      'bench',
      'attention',
      '--latent',
      '5x4x4',
      '--windows',
      '1x4x4,5x2x2,full',
      '--heads',
      '2',
      '--head-dim',
      '16',
      '--dtype',
      'f32',
      '--peers',
      'tfjs-webgpu',
      '--min-time-ms',
      '0',
      '--matmul-size',
      '64',
      '--json',
      '--out',
      out,
    ]);
    const walt = r.filter((x) => x.impl === 'walt');
    expect(walt.map((x) => `${String(x.window)}/${String(x.scope)}`)).toEqual([
      '1x4x4/host',
      '1x4x4/device',
      '5x2x2/host',
      '5x2x2/device',
      'full/host',
      'full/device',
    ]);
    expect(new Set(r.map((x) => x.impl))).toContain('walt-naive');
    for (const x of r) {
      expectFields(x, {
        impl: 'string',
        scope: 'string',
        ms_min: 'number',
        walt_x: 'number',
        window: 'string',
        heads: 'number',
        head_dim: 'number',
        dtype: 'string',
        ms: 'number',
        gflops: 'number',
        gb_s: 'number',
        matmul_share: 'number',
        ok: 'boolean',
        err: 'number',
        adapter: 'string',
      });
    }
    for (const x of walt) {
      expect(x.ok).toBe(true);
      expect(x.err as number).toBeLessThanOrEqual(1e-5);
    }
    for (const ext of ['.jsonl', '.md', '.svg', '.png']) {
      expect(
        readdirSync(out).some((f) => f.startsWith('attention-') && f.endsWith(ext)),
        ext,
      ).toBe(true);
    }
  });

  it('bench attention rejects bad options with the fix', () => {
    for (const [args, msg] of [
      [['--head-dim', '20'], /supported head dims are/],
      [['--latent', '5x16'], /TxHxW/],
    ] as const) {
      const r = spawnSync(process.execPath, [CLI, 'bench', 'attention', ...args], { encoding: 'utf8' });
      expect(r.status).toBe(2);
      expect(r.stderr).toMatch(msg);
    }
  });

  it('profile', () => {
    const out = mkdtempSync(join(tmpdir(), 'walt-profile-'));
    const r = rows(['profile', '--config', 'micro', '--windows', '5x2x2,5x4x4,full', '--json', '--out', out]);
    for (const ext of ['.jsonl', '.md', '.svg', '.png']) {
      expect(
        readdirSync(out).some((f) => f.startsWith('profile-micro-tradeoff-') && f.endsWith(ext)),
        ext,
      ).toBe(true);
    }
    const kernels = r.filter((x) => x.kind === 'kernels');
    const tradeoff = r.filter((x) => x.kind === 'tradeoff');
    expect(new Set(kernels.filter((x) => x.by === 'family').map((x) => x.group))).toContain('conv3d');
    expect(new Set(kernels.filter((x) => x.by === 'layer').map((x) => x.group))).toContain('spatiotemporal');
    expect(tradeoff.map((x) => x.window)).toEqual(['5x2x2', '5x4x4', 'full']);
    for (const x of tradeoff) {
      expectFields(x, {
        window: 'string',
        ms: 'number',
        passes_per_s: 'number',
        relative_to_full: 'number',
        attention_share: 'number',
        gflop: 'number',
        peak_mib: 'number',
      });
    }
  });

  it('bench extract', () => {
    const r = rows(['bench', 'extract', '--config', 'test-tiny', '--json']);
    const w = r.find((x) => x.impl === 'walt')!;
    expectFields(w, {
      clips_per_s: 'number',
      frames_per_s: 'number',
      decode_s: 'number',
      encoder_s: 'number',
      denoiser_s: 'number',
      write_s: 'number',
    });
    expect(w.clips).toBe(6);
  });

  it('bench train', () => {
    const out = mkdtempSync(join(tmpdir(), 'walt-bench-train-'));
    const r = rows([
      'bench',
      'train',
      '--clips',
      '2',
      '--steps',
      '1',
      '--batch',
      '2',
      '--grid',
      '8x8',
      '--sweep',
      '1e-4,1e-3',
      '--json',
      '--out',
      out,
    ]);
    // One row per task, then the sweep row (two rates in one pass).
    expect(r.map((x) => x.task)).toEqual(['motion', 'pose', 'depth', 'points', 'boxes', 'motion']);
    expect(r[5]!.lrs).toBe('0.0001,0.001');
    for (const x of r) {
      expectFields(x, { head: 'string', params: 'number', steps_s: 'number', ms_step: 'number', last_loss: 'number' });
      expect(x.steps_s as number).toBeGreaterThan(0);
    }
    const files = readdirSync(out).map((f) => f.replace(/-\d{4}-.*\./, '.'));
    expect(files.sort()).toEqual(['train.jsonl', 'train.md', 'train.png', 'train.svg']);
  });

  it('bench train rejects a bad --sweep with the fix', () => {
    const r = spawnSync(process.execPath, [CLI, 'bench', 'train', '--sweep', '1e-3,fast'], { encoding: 'utf8' });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/--sweep 1e-3,fast: 'fast' is not a positive learning rate/);
  });
});
