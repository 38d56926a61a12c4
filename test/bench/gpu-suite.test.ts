// bench/gpu-suite.sh --smoke: the one script a lent GPU runs, end to end at tiny sizes on the
// test adapter (about 30 s here): every step exits 0 and writes rows stamped with date and commit.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const STEPS = ['matmul-f32', 'attention', 'model', 'matmul-f16', 'extract', 'readout', 'profile'];

describe('bench/gpu-suite.sh --smoke', () => {
  it('runs every step and writes the results with device, date and commit', () => {
    const out = mkdtempSync(join(tmpdir(), 'walt-gpu-suite-'));
    const r = spawnSync('bash', ['bench/gpu-suite.sh', '--smoke', '--out', out], {
      encoding: 'utf8',
      timeout: 480_000,
    });
    expect(r.status, r.stderr).toBe(0);
    const summary = readFileSync(join(out, 'suite.md'), 'utf8');
    expect(summary).toMatch(/^- commit: \S+/m);
    expect(summary).toMatch(/^- adapter: \S+/m);
    for (const s of STEPS) {
      expect(summary, s).toMatch(new RegExp(`^\\| ${s} \\| \`walt [^|]*\` \\| 0 \\|`, 'm'));
    }
    const device = JSON.parse(readFileSync(join(out, 'device.json'), 'utf8')) as { adapter: { name: string } };
    expect(device.adapter.name).toBeTruthy();
    const files = readdirSync(out);
    for (const prefix of [
      'matmul-f32-',
      'matmul-f16-',
      'attention-',
      'model-micro-',
      'extract-',
      'readout-k400-',
      'profile-micro-',
    ]) {
      const f = files.find((x) => x.startsWith(prefix) && x.endsWith('.jsonl'));
      expect(f, prefix).toBeDefined();
      const rows = readFileSync(join(out, f!), 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Record<string, unknown>);
      expect(rows.length, prefix).toBeGreaterThan(0);
      for (const row of rows) {
        expect(typeof row.date, prefix).toBe('string');
        expect(typeof row.commit, prefix).toBe('string');
      }
    }
  });
});
