// The bench plumbing every row goes through (no GPU): one timing loop with an exact number of
// timed runs, one helper for ms and ms_min, ratios of the same scope only, progress lines, and the
// sampled references, which must equal src/ref on the whole problem at the sampled positions.
import { describe, expect, it } from 'vitest';
import {
  addWaltRatios,
  attentionRefSampled,
  byScope,
  matmulRefRows,
  Progress,
  samplePairs,
  sampleRows,
  type Row,
} from '../../bench/harness.js';
import { median, repsFor, summarize, timeRuns } from '../../bench/stats.js';
import { attentionRef } from '../../src/ref/attention.js';
import { matmulRef } from '../../src/ref/matmul.js';
import { Rng } from '../../src/util/rng.js';

describe('stats', () => {
  it('summarize: median and best of the same runs', () => {
    expect(summarize([5, 1, 3])).toEqual({ ms: 3, ms_min: 1, reps: 3 });
    expect(summarize([4, 2, 8, 6])).toEqual({ ms: 5, ms_min: 2, reps: 4 });
    expect(summarize([7])).toEqual({ ms: 7, ms_min: 7, reps: 1 });
    expect(Number.isNaN(summarize([]).ms)).toBe(true);
    expect(median([3, 1, 2])).toBe(2);
  });

  it('timeRuns makes one cold run, the warm-ups and exactly reps timed runs', async () => {
    for (const [warmup, reps] of [
      [0, 1],
      [1, 3],
      [2, 7],
    ] as const) {
      let calls = 0;
      const r = await timeRuns(
        async () => {
          calls++;
          await new Promise((res) => setTimeout(res, 1));
          return calls;
        },
        { warmup, reps },
        5,
      );
      expect(calls).toBe(1 + warmup + reps);
      expect(r.times).toHaveLength(reps);
      expect(r.last).toBe(calls);
      expect(r.firstMs).toBeGreaterThanOrEqual(5);
      expect(Math.min(...r.times)).toBeGreaterThan(0);
    }
  });

  it('repsFor: enough runs for the time budget, 3…30', () => {
    expect(repsFor(100, 1500)).toBe(15);
    expect(repsFor(1000, 1500)).toBe(3);
    expect(repsFor(1, 1500)).toBe(30);
    expect(repsFor(0, 1500)).toBe(30);
    expect(repsFor(7, 1500, 97)).toBe(97);
  });
});

describe('same-scope ratios', () => {
  const row = (impl: string, scope: string, m: number, ms: number, msMin: number): Row => ({
    impl,
    scope,
    m,
    ms,
    ms_min: msMin,
  });

  it('compares each row with ours in the same case and the same scope only', () => {
    const rows = [
      row('walt', 'host', 3, 10, 8),
      row('walt', 'device', 3, 2, 1),
      row('peer', 'host', 3, 20, 12),
      row('peer', 'device', 3, 30, 10),
      row('peer', 'host', 7, 5, 5),
    ];
    addWaltRatios(rows, ['m']);
    expect(rows.map((r) => r.walt_x)).toEqual([1, 1, 2, 15, null]);
    expect(rows.map((r) => r.walt_x_min)).toEqual([1, 1, 1.5, 10, null]);
    expect(byScope(rows).map((r) => r.scope)).toEqual(['host', 'host', 'host', 'device', 'device']);
  });
});

describe('progress', () => {
  it('prints the step, the count and, from the second step on, the time left', () => {
    const lines: string[] = [];
    const p = new Progress(3, (s) => lines.push(s));
    p.step('a');
    p.step('b');
    p.step('c');
    expect(lines[0]).toMatch(/^\[1\/3\] a \(\d+ s elapsed\)$/);
    expect(lines[1]).toMatch(/^\[2\/3\] b \(\d+ s elapsed, about \d+ s left\)$/);
    expect(lines[2]).toMatch(/^\[3\/3\] c /);
  });
});

describe('sampled references are src/ref at the sampled positions', () => {
  it('matmul rows (m 7, n 5, k 97)', () => {
    const [m, n, k] = [7, 5, 97];
    const rng = new Rng(3);
    const a = rng.normals(m * k);
    const b = rng.normals(k * n);
    const rows = sampleRows(m, 3, 1);
    expect(rows).toHaveLength(3);
    expect(rows).toContain(0);
    expect(rows).toContain(m - 1);
    const got = matmulRefRows(a, b, m, n, k, rows);
    const full = matmulRef({ a, b, m, n, k });
    expect(got.size).toBe(3 * n);
    for (const [i, v] of got) {
      expect(v).toBe(full[i]);
    }
    expect(() => matmulRefRows(a, b, m, n, k, [m])).toThrow(/outside/);
  });

  it('attention (window, head) pairs: 3 windows of 7 tokens, 3 heads, head dim 5', () => {
    const [windows, nw, heads, headDim] = [3, 7, 3, 5];
    const rng = new Rng(4);
    const n = windows * nw * heads * headDim;
    const [q, k, v] = [rng.normals(n), rng.normals(n), rng.normals(n)];
    const pairs = samplePairs(windows, heads, nw, headDim, 2, 1e9);
    expect(pairs.length).toBe(windows * heads);
    const got = attentionRefSampled({ q, k, v, windows, nw, heads, headDim }, pairs);
    // The whole problem by src/ref: each window is one clip of nw tokens.
    const full = attentionRef({ q, k, v, latent: [1, 1, nw], window: [1, 1, nw], batch: windows, heads, headDim });
    expect(got.size).toBe(n);
    for (const [i, x] of got) {
      expect(x).toBeCloseTo(full[i]!, 12);
    }
    const few = samplePairs(windows, heads, nw, headDim, 2, 1);
    expect(few).toEqual([
      [0, 0],
      [windows - 1, heads - 1],
    ]);
  });
});
