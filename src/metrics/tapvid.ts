// TAP-Vid metrics (spec §8, OC20), exactly tapnet's compute_tapvid_metrics with query_mode
// 'first' (google-deepmind/tapnet, tapnet/evaluation_datasets.py): frames strictly after each
// track's query frame are evaluated; positions in raster units of a 256×256 frame; for
// δ ∈ {1, 2, 4, 8, 16} px, within = ‖p̂ − p‖² < δ²; counts pooled over the tracks × frames of a
// video; per-video metrics, then the mean over videos. Layout here is walt's [B, T, M] (tapnet's
// is [b, n, t]); the maths is the same.
import {
  bindShapes,
  checkClips,
  checkIntegers,
  checkLength,
  checkMask,
  datasetMean,
  type NanPolicy,
  type NumericTensor,
} from './common.js';

export const TAPVID_THRESHOLDS = [1, 2, 4, 8, 16] as const;
/** Raster size the thresholds refer to: values in [0, 1] are multiplied by it (no half-pixel shift). */
export const TAPVID_RASTER = 256;

/** tapnet's output keys, per video or averaged over videos. */
export interface TapvidMetrics {
  average_jaccard: number;
  average_pts_within_thresh: number;
  occlusion_accuracy: number;
  jaccard_1: number;
  jaccard_2: number;
  jaccard_4: number;
  jaccard_8: number;
  jaccard_16: number;
  pts_within_1: number;
  pts_within_2: number;
  pts_within_4: number;
  pts_within_8: number;
  pts_within_16: number;
}

export const TAPVID_KEYS: readonly (keyof TapvidMetrics)[] = [
  'average_jaccard',
  'average_pts_within_thresh',
  'occlusion_accuracy',
  ...TAPVID_THRESHOLDS.map((d) => `jaccard_${d}` as const),
  ...TAPVID_THRESHOLDS.map((d) => `pts_within_${d}` as const),
];

/** Inputs in raster units (any tracker's predictions). */
export interface TapvidRasterInput {
  /** Predicted positions `[B, T, M, 2]`, raster units of a 256×256 frame. */
  readonly predTracks: NumericTensor;
  /** Predicted visibility `[B, T, M]`, 0/1. */
  readonly predVisible: NumericTensor;
  /** Ground-truth positions `[B, T, M, 2]`, same units and coordinate order as `predTracks`. */
  readonly gtTracks: NumericTensor;
  /** Ground-truth visibility `[B, T, M]`, 0/1 (tapnet's `¬occluded`). */
  readonly gtVisible: NumericTensor;
  /** Query frame of each track `[B, M]`, integers in [0, T). */
  readonly queryFrames: NumericTensor;
}

/** Inputs as a points head writes them (OC9) and as the batches hold targets. */
export interface TapvidHeadInput {
  /** Predicted positions `[B, T, M, 2]` in [0, 1] image units (x, y). */
  readonly values: NumericTensor;
  /** `[B, T, M, 2]`: visibility and certainty logits. */
  readonly logits: NumericTensor;
  /** Ground-truth positions `[B, T, M, 2]` in [0, 1] (x, y). */
  readonly tracks: NumericTensor;
  /** `[B, T, M]`, 0/1. */
  readonly visible: NumericTensor;
  /** `[B, M]`, integer-valued. */
  readonly queryFrames: NumericTensor;
}

/** σ(x), evaluated without overflow. */
export function sigmoid(x: number): number {
  if (x >= 0) {
    return 1 / (1 + Math.exp(-x));
  }
  const e = Math.exp(x);
  return e / (1 + e);
}

/** OC9: a point is predicted visible when σ(visibility)·σ(certainty) > 0.5 (strict). */
export function predictedVisible(visibilityLogit: number, certaintyLogit: number): boolean {
  return sigmoid(visibilityLogit) * sigmoid(certaintyLogit) > 0.5;
}

interface Sources {
  B: number;
  T: number;
  M: number;
  /** squared raster distance of element (b, t, m) */
  d2: (i: number) => number;
  predVis: (i: number) => boolean;
  gtVis: ArrayLike<number>;
  qf: ArrayLike<number>;
}

function perVideo(src: Sources): TapvidMetrics[] {
  const { B, T, M, d2, predVis, gtVis, qf } = src;
  const nTh = TAPVID_THRESHOLDS.length;
  const th2 = TAPVID_THRESHOLDS.map((d) => d * d);
  const out: TapvidMetrics[] = [];
  for (let b = 0; b < B; b++) {
    let nEval = 0;
    let occOk = 0;
    let nVis = 0;
    const correct = new Float64Array(nTh);
    const tp = new Float64Array(nTh);
    const fp = new Float64Array(nTh);
    for (let m = 0; m < M; m++) {
      const q = qf[b * M + m]!;
      for (let t = q + 1; t < T; t++) {
        const i = (b * T + t) * M + m;
        const gv = gtVis[i] === 1;
        const pv = predVis(i);
        const dist2 = d2(i);
        nEval++;
        if (gv === pv) {
          occOk++;
        }
        if (gv) {
          nVis++;
        }
        for (let k = 0; k < nTh; k++) {
          const within = dist2 < th2[k]!;
          if (within && gv) {
            correct[k]!++;
            if (pv) {
              tp[k]!++;
            }
          }
          if (pv && (!gv || !within)) {
            fp[k]!++;
          }
        }
      }
    }
    const jac = TAPVID_THRESHOLDS.map((_, k) => tp[k]! / (nVis + fp[k]!));
    const within = TAPVID_THRESHOLDS.map((_, k) => correct[k]! / nVis);
    const r: Partial<Record<keyof TapvidMetrics, number>> = {
      average_jaccard: jac.reduce((s, x) => s + x, 0) / nTh,
      average_pts_within_thresh: within.reduce((s, x) => s + x, 0) / nTh,
      occlusion_accuracy: occOk / nEval,
    };
    TAPVID_THRESHOLDS.forEach((d, k) => {
      r[`jaccard_${d}`] = jac[k]!;
      r[`pts_within_${d}`] = within[k]!;
    });
    out.push(r as TapvidMetrics);
  }
  return out;
}

function checkCommon(
  labels: { tracks: string; pred: string; vis: string; predVis?: string; qf: string },
  predTracks: NumericTensor,
  gtTracks: NumericTensor,
  gtVisible: NumericTensor,
  queryFrames: NumericTensor,
  extra: readonly { label: string; t: NumericTensor; pattern: readonly (number | string)[] }[],
): { B: number; T: number; M: number } {
  const dims = bindShapes([
    { label: labels.pred, shape: predTracks.shape, pattern: ['B', 'T', 'M', 2] },
    ...extra.map((e) => ({ label: e.label, shape: e.t.shape, pattern: e.pattern })),
    { label: labels.tracks, shape: gtTracks.shape, pattern: ['B', 'T', 'M', 2] },
    { label: labels.vis, shape: gtVisible.shape, pattern: ['B', 'T', 'M'] },
    { label: labels.qf, shape: queryFrames.shape, pattern: ['B', 'M'] },
  ]) as { B: number; T: number; M: number };
  checkLength(labels.pred, predTracks);
  for (const e of extra) {
    checkLength(e.label, e.t);
  }
  checkLength(labels.tracks, gtTracks);
  checkLength(labels.vis, gtVisible);
  checkLength(labels.qf, queryFrames);
  checkClips(labels.pred, dims.B);
  checkMask(labels.vis, gtVisible);
  checkIntegers(labels.qf, queryFrames, 0, dims.T, `query frames of ${dims.T}-frame clips`);
  return dims;
}

/**
 * Per-video TAP-Vid metrics from raster-unit inputs. A video with nothing to evaluate gives NaN
 * (no frame after any query frame: every key; no ground-truth visible point: `pts_within_*`;
 * neither a visible nor a predicted-visible point: `jaccard_*`), as tapnet's 0/0.
 */
export function tapvidPerVideoRaster(x: TapvidRasterInput): TapvidMetrics[] {
  const { B, T, M } = checkCommon(
    { pred: 'predTracks', tracks: 'gtTracks', vis: 'gtVisible', qf: 'queryFrames' },
    x.predTracks,
    x.gtTracks,
    x.gtVisible,
    x.queryFrames,
    [{ label: 'predVisible', t: x.predVisible, pattern: ['B', 'T', 'M'] }],
  );
  checkMask('predVisible', x.predVisible);
  const p = x.predTracks.data;
  const g = x.gtTracks.data;
  const pv = x.predVisible.data;
  return perVideo({
    B,
    T,
    M,
    d2: (i) => {
      const dx = p[2 * i]! - g[2 * i]!;
      const dy = p[2 * i + 1]! - g[2 * i + 1]!;
      return dx * dx + dy * dy;
    },
    predVis: (i) => pv[i] === 1,
    gtVis: x.gtVisible.data,
    qf: x.queryFrames.data,
  });
}

/**
 * Per-video TAP-Vid metrics of a points head's outputs (OC20): raster = 256·value for both the
 * prediction and the ground truth, predicted visible = σ(l0)·σ(l1) > 0.5.
 */
export function tapvidPerVideo(x: TapvidHeadInput): TapvidMetrics[] {
  const { B, T, M } = checkCommon(
    { pred: 'values', tracks: 'tracks', vis: 'visible', qf: 'query_frames' },
    x.values,
    x.tracks,
    x.visible,
    x.queryFrames,
    [{ label: 'logits', t: x.logits, pattern: ['B', 'T', 'M', 2] }],
  );
  const p = x.values.data;
  const g = x.tracks.data;
  const l = x.logits.data;
  const R = TAPVID_RASTER;
  return perVideo({
    B,
    T,
    M,
    d2: (i) => {
      const dx = R * p[2 * i]! - R * g[2 * i]!;
      const dy = R * p[2 * i + 1]! - R * g[2 * i + 1]!;
      return dx * dx + dy * dy;
    },
    predVis: (i) => predictedVisible(l[2 * i]!, l[2 * i + 1]!),
    gtVis: x.visible.data,
    qf: x.queryFrames.data,
  });
}

/**
 * Mean of each key over videos. `nan: 'propagate'` (default) is tapnet's np.mean: one video
 * with nothing to evaluate makes that key NaN; `omit` averages over the other videos.
 */
export function meanOverVideos(perVideoMetrics: readonly TapvidMetrics[], nan: NanPolicy = 'propagate'): TapvidMetrics {
  const r: Partial<Record<keyof TapvidMetrics, number>> = {};
  for (const k of TAPVID_KEYS) {
    r[k] = datasetMean(
      perVideoMetrics.map((v) => v[k]),
      nan,
    );
  }
  return r as TapvidMetrics;
}

/** Dataset TAP-Vid metrics of a points head's outputs (`tapvidPerVideo`, then `meanOverVideos`). */
export function tapvid(x: TapvidHeadInput, opts: { nan?: NanPolicy } = {}): TapvidMetrics {
  return meanOverVideos(tapvidPerVideo(x), opts.nan);
}
