// `walt metrics` in-process: every task end to end with integer tensors stored as F32, I32,
// I64 or U8; one JSON line; usage errors (exit 2, one line naming the input and the fix).
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { captureCli, writeRawSafetensors, type RawTensor } from './cli-helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'walt-metrics-cli-'));
let n = 0;
const file = (tensors: RawTensor[]): string => {
  const p = join(dir, `f${n++}.safetensors`);
  writeRawSafetensors(p, tensors);
  return p;
};
const metrics = (task: string, pred: string, gt: string, ...more: string[]) =>
  captureCli(['metrics', '--task', task, '--pred', pred, '--gt', gt, '--json', ...more]);
const json = (s: string): Record<string, number | null> => {
  const lines = s.trim().split('\n');
  expect(lines).toHaveLength(1);
  return JSON.parse(lines[0]!) as Record<string, number | null>;
};

describe('walt metrics', () => {
  it('top1 with I64, I32, U8 and F32 labels', async () => {
    const pred = file([{ name: 'logits', dtype: 'F32', shape: [3, 3], values: [1, 3, 3, 5, 1, 0, 0, 0, 0] }]);
    for (const dtype of ['I64', 'I32', 'U8', 'F32'] as const) {
      const gt = file([{ name: 'labels', dtype, shape: [3], values: [2, 0, 0] }]);
      const r = await metrics('top1', pred, gt);
      expect(r.code, r.stderr).toBe(0);
      expect(json(r.stdout)).toEqual({ top1: 2 / 3 });
    }
  });

  it('absrel, pose, boxes', async () => {
    const a = await metrics(
      'absrel',
      file([{ name: 'depth', dtype: 'F32', shape: [1, 1, 1, 2], values: [1.5, 3] }]),
      file([{ name: 'depth', dtype: 'F64', shape: [1, 1, 1, 3], values: [1, 7, 4] }]),
    );
    expect(a.code, a.stderr).toBe(0);
    expect(json(a.stdout).absrel).toBeCloseTo((0.5 + 0.25) / 2, 7);
    const I = [1, 0, 0, 0, 1, 0, 0, 0, 1];
    const p = await metrics(
      'pose',
      file([{ name: 'pose', dtype: 'F32', shape: [1, 12], values: [0, -1, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0] }]),
      file([{ name: 'pose', dtype: 'F32', shape: [1, 12], values: [...I, 0, 0, 0] }]),
    );
    expect(p.code, p.stderr).toBe(0);
    expect(json(p.stdout).epe).toBeCloseTo(1, 6);
    const b = await metrics(
      'boxes',
      file([{ name: 'values', dtype: 'F32', shape: [1, 2, 1, 4], values: [9, 9, 9, 9, 0, 0.5, 1, 1.5] }]),
      file([
        { name: 'boxes', dtype: 'F32', shape: [1, 2, 1, 4], values: [0, 0, 1, 1, 0, 0, 1, 1] },
        { name: 'valid', dtype: 'I64', shape: [1, 2, 1], values: [1, 1] },
      ]),
    );
    expect(b.code, b.stderr).toBe(0);
    expect(Object.keys(json(b.stdout))).toEqual(['iou']);
    expect(json(b.stdout).iou).toBeCloseTo(1 / 3, 7);
  });

  it('tapvid: the three keys; NaN is null with a note on stderr, --nan omit', async () => {
    const pred = file([
      { name: 'values', dtype: 'F32', shape: [2, 2, 1, 2], values: [0.5, 0.5, 0.5, 0.5 + 3 / 256, 0, 0, 0, 0] },
      { name: 'logits', dtype: 'F32', shape: [2, 2, 1, 2], values: [5, 5, 5, 5, 5, 5, 5, 5] },
    ]);
    const gt = file([
      { name: 'tracks', dtype: 'F32', shape: [2, 2, 1, 2], values: [0.5, 0.5, 0.5, 0.5, 0, 0, 0, 0] },
      { name: 'visible', dtype: 'I32', shape: [2, 2, 1], values: [1, 1, 1, 1] },
      { name: 'query_frames', dtype: 'I64', shape: [2, 1], values: [0, 1] },
    ]);
    const r = await metrics('tapvid', pred, gt);
    expect(r.code, r.stderr).toBe(0);
    expect(json(r.stdout)).toEqual({
      average_jaccard: null,
      average_pts_within_thresh: null,
      occlusion_accuracy: null,
    });
    expect(r.stderr).toMatch(/average_jaccard, average_pts_within_thresh, occlusion_accuracy is NaN.*--nan omit/);
    const o = await metrics('tapvid', pred, gt, '--nan', 'omit');
    expect(o.code, o.stderr).toBe(0);
    // video 0: one point, visible, 3 px off: within for δ 4, 8, 16
    expect(json(o.stdout)).toEqual({ average_jaccard: 0.6, average_pts_within_thresh: 0.6, occlusion_accuracy: 1 });
    const plain = await captureCli(['metrics', '--task', 'tapvid', '--pred', pred, '--gt', gt, '--nan', 'omit']);
    expect(plain.stdout).toBe('average_jaccard 0.6\naverage_pts_within_thresh 0.6\nocclusion_accuracy 1\n');
  });

  it('usage errors exit 2 with one line naming the input and the fix', async () => {
    const pred = file([{ name: 'logits', dtype: 'F32', shape: [2, 3], values: [1, 2, 3, 4, 5, 6] }]);
    const gt3 = file([{ name: 'labels', dtype: 'I64', shape: [3], values: [0, 1, 2] }]);
    const gtBad = file([{ name: 'labels', dtype: 'I32', shape: [2], values: [0, 7] }]);
    const gtNone = file([{ name: 'label', dtype: 'I32', shape: [2], values: [0, 1] }]);
    const cases: [string[], RegExp][] = [
      [['--task', 'top5', '--pred', pred, '--gt', gt3], /--task must be one of top1, absrel, pose, tapvid, boxes/],
      [
        ['--task', 'top1', '--pred', join(dir, 'none.safetensors'), '--gt', gt3],
        /--pred .*none.safetensors: no such file \(a safetensors file with logits \[B,K\]\)/,
      ],
      [
        ['--task', 'top1', '--pred', pred, '--gt', gt3],
        /'labels' has shape \[3\], expected \[B\] with B = 2 \(from .*'logits'\)/,
      ],
      [
        ['--task', 'top1', '--pred', pred, '--gt', gtBad],
        /labels\[1\] = 7: labels of 3 classes must be integers in \[0, 2\]/,
      ],
      [['--task', 'top1', '--pred', pred, '--gt', gtNone], /no tensor 'labels'.*it holds label \[2\] I32/],
      [['--task', 'top1', '--pred', pred, '--gt', gt3, '--nan', 'ignore'], /--nan must be propagate or omit/],
      [['--task', 'top1', '--pred', pred], /--gt is required/],
    ];
    for (const [argv, re] of cases) {
      const r = await captureCli(['metrics', ...argv, '--json']);
      expect(r.code, argv.join(' ')).toBe(2);
      expect(r.stderr).toMatch(re);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stdout).toBe('');
    }
  });
});
