// The metrics against the reference's fixtures (tools/reference writes
// test/fixtures/metrics/<case>/{pred,gt}.safetensors, expected.json and details.json): the
// dataset numbers within 1e-6 through the same path as `walt metrics`, and the per-clip /
// per-video / per-element details where the reference records them.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  absRelPerClip,
  alignCornersNearest,
  argmaxFirst,
  boxIou,
  boxIouPerClip,
  computeTaskMetrics,
  isMetricTask,
  poseEpePerClip,
  readTaskTensors,
  TAPVID_KEYS,
  tapvidPerVideo,
  top1Correct,
} from '../../src/metrics/index.js';
import { captureCli } from './cli-helpers.js';

const ROOT = join(process.cwd(), 'test/fixtures/metrics');
const TOL = 1e-6;

/** `a` equals `b` (null = NaN) within TOL relative to max(1, |b|). */
function close(a: number, b: number | null, what: string): void {
  if (b === null) {
    expect(Number.isNaN(a), `${what}: expected NaN (null), got ${a}`).toBe(true);
    return;
  }
  expect(Math.abs(a - b), `${what}: ${a} vs ${b}`).toBeLessThanOrEqual(TOL * Math.max(1, Math.abs(b)));
}

/** The task of a fixture folder: its name, or the part before the first '-' (tapvid-nan). */
const taskOf = (dir: string): string => dir.split('-')[0]!;

const cases = existsSync(ROOT)
  ? readdirSync(ROOT, { withFileTypes: true })
      .filter((d) => d.isDirectory() && existsSync(join(ROOT, d.name, 'expected.json')))
      .map((d) => d.name)
      .sort()
  : [];

describe('metrics fixtures (reference, float64)', () => {
  if (cases.length === 0) {
    it.skip('no fixtures in test/fixtures/metrics yet (tools/reference writes them)', () => undefined);
  }
  for (const name of cases) {
    const task = taskOf(name);
    const dir = join(ROOT, name);
    if (!isMetricTask(task)) {
      it.skip(`${name}: not a metric task folder (top1, absrel, pose, tapvid, boxes[-variant])`, () => undefined);
      continue;
    }
    const expected = JSON.parse(readFileSync(join(dir, 'expected.json'), 'utf8')) as Record<string, number | null>;
    const details = existsSync(join(dir, 'details.json'))
      ? (JSON.parse(readFileSync(join(dir, 'details.json'), 'utf8')) as Record<string, unknown>)
      : {};

    it(`${name}: walt metrics --task ${task} matches expected.json within 1e-6`, async () => {
      const r = await captureCli([
        'metrics',
        '--task',
        task,
        '--pred',
        join(dir, 'pred.safetensors'),
        '--gt',
        join(dir, 'gt.safetensors'),
        '--json',
      ]);
      expect(r.code, r.stderr).toBe(0);
      const got = JSON.parse(r.stdout) as Record<string, number | null>;
      expect(Object.keys(got)).toEqual(Object.keys(expected));
      for (const [k, v] of Object.entries(expected)) {
        close(got[k] ?? Number.NaN, v, `${name} ${k}`);
      }
      // the library path agrees with the CLI
      const { pred, gt } = await readTaskTensors(task, join(dir, 'pred.safetensors'), join(dir, 'gt.safetensors'));
      const lib = computeTaskMetrics(task, pred, gt);
      for (const [k, v] of Object.entries(expected)) {
        close(lib[k]!, v, `${name} ${k} (library)`);
      }
    });

    if (Object.keys(details).length > 0) {
      it(`${name}: per-clip details match details.json`, async () => {
        const { pred, gt } = await readTaskTensors(task, join(dir, 'pred.safetensors'), join(dir, 'gt.safetensors'));
        const perClip = details.per_clip as (number | null)[] | undefined;
        const check = (got: ArrayLike<number>, want: readonly (number | null)[], what: string): void => {
          expect(got.length, what).toBe(want.length);
          want.forEach((w, i) => close(got[i]!, w, `${name} ${what}[${i}]`));
        };
        switch (task) {
          case 'top1': {
            const logits = pred.logits!;
            const K = logits.shape[1]!;
            const argmax = details.argmax as number[];
            argmax.forEach((a, b) => expect(argmaxFirst(logits.data, b * K, K), `argmax[${b}]`).toBe(a));
            expect([...top1Correct(logits, gt.labels!)].map(Boolean)).toEqual(details.correct);
            break;
          }
          case 'absrel': {
            check(absRelPerClip(pred.depth!, gt.depth!).absrel, perClip!, 'per_clip');
            const [, , Hq, Wq] = pred.depth!.shape as [number, number, number, number];
            const [, , H, W] = gt.depth!.shape as [number, number, number, number];
            expect(Array.from({ length: Hq }, (_, i) => alignCornersNearest(i, Hq, H))).toEqual(details.rows);
            expect(Array.from({ length: Wq }, (_, j) => alignCornersNearest(j, Wq, W))).toEqual(details.cols);
            break;
          }
          case 'pose':
            check(poseEpePerClip(pred.pose!, gt.pose!), perClip!, 'per_clip');
            break;
          case 'boxes': {
            check(boxIouPerClip({ values: pred.values!, boxes: gt.boxes!, valid: gt.valid! }), perClip!, 'per_clip');
            const iou = details.iou as number[][][] | undefined;
            if (iou) {
              const M = pred.values!.shape[2]!;
              iou.forEach((clip, b) =>
                clip.forEach((frame, t) =>
                  frame.forEach((want, m) => {
                    const i = (b * clip.length + t) * M + m;
                    close(boxIou(pred.values!.data, gt.boxes!.data, 4 * i, 4 * i), want, `iou[${b}][${t}][${m}]`);
                  }),
                ),
              );
            }
            break;
          }
          case 'tapvid': {
            const per = tapvidPerVideo({
              values: pred.values!,
              logits: pred.logits!,
              tracks: gt.tracks!,
              visible: gt.visible!,
              queryFrames: gt.query_frames!,
            });
            const want = details.per_video as Record<string, (number | null)[]>;
            for (const k of TAPVID_KEYS) {
              if (want[k]) {
                check(
                  per.map((v) => v[k]),
                  want[k],
                  `per_video.${k}`,
                );
              }
            }
            break;
          }
        }
      });
    }
  }
});
