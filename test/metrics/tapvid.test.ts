// TAP-Vid (OC20): a small video computed by hand (query mode 'first', strict thresholds,
// visibility from σ(l0)·σ(l1) > 0.5), the raster API, NaN cases and the dataset mean.
import { describe, expect, it } from 'vitest';
import {
  meanOverVideos,
  predictedVisible,
  sigmoid,
  tapvid,
  tapvidPerVideo,
  tapvidPerVideoRaster,
  type TapvidHeadInput,
} from '../../src/metrics/index.js';

const VIS: [number, number] = [5, 5]; // σ(5)² ≈ 0.987
const OCC: [number, number] = [-5, 5]; // σ(−5)σ(5) ≈ 0.0066

/**
 * One video, T 3, M 2. Track 0 has query frame 0 (frames 1, 2 evaluated), track 1 query frame 1
 * (frame 2 evaluated). Evaluated points:
 *   (t1, m0): gt visible, pred visible, 3 px off
 *   (t2, m0): gt occluded, pred visible, 0 px
 *   (t2, m1): gt visible, pred occluded, 0.5 px
 * Frames up to the query frames hold mismatches that must not count.
 * By hand: occlusion accuracy 1/3; visible 2; δ 1, 2: within 1 of 2, TP 0, FP 2, J 0;
 * δ 4, 8, 16: within 2 of 2, TP 1, FP 1, J 1/3. AJ = 1/5, <δ_avg = (½ + ½ + 1 + 1 + 1)/5 = 0.8.
 */
function handVideo(): TapvidHeadInput {
  const T = 3;
  const M = 2;
  const values = new Float64Array(T * M * 2);
  const tracks = new Float64Array(T * M * 2);
  const logits = new Float64Array(T * M * 2);
  const visible = new Float64Array(T * M);
  const set = (
    t: number,
    m: number,
    gt: [number, number],
    pred: [number, number],
    l: [number, number],
    v: number,
  ): void => {
    const i = t * M + m;
    tracks.set(gt, 2 * i);
    values.set(pred, 2 * i);
    logits.set(l, 2 * i);
    visible[i] = v;
  };
  // not evaluated (t ≤ query frame): far off and disagreeing visibility
  set(0, 0, [0.1, 0.1], [0.9, 0.9], OCC, 1);
  set(0, 1, [0.1, 0.1], [0.9, 0.9], VIS, 0);
  set(1, 1, [0.1, 0.1], [0.9, 0.9], OCC, 1);
  // evaluated
  set(1, 0, [0.5, 0.5], [131 / 256, 0.5], VIS, 1);
  set(2, 0, [0.3, 0.7], [0.3, 0.7], VIS, 0);
  set(2, 1, [0.25, 0.25], [0.25 + 0.5 / 256, 0.25], OCC, 1);
  return {
    values: { data: values, shape: [1, T, M, 2] },
    logits: { data: logits, shape: [1, T, M, 2] },
    tracks: { data: tracks, shape: [1, T, M, 2] },
    visible: { data: visible, shape: [1, T, M] },
    queryFrames: { data: new Int32Array([0, 1]), shape: [1, M] },
  };
}

describe('tapvid', () => {
  it('matches the hand computation', () => {
    const [v] = tapvidPerVideo(handVideo());
    expect(v!.occlusion_accuracy).toBeCloseTo(1 / 3, 15);
    expect([v!.jaccard_1, v!.jaccard_2, v!.jaccard_4, v!.jaccard_8, v!.jaccard_16]).toEqual([
      0,
      0,
      1 / 3,
      1 / 3,
      1 / 3,
    ]);
    expect([v!.pts_within_1, v!.pts_within_2, v!.pts_within_4, v!.pts_within_8, v!.pts_within_16]).toEqual([
      0.5, 0.5, 1, 1, 1,
    ]);
    expect(v!.average_jaccard).toBeCloseTo(0.2, 15);
    expect(v!.average_pts_within_thresh).toBeCloseTo(0.8, 15);
    const d = tapvid(handVideo());
    expect(d.average_jaccard).toBeCloseTo(0.2, 15);
  });

  it('the raster API gives the same numbers', () => {
    const h = handVideo();
    const raster = (x: ArrayLike<number>): Float64Array => Float64Array.from(x, (u) => 256 * u);
    const pv = Float64Array.from({ length: 6 }, (_, i) =>
      predictedVisible(h.logits.data[2 * i]!, h.logits.data[2 * i + 1]!) ? 1 : 0,
    );
    const [r] = tapvidPerVideoRaster({
      predTracks: { data: raster(h.values.data), shape: h.values.shape },
      predVisible: { data: pv, shape: [1, 3, 2] },
      gtTracks: { data: raster(h.tracks.data), shape: h.tracks.shape },
      gtVisible: h.visible,
      queryFrames: h.queryFrames,
    });
    expect(r).toEqual(tapvidPerVideo(h)[0]);
  });

  it('thresholds are strict; visibility needs σ(l0)·σ(l1) > 0.5 strictly', () => {
    // one point, one evaluated frame, exactly 4 px off along y
    const x: TapvidHeadInput = {
      values: { data: [0.5, 0.5, 0.5, 0.5 + 4 / 256], shape: [1, 2, 1, 2] },
      logits: { data: [0, 0, 9, 9], shape: [1, 2, 1, 2] },
      tracks: { data: [0.5, 0.5, 0.5, 0.5], shape: [1, 2, 1, 2] },
      visible: { data: [1, 1], shape: [1, 2, 1] },
      queryFrames: { data: [0], shape: [1, 1] },
    };
    const [v] = tapvidPerVideo(x);
    expect([v!.pts_within_1, v!.pts_within_2, v!.pts_within_4, v!.pts_within_8, v!.pts_within_16]).toEqual([
      0, 0, 0, 1, 1,
    ]);
    expect(v!.jaccard_4).toBe(0); // pred visible but not within: FP, and the GT point is missed: 0/(1+1)
    expect(v!.jaccard_8).toBe(1);
    expect(sigmoid(40)).toBe(1);
    expect(predictedVisible(0, 40)).toBe(false); // 0.5 · 1 = 0.5, not > 0.5
    expect(predictedVisible(0.01, 40)).toBe(true);
    expect(sigmoid(-800)).toBe(0);
    expect(sigmoid(800)).toBe(1);
  });

  it('NaN where nothing is evaluated; propagate (np.mean) or omit over videos', () => {
    const h = handVideo();
    // video 2: every query on the last frame → nothing evaluated
    const two = (a: ArrayLike<number>, b: ArrayLike<number>): Float64Array =>
      Float64Array.from([...Array.from(a), ...Array.from(b)]);
    const x: TapvidHeadInput = {
      values: { data: two(h.values.data, h.values.data), shape: [2, 3, 2, 2] },
      logits: { data: two(h.logits.data, h.logits.data), shape: [2, 3, 2, 2] },
      tracks: { data: two(h.tracks.data, h.tracks.data), shape: [2, 3, 2, 2] },
      visible: { data: two(h.visible.data, h.visible.data), shape: [2, 3, 2] },
      queryFrames: { data: [0, 1, 2, 2], shape: [2, 2] },
    };
    const per = tapvidPerVideo(x);
    expect(Object.values(per[1]!).every((v) => Number.isNaN(v))).toBe(true);
    const prop = tapvid(x);
    expect(Number.isNaN(prop.average_jaccard)).toBe(true);
    expect(Number.isNaN(prop.occlusion_accuracy)).toBe(true);
    const omit = tapvid(x, { nan: 'omit' });
    expect(omit.average_jaccard).toBeCloseTo(0.2, 15);
    expect(omit.occlusion_accuracy).toBeCloseTo(1 / 3, 15);
    expect(meanOverVideos([per[0]!, per[0]!]).average_pts_within_thresh).toBeCloseTo(0.8, 15);
  });

  it('no visible ground truth: occlusion accuracy defined, the others NaN (tapnet 0/0)', () => {
    const x: TapvidHeadInput = {
      values: { data: new Float32Array(4), shape: [1, 2, 1, 2] },
      logits: { data: [-9, -9, -9, -9], shape: [1, 2, 1, 2] },
      tracks: { data: new Float32Array(4), shape: [1, 2, 1, 2] },
      visible: { data: [1, 0], shape: [1, 2, 1] },
      queryFrames: { data: [0], shape: [1, 1] },
    };
    const [v] = tapvidPerVideo(x);
    expect(v!.occlusion_accuracy).toBe(1);
    expect(Number.isNaN(v!.average_pts_within_thresh)).toBe(true);
    expect(Number.isNaN(v!.average_jaccard)).toBe(true);
  });

  it('checks masks, query frames and shapes', () => {
    const h = handVideo();
    expect(() => tapvid({ ...h, queryFrames: { data: [0, 3], shape: [1, 2] } })).toThrow(
      'query_frames[0,1] = 3: query frames of 3-frame clips must be integers in [0, 2]',
    );
    expect(() => tapvid({ ...h, visible: { data: [1, 1, 1, 1, 1, 0.5], shape: [1, 3, 2] } })).toThrow(
      'visible[0,2,1] = 0.5: a mask holds only 0 and 1',
    );
    expect(() => tapvid({ ...h, logits: { data: new Float32Array(4), shape: [1, 2, 2, 1] } })).toThrow(
      'logits has shape [1,2,2,1], expected [B,T,M,2]',
    );
  });
});
