// `walt readout forward` and `walt readout step` end to end (dist/cli.js) on the fixtures of the
// float64 reference: one clip's outputs; the step's JSON lines, the first loss's gradients
// (--grads-out) and the weights after two AdamW steps; stdout carries only JSON lines; bad
// input exits 2 with one line and writes nothing.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { writeNpy } from '../../src/io/npy.js';
import { SafetensorsFile } from '../../src/io/safetensors.js';
import { compare } from '../helpers/compare.js';

const CLI = join(process.cwd(), 'dist/cli.js');
const walt = (args: string[]) =>
  spawnSync(process.execPath, [CLI, ...args], {
    encoding: 'utf8',
    timeout: 300_000,
    env: { ...process.env, XDG_RUNTIME_DIR: '/tmp' },
  });

async function readAll(path: string): Promise<Map<string, { shape: number[]; data: Float32Array }>> {
  const f = await SafetensorsFile.open(path);
  try {
    const out = new Map<string, { shape: number[]; data: Float32Array }>();
    for (const [k, e] of f.tensors) {
      out.set(k, {
        shape: [...e.shape],
        data: e.dtype === 'I64' || e.dtype === 'I32' ? new Float32Array(0) : await f.readF32(k),
      });
    }
    return out;
  } finally {
    await f.close();
  }
}

/** An int64 .npy (query frames in an integer dtype). */
function writeInt64Npy(path: string, values: number[]): void {
  const header = `{'descr': '<i8', 'fortran_order': False, 'shape': (${values.length},), }`;
  const pad = 64 - ((10 + header.length + 1) % 64);
  const h = Buffer.from(`${header}${' '.repeat(pad % 64)}\n`, 'latin1');
  const pre = Buffer.alloc(10);
  pre.write('\x93NUMPY', 0, 'latin1');
  pre[6] = 1;
  pre[7] = 0;
  pre.writeUInt16LE(h.length, 8);
  const body = Buffer.alloc(8 * values.length);
  values.forEach((v, i) => body.writeBigInt64LE(BigInt(v), 8 * i));
  writeFileSync(path, Buffer.concat([pre, h, body]));
}

const relToMax = (a: ArrayLike<number>, b: ArrayLike<number>): number =>
  compare(a, b, { atol: Infinity, rtol: 0 }).relToMax;

describe('walt readout forward / step (CLI)', () => {
  for (const kind of ['attention', 'camera', 'depth', 'points', 'boxes'] as const) {
    const dir = join(process.cwd(), 'test/fixtures/readout', kind);
    it(`${kind}: forward on clip 0, then step --steps 2 with --grads-out`, async () => {
      const tmp = mkdtempSync(join(tmpdir(), `walt-readout-${kind}-`));
      const meta = JSON.parse(readFileSync(join(dir, 'meta.json'), 'utf8')) as { grid?: number[] };
      const grid = meta.grid ? ['--grid', `${meta.grid[0]}x${meta.grid[1]}`] : [];
      const batch = await SafetensorsFile.open(join(dir, 'batch.safetensors'));
      const F = batch.tensors.get('features')!;
      const [, T, N, C] = F.shape as [number, number, number, number];
      const all = await batch.readF32('features');
      await writeNpy(join(tmp, 'f.npy'), [T, N, C], all.subarray(0, T * N * C));
      const extra: string[] = [];
      if (kind === 'points' || kind === 'boxes') {
        const q = batch.tensors.get('queries')!;
        const [, M, nc] = q.shape as [number, number, number];
        const qv = await batch.readF32('queries');
        await writeNpy(join(tmp, 'q.npy'), [M, nc], qv.subarray(0, M * nc));
        const qf = batch.tensors.get('query_frames')!;
        const raw = await batch.readBytes('query_frames');
        const frames = Array.from({ length: M }, (_, i) =>
          qf.dtype === 'F32'
            ? raw.readFloatLE(4 * i)
            : qf.dtype === 'I32'
              ? raw.readInt32LE(4 * i)
              : Number(raw.readBigInt64LE(8 * i)),
        );
        writeInt64Npy(join(tmp, 'qf.npy'), frames);
        extra.push('--queries', join(tmp, 'q.npy'), '--query-frames', join(tmp, 'qf.npy'));
      }
      await batch.close();
      const head = join(dir, 'head.json');
      const weights = join(dir, 'weights.safetensors');
      const expected = await readAll(join(dir, 'expected.safetensors'));

      const fwd = walt([
        'readout',
        'forward',
        '--head',
        head,
        '--weights',
        weights,
        '--features',
        join(tmp, 'f.npy'),
        ...extra,
        ...grid,
        '--out',
        join(tmp, 'o.safetensors'),
      ]);
      expect(fwd.status, fwd.stderr).toBe(0);
      expect(fwd.stdout).toBe('');
      const out = await readAll(join(tmp, 'o.safetensors'));
      for (const [name, t] of out) {
        const e = expected.get(`forward/${name}`)!;
        const per = e.data.length / e.shape[0]!;
        expect(t.shape, name).toEqual(e.shape.slice(1));
        expect(relToMax(t.data, e.data.subarray(0, per)), `forward ${name}`).toBeLessThanOrEqual(1e-4);
      }

      const step = walt([
        'readout',
        'step',
        '--head',
        head,
        '--weights',
        weights,
        '--batch',
        join(dir, 'batch.safetensors'),
        '--lr',
        '1e-2',
        '--weight-decay',
        '0.5',
        '--warmup',
        '0',
        '--total-steps',
        '10',
        '--steps',
        '2',
        ...grid,
        '--out',
        join(tmp, 'w2.safetensors'),
        '--grads-out',
        join(tmp, 'g.safetensors'),
      ]);
      expect(step.status, step.stderr).toBe(0);
      const lines = step.stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { step: number; loss: number; lr: number });
      expect(lines.map((l) => l.step)).toEqual([1, 2]);
      expect(Object.keys(lines[0]!).sort()).toEqual(['loss', 'lr', 'step']);
      expect(
        relToMax(
          lines.map((l) => l.loss),
          expected.get('loss')!.data,
        ),
      ).toBeLessThanOrEqual(1e-4);
      expect(
        relToMax(
          lines.map((l) => l.lr),
          expected.get('lr')!.data,
        ),
      ).toBeLessThanOrEqual(1e-6);
      const g = await readAll(join(tmp, 'g.safetensors'));
      const w2 = await readAll(join(tmp, 'w2.safetensors'));
      for (const [name, t] of g) {
        const e = expected.get(`grad/${name}`)!.data;
        const zero = e.every((v) => v === 0);
        expect(
          zero ? compare(t.data, e, { atol: Infinity, rtol: 0 }).maxAbs : relToMax(t.data, e),
          `grad ${name}`,
        ).toBeLessThanOrEqual(zero ? 1e-6 : 1e-4);
        expect(w2.get(name)!.shape).toEqual(t.shape);
      }
    });
  }

  it('bad input exits 2 with one line naming the input, and writes nothing', () => {
    const tmp = mkdtempSync(join(tmpdir(), 'walt-readout-bad-'));
    const dir = join(process.cwd(), 'test/fixtures/readout/attention');
    const out = join(tmp, 'w2.safetensors');
    const r = walt([
      'readout',
      'step',
      '--head',
      join(dir, 'head.json'),
      '--weights',
      join(process.cwd(), 'test/fixtures/readout/camera/weights.safetensors'),
      '--batch',
      join(dir, 'batch.safetensors'),
      '--lr',
      '1e-3',
      '--out',
      out,
    ]);
    expect(r.status).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/--weights .*no tensor 'readout\.tiny_attention\./);
    expect(existsSync(out)).toBe(false);
    const r2 = walt([
      'readout',
      'forward',
      '--head',
      'points',
      '--width',
      '8',
      '--weights',
      'x',
      '--features',
      'y',
      '--out',
      out,
    ]);
    expect(r2.status).toBe(2);
  });
});
