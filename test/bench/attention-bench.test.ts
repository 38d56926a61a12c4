// benchAttention at a tiny size on the test adapter: the row schema, one row per implementation,
// scope and window, the same number of timed runs for every row of a case, ratios of the same scope
// only, and the chart (times are not checked).
import { describe, expect, it } from 'vitest';
import { attentionChart, ATTENTION_COLUMNS, benchAttention } from '../../bench/attention.js';
import { parseWindow, type Row } from '../../bench/harness.js';
import { gpu } from '../helpers/gpu.js';

describe('bench attention (schema only)', () => {
  it('runs walt, walt-naive and the peers on every window, in every scope each can time', async () => {
    const ctx = await gpu();
    const seen: Row[] = [];
    const logs: string[] = [];
    const { rows, header } = await benchAttention(ctx, {
      windows: ['1x4x4', '5x2x2', 'full', '3x4x4'],
      latent: [5, 4, 4],
      heads: 2,
      headDims: [16],
      batch: 1,
      dtypes: ['f32'],
      peers: ['tfjs-webgpu', 'ort-webgpu'],
      minTimeMs: 0,
      rounds: 2,
      reps: 3,
      matmulGflops: { f32: { host: 5, device: 10 } },
      onRow: (r) => seen.push(r),
      log: (s) => logs.push(s),
    });
    expect(seen).toEqual(rows);
    // 3x4x4 does not tile 5x4x4: logged and skipped.
    expect(logs.some((l) => l.startsWith('3x4x4 skipped'))).toBe(true);
    const impls = new Set(rows.map((r) => r.impl));
    expect(impls.has('walt')).toBe(true);
    expect(impls.has('walt-naive')).toBe(true);
    for (const peer of ['tfjs-webgpu', 'ort-webgpu']) {
      expect(impls.has(peer) || logs.some((l) => l.includes(peer)), peer).toBe(true);
    }
    for (const w of ['1x4x4', '5x2x2', 'full']) {
      const ours = rows.filter((r) => r.window === w && (r.impl === 'walt' || r.impl === 'walt-naive'));
      expect(ours.map((r) => `${String(r.impl)}/${String(r.scope)}`).sort()).toEqual([
        'walt-naive/device',
        'walt-naive/host',
        'walt/device',
        'walt/host',
      ]);
      // Every implementation and scope of a case: the same number of timed runs (2 rounds × ⌈3/2⌉).
      expect(new Set(rows.filter((r) => r.window === w).map((r) => r.reps))).toEqual(new Set([4]));
      // Host rows first (the headline scope).
      const scopes = rows.filter((r) => r.window === w).map((r) => r.scope);
      expect(scopes.indexOf('device')).toBeGreaterThan(scopes.lastIndexOf('host'));
    }
    for (const peer of ['tfjs-webgpu', 'ort-webgpu']) {
      if (impls.has(peer)) {
        expect(new Set(rows.filter((r) => r.impl === peer).map((r) => r.scope)), peer).toEqual(
          new Set(['host', 'device']),
        );
      }
    }
    // walt_x compares with ours in the same case and the same scope, never across scopes.
    for (const r of rows) {
      const w = rows.find((x) => x.impl === 'walt' && x.window === r.window && x.scope === r.scope)!;
      expect(r.walt_x).toBeCloseTo((r.ms as number) / (w.ms as number), 12);
      expect(r.walt_x_min).toBeCloseTo((r.ms_min as number) / (w.ms_min as number), 12);
      expect(r.ms_min as number).toBeLessThanOrEqual(r.ms as number);
    }
    expect(header).toMatch(/walt host: /);
    expect(header).toMatch(/tfjs-webgpu device: /);
    for (const r of rows) {
      for (const [k, t] of Object.entries({
        impl: 'string',
        scope: 'string',
        window: 'string',
        heads: 'number',
        head_dim: 'number',
        dtype: 'string',
        ms: 'number',
        ms_min: 'number',
        reps: 'number',
        gflops: 'number',
        walt_x: 'number',
        gb_s: 'number',
        matmul_share: 'number',
        ok: 'boolean',
        err: 'number',
        first_ms: 'number',
        adapter: 'string',
        software: 'boolean',
        date: 'string',
        commit: 'string',
        rounds: 'number',
      })) {
        expect(typeof r[k], `${k} in ${JSON.stringify(r)}`).toBe(t);
      }
      expect(r.heads).toBe(2);
      expect(r.head_dim).toBe(16);
      expect(['host', 'device']).toContain(r.scope);
      expect(r.matmul_share).toBeCloseTo((r.gflops as number) / (r.scope === 'host' ? 5 : 10), 9);
      if (r.impl === 'walt' || r.impl === 'walt-naive') {
        expect(r.ok, JSON.stringify(r)).toBe(true);
        expect(r.err as number).toBeLessThanOrEqual(1e-5);
      }
    }
    for (const c of ATTENTION_COLUMNS) {
      expect(rows[0]).toHaveProperty(c);
    }
    const { svg } = attentionChart(rows);
    expect(svg.startsWith('<svg')).toBe(true);
    for (const label of ['1x4x4', '5x2x2', 'full', 'walt', 'walt-naive', 'GFLOP/s']) {
      expect(svg).toContain(label);
    }
  });

  it('parses windows', () => {
    expect(parseWindow('full', [5, 16, 16])).toEqual([5, 16, 16]);
    expect(parseWindow('5x8x8', [5, 16, 16])).toEqual([5, 8, 8]);
    expect(() => parseWindow('5x8', [5, 16, 16])).toThrow(/TxHxW/);
    expect(() => parseWindow('2x8x8', [5, 16, 16])).toThrow(/does not tile/);
  });
});
