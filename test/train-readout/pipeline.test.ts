// The whole loop on the software adapter, at tiny size, through the CLI: walt synth → walt
// extract (test-tiny, t 200, block 2) → walt train-readout → walt eval-readout for every task;
// several learning rates in one pass (each equal to its own single run, byte for byte);
// resuming after SIGKILL right after the first checkpoint, after Ctrl-C, and after kills at
// random moments, always ending with an uninterrupted run's bytes; a finished run left alone;
// bad inputs refused with exit 2 before anything is written.
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { PNG } from 'pngjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildWorker, walt, waltAsync, withoutDawnWarnings } from './helpers.js';

let root: string;
const TASKS = [
  { task: 'motion', head: 'attention', metric: ['top1'], n: 4 },
  { task: 'pose', head: 'camera', metric: ['epe'], n: 3 },
  { task: 'depth', head: 'depth', metric: ['absrel'], n: 3 },
  {
    task: 'points',
    head: 'points',
    metric: ['average_jaccard', 'average_pts_within_thresh', 'occlusion_accuracy'],
    n: 3,
  },
  { task: 'boxes', head: 'boxes', metric: ['iou'], n: 3 },
] as const;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'walt-train-e2e-'));
  // The batch worker next to the CLI bundle (tools/build.mjs builds it too when it lists it).
  await buildWorker(join(process.cwd(), 'dist'));
  for (const t of TASKS) {
    const r = walt(['synth', '--task', t.task, '--n', String(t.n), '--seed', '3', '--out', t.task], root);
    expect(r.status, r.stderr).toBe(0);
  }
  // One extraction for every task (sources relative to root: the folder walk's paths).
  const r = walt(
    [
      'extract',
      ...TASKS.map((t) => `${t.task}/videos`),
      '--out',
      'feats',
      '--config',
      'test-tiny',
      '--t',
      '200',
      '--blocks',
      '2',
    ],
    root,
  );
  expect(r.status, r.stderr).toBe(0);
}, 300_000);
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

const sha = (p: string): string => createHash('sha256').update(readFileSync(p)).digest('hex');

/** Every file under dir: relative path → sha256 and mtime. */
function snapshot(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (d: string): void => {
    for (const n of readdirSync(d).sort()) {
      const p = join(d, n);
      if (statSync(p).isDirectory()) {
        walk(p);
      } else {
        out.set(relative(dir, p), `${sha(p)} ${statSync(p).mtimeMs}`);
      }
    }
  };
  walk(dir);
  return out;
}

const trainArgs = (head: string, task: string, out: string, extra: string[] = []): string[] => [
  'train-readout',
  '--head',
  head,
  '--features',
  'feats',
  '--labels',
  `${task}/labels.csv`,
  '--out',
  out,
  '--batch',
  '2',
  '--seed',
  '1',
  ...extra,
];

describe('synth → extract → train → eval, every task', () => {
  for (const t of TASKS) {
    it(`${t.task} (${t.head} head)`, () => {
      const out = `run-${t.task}`;
      const extra =
        t.task === 'motion'
          ? ['--val-features', 'feats', '--val-labels', 'motion/labels.csv', '--checkpoint-every', '2']
          : ['--checkpoint-every', '2'];
      const tr = walt(
        [
          ...trainArgs(t.head, t.task, out, [
            '--steps',
            '4',
            '--lr',
            '1e-3',
            '--warmup',
            '1',
            '--grid',
            '8x8',
            ...extra,
          ]),
        ],
        root,
      );
      expect(tr.status, tr.stderr).toBe(0);
      expect(tr.stderr).toMatch(/batches on a worker thread/);
      expect(tr.stderr).toMatch(/checkpoint step 2 → .*checkpoints\/step-00000002/);
      const dir = join(root, out);
      for (const f of ['weights.safetensors', 'config.json', 'metrics.jsonl', 'loss.svg', 'loss.png', 'train.json']) {
        expect(existsSync(join(dir, f)), f).toBe(true);
      }
      expect(readdirSync(join(dir, 'checkpoints'))).toEqual(['step-00000004']);
      const recs = readFileSync(join(dir, 'metrics.jsonl'), 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as Record<string, number>);
      expect(recs.map((r) => r.step)).toEqual([1, 2, 3, 4]);
      expect(recs[0]!.lr).toBe(0);
      expect(recs[1]!.lr).toBe(1e-3);
      expect(recs.every((r) => Number.isFinite(r.loss))).toBe(true);
      const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as {
        classes?: string[];
        head: { kind: string };
      };
      expect(config.head.kind).toBe(t.head);
      if (t.task === 'motion') {
        expect(config.classes).toEqual([
          'left',
          'right',
          'up',
          'down',
          'rotate-cw',
          'rotate-ccw',
          'approach',
          'recede',
          'static',
        ]);
        expect(typeof recs[1]!.val_top1).toBe('number');
        expect(existsSync(join(dir, 'metrics.png'))).toBe(true);
      }
      const preview =
        t.task === 'depth' || t.task === 'points' || t.task === 'boxes' ? ['--preview', `${out}.png`] : [];
      const ev = walt(
        ['eval-readout', '--run', out, '--features', 'feats', '--labels', `${t.task}/labels.csv`, '--json', ...preview],
        root,
      );
      expect(ev.status, ev.stderr).toBe(0);
      const lines = ev.stdout.trim().split('\n');
      expect(lines).toHaveLength(1);
      const m = JSON.parse(lines[0]!) as Record<string, number>;
      expect(Object.keys(m)).toEqual([...t.metric]);
      for (const k of t.metric) {
        expect(Number.isFinite(m[k]), `${k} = ${m[k]}`).toBe(true);
      }
      if (preview.length > 0) {
        const png = PNG.sync.read(readFileSync(join(root, `${out}.png`)));
        expect(png.width).toBeGreaterThan(4 * 64 * 3);
        expect(png.height).toBeGreaterThan(64 * 4 * (t.task === 'depth' ? 3 : 2) - 1);
      }
    });
  }

  it('several learning rates in one pass: one folder each, each equal to its own run byte for byte; eval names the best', () => {
    const common = ['--steps', '6', '--warmup', '2', '--checkpoint-every', '3'];
    const sweep = walt(trainArgs('attention', 'motion', 'sweep', [...common, '--lr', '1e-3,3e-4']), root);
    expect(sweep.status, sweep.stderr).toBe(0);
    const single = walt(trainArgs('attention', 'motion', 'single', [...common, '--lr', '3e-4']), root);
    expect(single.status, single.stderr).toBe(0);
    expect(sha(join(root, 'sweep', 'lr-0.0003', 'weights.safetensors'))).toBe(
      sha(join(root, 'single', 'weights.safetensors')),
    );
    expect(readFileSync(join(root, 'sweep', 'lr-0.0003', 'metrics.jsonl'), 'utf8')).toBe(
      readFileSync(join(root, 'single', 'metrics.jsonl'), 'utf8'),
    );
    expect(sha(join(root, 'sweep', 'lr-0.001', 'weights.safetensors'))).not.toBe(
      sha(join(root, 'single', 'weights.safetensors')),
    );
    expect(existsSync(join(root, 'sweep', 'loss.png'))).toBe(true);
    const ev = walt(
      ['eval-readout', '--run', 'sweep', '--features', 'feats', '--labels', 'motion/labels.csv', '--json'],
      root,
    );
    expect(ev.status, ev.stderr).toBe(0);
    const lines = ev.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, number>);
    expect(lines).toHaveLength(3);
    expect(lines.map((l) => l.lr)).toEqual([1e-3, 3e-4, undefined]);
    const best = lines[2]!;
    expect([1e-3, 3e-4]).toContain(best.best_lr);
    expect(best.top1).toBe(lines.find((l) => l.lr === best.best_lr)!.top1);
    expect(best.top1).toBe(Math.max(lines[0]!.top1!, lines[1]!.top1!));
  });
});

describe('stopping and resuming', () => {
  const args = (out: string): string[] =>
    trainArgs('attention', 'motion', out, [
      '--steps',
      '40',
      '--lr',
      '1e-3',
      '--warmup',
      '4',
      '--checkpoint-every',
      '5',
    ]);
  let reference: { weights: string; metrics: string };
  beforeAll(() => {
    const r = walt(args('ref'), root);
    expect(r.status, r.stderr).toBe(0);
    reference = {
      weights: sha(join(root, 'ref', 'weights.safetensors')),
      metrics: readFileSync(join(root, 'ref', 'metrics.jsonl'), 'utf8'),
    };
  });

  const waitFor = async (p: ReturnType<typeof waltAsync>, re: RegExp): Promise<void> => {
    for (let i = 0; i < 6000 && !re.test(p.stderr()); i++) {
      await new Promise((r) => setTimeout(r, 5));
    }
  };

  const expectReference = (out: string): void => {
    expect(sha(join(root, out, 'weights.safetensors'))).toBe(reference.weights);
    expect(readFileSync(join(root, out, 'metrics.jsonl'), 'utf8')).toBe(reference.metrics);
  };

  it('SIGKILL right after the first checkpoint: the rerun says where it resumed and ends with the same bytes', async () => {
    const p = waltAsync(args('killed'), root);
    await waitFor(p, /checkpoint step 5 →/);
    p.child.kill('SIGKILL');
    const end = await p.done;
    expect(end.signal).toBe('SIGKILL');
    expect(existsSync(join(root, 'killed', 'weights.safetensors'))).toBe(false);
    const r = walt(args('killed'), root);
    expect(r.status, r.stderr).toBe(0);
    const at = /resumed from step (\d+)/.exec(r.stderr);
    expect(at, r.stderr).not.toBeNull();
    expect(Number(at![1]) % 5).toBe(0);
    expect(Number(at![1])).toBeGreaterThanOrEqual(5);
    expectReference('killed');
  });

  it('Ctrl-C finishes the step, writes a checkpoint and exits 130; kills at random moments; same bytes at the end', async () => {
    const p = waltAsync(args('stopped'), root);
    await waitFor(p, /checkpoint step 5 →/);
    p.child.kill('SIGINT');
    const end = await p.done;
    expect(end.code).toBe(130);
    const stopped = /stopped at step (\d+)/.exec(end.stderr);
    expect(stopped, end.stderr).not.toBeNull();
    // Killed at seeded random moments after the device opened, then finished.
    const delays = [37, 180, 5];
    for (const ms of delays) {
      const q = waltAsync(args('stopped'), root);
      await waitFor(q, /walt train-readout: attention head/);
      await new Promise((r) => setTimeout(r, ms));
      q.child.kill('SIGKILL');
      await q.done;
    }
    const r = walt(args('stopped'), root);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/resumed from step \d+|is finished/);
    expectReference('stopped');
  });

  it('rerunning a finished run exits 0 and changes nothing', () => {
    const before = snapshot(join(root, 'ref'));
    const r = walt(args('ref'), root);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/is finished \(40 steps, 1 learning rate\); nothing to do/);
    expect(snapshot(join(root, 'ref'))).toEqual(before);
  });
});

describe('bad inputs exit 2 with one line before anything is written', () => {
  const cases: [string, string[], RegExp][] = [
    ['an unknown head', ['--head', 'nope'], /--head: head 'nope' is neither a built-in head/],
    [
      'a built-in head of another width',
      ['--head', 'k400'],
      /--head k400 reads features of width 1024; t200\/block.2 of .* has width 64; use --head attention/,
    ],
    ['labels that do not exist', ['--labels', 'motion/none.csv'], /--labels motion\/none.csv: no such file/],
    ['features that are not an extraction', ['--features', 'motion'], /--features motion: no manifest.jsonl/],
    ['held-out features without labels', ['--val-features', 'feats'], /--val-features and --val-labels go together/],
    ['a warm-up longer than the run', ['--warmup', '50'], /--warmup 50 is longer than --steps 4/],
    ['a bad learning rate', ['--lr', '1e-3,x'], /--lr 1e-3,x: 'x' is not a positive number/],
    ['labels of another task', ['--head', 'depth'], /--labels motion\/labels.csv: .*scene folder/],
  ];
  for (const [what, change, re] of cases) {
    it(what, () => {
      const base: Record<string, string> = {
        '--head': 'attention',
        '--features': 'feats',
        '--labels': 'motion/labels.csv',
        '--steps': '4',
        '--lr': '1e-3',
        '--warmup': '1',
      };
      const extra: string[] = [];
      for (let i = 0; i < change.length; i += 2) {
        if (change[i]! in base) {
          base[change[i]!] = change[i + 1]!;
        } else {
          extra.push(change[i]!, change[i + 1]!);
        }
      }
      const r = walt(['train-readout', ...Object.entries(base).flat(), ...extra, '--out', 'bad-run'], root);
      expect(r.status, r.stderr).toBe(2);
      const lines = withoutDawnWarnings(r.stderr).trim().split('\n');
      expect(lines, r.stderr).toHaveLength(1);
      expect(lines[0]).toMatch(re);
      expect(existsSync(join(root, 'bad-run'))).toBe(false);
    });
  }

  it('another run’s folder, and a folder that is not a run', () => {
    const r = walt(trainArgs('attention', 'motion', 'ref', ['--steps', '41', '--lr', '1e-3', '--warmup', '4']), root);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/--out ref holds another run \(steps: 41 here, 40 in the folder\)/);
    const s = walt(trainArgs('attention', 'motion', 'motion', ['--steps', '4', '--lr', '1e-3']), root);
    expect(s.status).toBe(2);
    expect(s.stderr).toMatch(/--out motion exists and is not a walt train-readout run/);
    const e = walt(['eval-readout', '--run', 'motion', '--features', 'feats', '--labels', 'motion/labels.csv'], root);
    expect(e.status).toBe(2);
    expect(e.stderr).toMatch(/--run motion: no config.json/);
  });
});
