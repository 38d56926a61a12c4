// How a bench ends when it cannot finish normally (the CLI, spawned on the software adapter):
// a sweep in which every case is skipped exits 1 with a message; Ctrl-C (SIGINT) and --timeout-s
// stop at the next measurement and still write the rows measured so far, exactly those printed.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const CLI = join(process.cwd(), 'dist/cli.js');

interface Ended {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/** Runs the CLI; `onRow` is called with the child and the count of JSON rows seen on stdout so far. */
function run(args: string[], onRow?: (child: ReturnType<typeof spawn>, rows: number) => void): Promise<Ended> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
      onRow?.(child, stdout.split('\n').filter((l) => l.startsWith('{')).length);
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr, ms: performance.now() - t0 }));
  });
}

function jsonLines(s: string): Record<string, unknown>[] {
  const lines = s.split('\n').filter((l) => l !== '');
  for (const l of lines) {
    expect(l.startsWith('{'), `stdout line that is not a JSON row: ${l}`).toBe(true);
  }
  return lines.map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** The rows of the one .jsonl result file in `dir`, and its markdown. */
function written(dir: string): { rows: Record<string, unknown>[]; md: string } {
  const files = readdirSync(dir);
  const jsonl = files.filter((f) => f.endsWith('.jsonl'));
  expect(jsonl, files.join(', ')).toHaveLength(1);
  const md = files.find((f) => f.endsWith('.md'))!;
  return {
    rows: jsonLines(readFileSync(join(dir, jsonl[0]!), 'utf8')),
    md: readFileSync(join(dir, md), 'utf8'),
  };
}

// Many identical small sizes: each takes a fraction of a second (on lavapipe and on a GPU alike, where
// per-run overhead dominates), the sweep far longer than the tests wait (minutes on lavapipe).
const LONG_SWEEP = ['bench', 'matmul', '--sizes', Array(3000).fill('384').join(','), '--peers', 'none', '--reps', '3'];

describe('bench: stopping and skipping', () => {
  it('a sweep in which every case is skipped exits 1 and says so', () => {
    const r = spawnSync(
      process.execPath,
      [
        CLI,
        'bench',
        'attention',
        '--latent',
        '5x4x4',
        '--windows',
        '3x4x4,2x2x2',
        '--heads',
        '2',
        '--head-dim',
        '16',
        '--dtype',
        'f32',
        '--peers',
        'none',
        '--matmul-size',
        '64',
        '--json',
      ],
      { encoding: 'utf8', timeout: 300_000 },
    );
    expect(r.status, r.stderr).toBe(1);
    expect(r.stderr).toMatch(/3x4x4 skipped/);
    expect(r.stderr).toMatch(/every case was skipped/);
    expect(r.stdout).toBe('');
  });

  it('Ctrl-C writes the rows measured so far (exit 130)', async () => {
    const out = mkdtempSync(join(tmpdir(), 'walt-bench-sigint-'));
    let sent = false;
    const r = await run([...LONG_SWEEP, '--json', '--out', out], (child, rows) => {
      if (rows >= 2 && !sent) {
        sent = true;
        child.kill('SIGINT');
      }
    });
    expect(sent, r.stderr).toBe(true);
    expect(r.code, r.stderr).toBe(130);
    expect(r.stderr).toMatch(/interrupted/);
    const printed = jsonLines(r.stdout);
    expect(printed.length).toBeGreaterThanOrEqual(2);
    expect(printed.length).toBeLessThan(6000);
    const w = written(out);
    expect(w.rows).toEqual(printed);
    expect(w.md).toMatch(/Partial results.*interrupted/);
  });

  it('--timeout-s writes the rows measured so far (exit 124)', async () => {
    const out = mkdtempSync(join(tmpdir(), 'walt-bench-timeout-'));
    const r = await run([...LONG_SWEEP, '--timeout-s', '5', '--json', '--out', out]);
    expect(r.code, r.stderr).toBe(124);
    expect(r.stderr).toMatch(/--timeout-s 5 reached/);
    // Stopped at the next measurement, well before the grace period would write the rows anyway.
    expect(r.ms).toBeLessThan(5_000 + 15_000);
    const printed = jsonLines(r.stdout);
    expect(printed.length, r.stderr).toBeGreaterThanOrEqual(1);
    const w = written(out);
    expect(w.rows).toEqual(printed);
    expect(w.md).toMatch(/Partial results.*timed out/);
  });
});
