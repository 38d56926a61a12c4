// Pictures of a trained head's predictions on one clip, beside the ground truth: depth (frames,
// ground-truth depth, predicted depth, one colour scale), points (ground-truth tracks, predicted
// tracks with predicted visibility) and boxes (ground-truth and predicted boxes), on four frames
// of the clip's video.
import { loadClip } from '../io/media.js';
import { predictedVisible } from '../metrics/tapvid.js';
import type { HostOutput } from '../readout/runner.js';
import type { TapVidClip } from '../datasets/tapvid.js';
import type { BoxesClip } from '../datasets/waymo-boxes.js';
import { Canvas, depthTile, drawBoxes, drawTracks, stack } from '../synth/preview.js';
import { featureFrames } from './assemble.js';
import type { TaskData } from './dataset.js';

/** The frames a clip's features were made from (`frameIndices`), as 8-bit RGB `[T, H, W, 3]`. */
async function clipFrames(
  path: string,
  frameIndices: readonly number[],
): Promise<{ rgb: Uint8Array; w: number; h: number }> {
  const c = await loadClip(path, { frames: Math.max(...frameIndices) + 1 });
  const [, H, W] = c.shape;
  const per = H * W * 3;
  const rgb = new Uint8Array(frameIndices.length * per);
  frameIndices.forEach((f, t) => {
    for (let i = 0; i < per; i++) {
      rgb[t * per + i] = Math.round(255 * Math.min(1, Math.max(0, c.data[f * per + i]!)));
    }
  });
  return { rgb, w: W, h: H };
}

/** Four evenly spaced frame numbers of T (first and last included). */
function picks(T: number, show = 4): number[] {
  const n = Math.min(show, T);
  return Array.from({ length: n }, (_, i) => (n === 1 ? 0 : Math.round((i * (T - 1)) / (n - 1))));
}

/** Tracks `[T, M, 2]` (x, y) in [0, 1] with visibility `[T, M]` as a TapVidClip. */
function asTracks(
  tracks: ArrayLike<number>,
  visible: (t: number, m: number) => boolean,
  T: number,
  M: number,
): TapVidClip {
  const points = new Float32Array(M * T * 2);
  const occluded = new Uint8Array(M * T);
  for (let t = 0; t < T; t++) {
    for (let m = 0; m < M; m++) {
      points[(m * T + t) * 2] = tracks[(t * M + m) * 2]!;
      points[(m * T + t) * 2 + 1] = tracks[(t * M + m) * 2 + 1]!;
      occluded[m * T + t] = visible(t, m) ? 0 : 1;
    }
  }
  return { numPoints: M, numFrames: T, points, occluded };
}

/** Boxes `[T, M, 4]` in [0, 1] (ymin, xmin, ymax, xmax) where `valid`, in pixels of W × H. */
function asBoxes(
  boxes: ArrayLike<number>,
  valid: (t: number, m: number) => boolean,
  T: number,
  M: number,
  W: number,
  H: number,
): BoxesClip {
  const frames = [];
  for (let t = 0; t < T; t++) {
    const list = [];
    for (let m = 0; m < M; m++) {
      if (valid(t, m)) {
        const o = (t * M + m) * 4;
        list.push({
          id: String(m),
          box: [boxes[o]! * H, boxes[o + 1]! * W, boxes[o + 2]! * H, boxes[o + 3]! * W] as [
            number,
            number,
            number,
            number,
          ],
        });
      }
    }
    frames.push({ frame: t, boxes: list });
  }
  return { frames, width: W, height: H };
}

/**
 * The picture of clip 0's predictions `pred` (outputs with a leading 1) against its ground truth.
 * Rows: depth — frames, ground truth, prediction; points and boxes — ground truth, prediction.
 */
export async function predictionPicture(data: TaskData, pred: Map<string, HostOutput>, scale = 4): Promise<Canvas> {
  const clip = data.clips[0]!;
  const T = featureFrames(data.kind, data);
  const video = await clipFrames(clip.path, clip.frameIndices);
  const ts = picks(T);
  const frame = (t: number): Canvas => Canvas.fromFrame(video.rgb, t, video.w, video.h, scale);
  const t = clip.targets;
  switch (data.kind) {
    case 'depth': {
      const [hq, wq] = data.grid!;
      const gt = t.depth!;
      const out = pred.get('depth')!.data;
      const valid = Array.from(gt)
        .filter((d) => d > 0.001 && d < 10)
        .sort((a, b) => a - b);
      const range = {
        min: valid[Math.floor(0.02 * (valid.length - 1))] ?? 0,
        max: valid[Math.floor(0.98 * (valid.length - 1))] ?? 1,
      };
      const s = Math.max(1, Math.round((video.w * scale) / wq));
      const clamped = Float32Array.from(out, (v) => Math.max(v, 1e-3));
      return stack(
        [
          stack(ts.map(frame)),
          stack(ts.map((f) => depthTile(gt, f, wq, hq, range, s))),
          stack(ts.map((f) => depthTile(clamped, f, wq, hq, range, s))),
        ],
        4,
        true,
      );
    }
    case 'points': {
      const M = t.M!;
      const gt = asTracks(t.tracks!, (f, m) => t.visible![f * M + m] === 1, T, M);
      const v = pred.get('values')!.data;
      const l = pred.get('logits')!.data;
      const pr = asTracks(v, (f, m) => predictedVisible(l[(f * M + m) * 2]!, l[(f * M + m) * 2 + 1]!), T, M);
      const row = (tr: TapVidClip): Canvas =>
        stack(
          ts.map((f) => {
            const c = frame(f);
            drawTracks(c, tr, f, video.w, video.h, scale);
            return c;
          }),
        );
      return stack([row(gt), row(pr)], 4, true);
    }
    case 'boxes': {
      const M = t.M!;
      const gt = asBoxes(t.tracks!, (f, m) => t.visible![f * M + m] === 1, T, M, video.w, video.h);
      const pr = asBoxes(pred.get('values')!.data, () => true, T, M, video.w, video.h);
      const row = (b: BoxesClip): Canvas =>
        stack(
          ts.map((f) => {
            const c = frame(f);
            drawBoxes(c, b, f, scale);
            return c;
          }),
        );
      return stack([row(gt), row(pr)], 4, true);
    }
    case 'attention':
    case 'camera':
      throw new Error(`no prediction picture for a ${data.kind} head`);
  }
}
