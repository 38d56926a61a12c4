// CPU references (f64) for the readout losses, value and gradient with respect to the
// prediction, with kauldron's masked-mean reduction (OC10–OC16).
import { sigmoid } from './activations.js';
import { checkDims, checkLength } from './gradcheck.js';
import { logSumExpRows } from './softmax.js';

/** TAPIR's Huber threshold: 4 px on a 256 raster, in [0, 1] units (OC14). */
export const HUBER_DELTA = 4 / 256;
/** TAPIR's certainty threshold: 6 px on a 256 raster, in [0, 1] units (OC14). */
export const CERTAINTY_THRESHOLD = 6 / 256;

function checkMask(mask: ArrayLike<number> | null, n: number, inner: number): void {
  checkDims({ inner });
  if (n % inner !== 0) {
    throw new RangeError(`inner: ${inner} does not divide the value count ${n}; pass the size of the trailing dims`);
  }
  if (mask) {
    checkLength('mask', mask, n / inner, `the value shape without its trailing ${inner} elements`);
  }
}

/**
 * Masked mean (OC10, kauldron): loss = Σ_i m_i·value_i / max(Σ_i m_i, 1e-8), with the mask
 * broadcast to the value shape. The mask has the value's leading dims: element i of `value` is
 * weighted by mask[⌊i/inner⌋] (inner = product of the trailing dims the mask lacks), so the
 * denominator counts every unmasked element (inner per mask entry). No mask: the plain mean.
 * A masked-out element (m = 0) contributes exactly 0 (a NaN/Inf value there does not leak).
 *
 * @param value any shape, flat
 * @param mask `value.length / inner` weights (0/1 or real), or null
 * @returns `loss` (scalar) and the denominator `denom` = max(Σ broadcast mask, 1e-8)
 */
export function maskedMeanForward(
  value: ArrayLike<number>,
  mask: ArrayLike<number> | null,
  inner = 1,
): { loss: number; denom: number } {
  checkMask(mask, value.length, inner);
  let num = 0;
  let den = 0;
  for (let i = 0; i < value.length; i++) {
    const m = mask ? mask[Math.floor(i / inner)]! : 1;
    if (m !== 0) {
      num += m * value[i]!;
      den += m;
    }
  }
  const denom = Math.max(den, 1e-8);
  return { loss: num / denom, denom };
}

/**
 * Masked-mean backward: dvalue_i = dLoss·m_i / max(Σ m, 1e-8) (the denominator does not depend
 * on the values).
 *
 * @param n the value count
 */
export function maskedMeanBackward(
  dLoss: number,
  n: number,
  mask: ArrayLike<number> | null,
  inner = 1,
): { dvalue: Float64Array } {
  checkMask(mask, n, inner);
  let den = 0;
  for (let i = 0; i < n; i++) {
    den += mask ? mask[Math.floor(i / inner)]! : 1;
  }
  const c = dLoss / Math.max(den, 1e-8);
  const dvalue = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    dvalue[i] = mask ? c * mask[Math.floor(i / inner)]! : c;
  }
  return { dvalue };
}

function checkLabels(labels: ArrayLike<number>, batch: number, classes: number): void {
  checkLength('labels', labels, batch, `[B] = [${batch}]`);
  for (let b = 0; b < batch; b++) {
    const l = labels[b]!;
    if (!Number.isInteger(l) || l < 0 || l >= classes) {
      throw new RangeError(`labels[${b}]: ${l} is not an integer class in [0, ${classes})`);
    }
  }
}

/**
 * Softmax cross-entropy with integer labels, no smoothing (OC11), mean over the batch (OC10):
 * value_b = lse_b − logits[b, labels_b], lse_b = log Σ_k exp(logits[b, k]); loss = masked mean.
 *
 * @param logits `[B, K]`
 * @param labels `[B]` integer classes
 * @param mask `[B]` or null (the plain batch mean)
 * @returns `loss`; saved `lse` `[B]`
 */
export function softmaxCrossEntropyForward(
  logits: ArrayLike<number>,
  labels: ArrayLike<number>,
  batch: number,
  classes: number,
  mask: ArrayLike<number> | null = null,
): { loss: number; lse: Float64Array } {
  checkDims({ batch, classes });
  checkLength('logits', logits, batch * classes, `[B, K] = [${batch}, ${classes}]`);
  checkLabels(labels, batch, classes);
  const lse = logSumExpRows(logits, batch, classes);
  const value = Float64Array.from({ length: batch }, (_, b) => lse[b]! - logits[b * classes + labels[b]!]!);
  return { loss: maskedMeanForward(value, mask).loss, lse };
}

/**
 * Softmax cross-entropy backward: dlogits[b, k] = dLoss·w_b·(softmax(logits)[b, k] − 1[k = labels_b]),
 * w_b = m_b / max(Σ m, 1e-8) (1/B without a mask).
 *
 * @param lse `[B]` from {@link softmaxCrossEntropyForward}
 */
export function softmaxCrossEntropyBackward(
  dLoss: number,
  logits: ArrayLike<number>,
  labels: ArrayLike<number>,
  lse: ArrayLike<number>,
  batch: number,
  classes: number,
  mask: ArrayLike<number> | null = null,
): { dlogits: Float64Array } {
  checkDims({ batch, classes });
  checkLength('logits', logits, batch * classes, `[B, K] = [${batch}, ${classes}]`);
  checkLength('lse', lse, batch, `[B] = [${batch}]`);
  checkLabels(labels, batch, classes);
  const { dvalue } = maskedMeanBackward(dLoss, batch, mask);
  const dlogits = new Float64Array(batch * classes);
  for (let b = 0; b < batch; b++) {
    const w = dvalue[b]!;
    for (let c = 0; c < classes; c++) {
      const p = Math.exp(logits[b * classes + c]! - lse[b]!);
      dlogits[b * classes + c] = w * (p - (c === labels[b]! ? 1 : 0));
    }
  }
  return { dlogits };
}

/**
 * L2 loss without a ½ (kd.losses.L2; OC10, OC12, OC13, OC15): value = (pred − target)²,
 * loss = masked mean over every unmasked element.
 *
 * @param pred any shape
 * @param target same shape
 * @param mask `pred.length / inner` (the leading dims), or null; see {@link maskedMeanForward}
 */
export function l2LossForward(
  pred: ArrayLike<number>,
  target: ArrayLike<number>,
  mask: ArrayLike<number> | null = null,
  inner = 1,
): { loss: number } {
  checkLength('target', target, pred.length, 'like pred');
  const value = Float64Array.from({ length: pred.length }, (_, i) => (pred[i]! - target[i]!) ** 2);
  return { loss: maskedMeanForward(value, mask, inner).loss };
}

/** L2 backward: dpred_i = dLoss·2·(pred_i − target_i)·m_i / max(Σ m, 1e-8); 0 where masked out. */
export function l2LossBackward(
  dLoss: number,
  pred: ArrayLike<number>,
  target: ArrayLike<number>,
  mask: ArrayLike<number> | null = null,
  inner = 1,
): { dpred: Float64Array } {
  checkLength('target', target, pred.length, 'like pred');
  const { dvalue } = maskedMeanBackward(dLoss, pred.length, mask, inner);
  const dpred = new Float64Array(pred.length);
  for (let i = 0; i < pred.length; i++) {
    if (dvalue[i] !== 0) {
      dpred[i] = dvalue[i]! * 2 * (pred[i]! - target[i]!);
    }
  }
  return { dpred };
}

/** Euclidean distance of each `dims`-vector of pred and target: `[P]`. */
export function pointDistances(
  pred: ArrayLike<number>,
  target: ArrayLike<number>,
  points: number,
  dims: number,
): Float64Array {
  checkDims({ dims });
  checkDims({ points }, false);
  checkLength('pred', pred, points * dims, `[P, dims] = [${points}, ${dims}]`);
  checkLength('target', target, points * dims, `[P, dims] = [${points}, ${dims}]`);
  const dist = new Float64Array(points);
  for (let p = 0; p < points; p++) {
    let s = 0;
    for (let c = 0; c < dims; c++) {
      const e = pred[p * dims + c]! - target[p * dims + c]!;
      s += e * e;
    }
    dist[p] = Math.sqrt(s);
  }
  return dist;
}

/**
 * TAPIR Huber loss on the Euclidean distance of each point (OC14):
 * d_p = ‖pred_p − target_p‖₂,  value_p = d²/2 if d < δ else δ·(d − δ/2),  loss = masked mean
 * over points. (TAPIR clamps d² at 1e-12 before the square root; that changes values by at
 * most 5e-13 and is left out, so the gradient at d = 0 is exactly 0.)
 *
 * @param pred `[P, dims]` (dims = 2 for (x, y) points)
 * @param target `[P, dims]`
 * @param mask `[P]` (GT-visible) or null
 * @param delta δ, default 4/256
 * @returns `loss`; saved `dist` `[P]`
 */
export function huberLossForward(
  pred: ArrayLike<number>,
  target: ArrayLike<number>,
  points: number,
  dims = 2,
  mask: ArrayLike<number> | null = null,
  delta = HUBER_DELTA,
): { loss: number; dist: Float64Array } {
  const dist = pointDistances(pred, target, points, dims);
  const value = Float64Array.from(dist, (d) => (d < delta ? 0.5 * d * d : delta * (d - 0.5 * delta)));
  return { loss: maskedMeanForward(value, mask).loss, dist };
}

/**
 * Huber backward: dpred_p = dLoss·w_p·(pred_p − target_p)·(1 if d_p < δ else δ/d_p),
 * w_p = m_p / max(Σ m, 1e-8).
 */
export function huberLossBackward(
  dLoss: number,
  pred: ArrayLike<number>,
  target: ArrayLike<number>,
  points: number,
  dims = 2,
  mask: ArrayLike<number> | null = null,
  delta = HUBER_DELTA,
): { dpred: Float64Array } {
  const dist = pointDistances(pred, target, points, dims);
  const { dvalue } = maskedMeanBackward(dLoss, points, mask);
  const dpred = new Float64Array(points * dims);
  for (let p = 0; p < points; p++) {
    const w = dvalue[p]!;
    if (w === 0) {
      continue;
    }
    const d = dist[p]!;
    const f = d < delta ? 1 : delta / d;
    for (let c = 0; c < dims; c++) {
      dpred[p * dims + c] = w * f * (pred[p * dims + c]! - target[p * dims + c]!);
    }
  }
  return { dpred };
}

/**
 * Sigmoid binary cross-entropy with logits, stable optax form (OC16):
 * value = max(x, 0) − x·z + log1p(exp(−|x|)),  loss = masked mean.
 *
 * @param logits any shape
 * @param targets z, same shape (in [0, 1])
 * @param mask `logits.length / inner` or null
 */
export function sigmoidBceForward(
  logits: ArrayLike<number>,
  targets: ArrayLike<number>,
  mask: ArrayLike<number> | null = null,
  inner = 1,
): { loss: number } {
  checkLength('targets', targets, logits.length, 'like logits');
  const value = Float64Array.from({ length: logits.length }, (_, i) => {
    const x = logits[i]!;
    return Math.max(x, 0) - x * targets[i]! + Math.log1p(Math.exp(-Math.abs(x)));
  });
  return { loss: maskedMeanForward(value, mask, inner).loss };
}

/** Sigmoid BCE backward: dlogits_i = dLoss·w_i·(σ(x_i) − z_i), w_i = m_i / max(Σ m, 1e-8). */
export function sigmoidBceBackward(
  dLoss: number,
  logits: ArrayLike<number>,
  targets: ArrayLike<number>,
  mask: ArrayLike<number> | null = null,
  inner = 1,
): { dlogits: Float64Array } {
  checkLength('targets', targets, logits.length, 'like logits');
  const { dvalue } = maskedMeanBackward(dLoss, logits.length, mask, inner);
  const dlogits = new Float64Array(logits.length);
  for (let i = 0; i < logits.length; i++) {
    if (dvalue[i] !== 0) {
      dlogits[i] = dvalue[i]! * (sigmoid(logits[i]!) - targets[i]!);
    }
  }
  return { dlogits };
}

export interface PointsLossOptions {
  /** Huber δ (default 4/256). */
  delta?: number;
  /** Certainty target threshold (default 6/256): target = 1[d ≤ threshold]. */
  certaintyThreshold?: number;
  /** Term weights (default 100, 0.1, 0.1). */
  huberWeight?: number;
  visibilityWeight?: number;
  certaintyWeight?: number;
}

function splitLogits(logits: ArrayLike<number>, points: number): [Float64Array, Float64Array] {
  checkLength('logits', logits, points * 2, `[P, 2] = [${points}, 2]`);
  const vis = Float64Array.from({ length: points }, (_, p) => logits[2 * p]!);
  const cert = Float64Array.from({ length: points }, (_, p) => logits[2 * p + 1]!);
  return [vis, cert];
}

/**
 * The point-tracking loss (OC14), over P = B·T·M (batch × frames × tracks, all T frames,
 * query frame included):
 *
 * d_p      = ‖values_p − tracks_p‖₂
 * huber    = masked mean over p of Huber_δ(d_p), mask = visible
 * bceVis   = mean over p of BCE(logits[p, 0], visible_p)                    (no mask)
 * certT_p  = 1[d_p ≤ 6/256], a constant (from stop-gradient predictions)
 * bceCert  = masked mean over p of BCE(logits[p, 1], certT_p), mask = visible
 * loss     = 100·huber + 0.1·bceVis + 0.1·bceCert
 *
 * @param values `[P, 2]` predicted (x, y) in [0, 1] (after the sigmoid)
 * @param logits `[P, 2]` (visibility, certainty)
 * @param tracks `[P, 2]` GT (x, y) in [0, 1]
 * @param visible `[P]` GT visibility, 0/1
 * @returns the total `loss`, its three terms, and the constant `certaintyTarget` `[P]`
 */
export function pointsLossForward(
  values: ArrayLike<number>,
  logits: ArrayLike<number>,
  tracks: ArrayLike<number>,
  visible: ArrayLike<number>,
  points: number,
  opts: PointsLossOptions = {},
): { loss: number; huber: number; bceVisibility: number; bceCertainty: number; certaintyTarget: Float64Array } {
  checkLength('visible', visible, points, `[P] = [${points}]`);
  const [vis, cert] = splitLogits(logits, points);
  const { loss: huber, dist } = huberLossForward(values, tracks, points, 2, visible, opts.delta ?? HUBER_DELTA);
  const thr = opts.certaintyThreshold ?? CERTAINTY_THRESHOLD;
  const certaintyTarget = Float64Array.from(dist, (d) => (d <= thr ? 1 : 0));
  const bceVisibility = sigmoidBceForward(vis, visible).loss;
  const bceCertainty = sigmoidBceForward(cert, certaintyTarget, visible).loss;
  const loss =
    (opts.huberWeight ?? 100) * huber +
    (opts.visibilityWeight ?? 0.1) * bceVisibility +
    (opts.certaintyWeight ?? 0.1) * bceCertainty;
  return { loss, huber, bceVisibility, bceCertainty, certaintyTarget };
}

/**
 * Point-tracking loss backward (the certainty target is a constant: no gradient flows through
 * it into `values`).
 *
 * @returns `dvalues` `[P, 2]`, `dlogits` `[P, 2]`
 */
export function pointsLossBackward(
  dLoss: number,
  values: ArrayLike<number>,
  logits: ArrayLike<number>,
  tracks: ArrayLike<number>,
  visible: ArrayLike<number>,
  points: number,
  opts: PointsLossOptions = {},
): { dvalues: Float64Array; dlogits: Float64Array } {
  const { certaintyTarget } = pointsLossForward(values, logits, tracks, visible, points, opts);
  const [vis, cert] = splitLogits(logits, points);
  const dvalues = huberLossBackward(
    dLoss * (opts.huberWeight ?? 100),
    values,
    tracks,
    points,
    2,
    visible,
    opts.delta ?? HUBER_DELTA,
  ).dpred;
  const dvis = sigmoidBceBackward(dLoss * (opts.visibilityWeight ?? 0.1), vis, visible).dlogits;
  const dcert = sigmoidBceBackward(dLoss * (opts.certaintyWeight ?? 0.1), cert, certaintyTarget, visible).dlogits;
  const dlogits = new Float64Array(points * 2);
  for (let p = 0; p < points; p++) {
    dlogits[2 * p] = dvis[p]!;
    dlogits[2 * p + 1] = dcert[p]!;
  }
  return { dvalues, dlogits };
}

/**
 * Source index of the align-corners nearest-neighbour sampling of OC13: for output i of `nOut`
 * over `nIn` inputs, src = ⌊(2·i·(nIn − 1) + (nOut − 1)) / (2·(nOut − 1))⌋ in integers, i.e.
 * i·(nIn − 1)/(nOut − 1) rounded half up; 0 when nOut = 1.
 */
export function alignCornersNearest(i: number, nIn: number, nOut: number): number {
  if (nOut === 1) {
    return 0;
  }
  return Math.floor((2 * i * (nIn - 1) + (nOut - 1)) / (2 * (nOut - 1)));
}

/**
 * Ground-truth depth sampled at the query grid (OC13): out[f, y, x] = depth[f, sy(y), sx(x)]
 * with sy = {@link alignCornersNearest}(y, H, Hq), sx likewise for columns.
 *
 * @param depth `[F, H, W]` (F = B·T frames)
 * @returns `[F, Hq, Wq]`
 */
export function sampleDepthAtGrid(
  depth: ArrayLike<number>,
  frames: number,
  h: number,
  w: number,
  hq: number,
  wq: number,
): Float64Array {
  checkDims({ h, w, hq, wq });
  checkDims({ frames }, false);
  checkLength('depth', depth, frames * h * w, `[F, H, W] = [${frames}, ${h}, ${w}]`);
  const out = new Float64Array(frames * hq * wq);
  for (let f = 0; f < frames; f++) {
    for (let y = 0; y < hq; y++) {
      const sy = alignCornersNearest(y, h, hq);
      for (let x = 0; x < wq; x++) {
        out[(f * hq + y) * wq + x] = depth[(f * h + sy) * w + alignCornersNearest(x, w, wq)]!;
      }
    }
  }
  return out;
}

/** Depth validity mask (OC13): 1 where 0.001 < d < 10 (open interval; NaN is invalid), else 0. */
export function depthValidMask(depth: ArrayLike<number>): Float64Array {
  return Float64Array.from({ length: depth.length }, (_, i) => (depth[i]! > 0.001 && depth[i]! < 10 ? 1 : 0));
}

/**
 * Depth loss (OC13): L2 (no ½) between the prediction on the query grid and the GT sampled
 * there by {@link sampleDepthAtGrid}, masked mean over valid pixels (0.001 < d < 10 m) of all
 * frames of the batch.
 *
 * @param pred `[F, Hq·Wq]` metres
 * @param depth `[F, H, W]` GT metres
 * @returns `loss`; `target` `[F, Hq·Wq]` and `mask` `[F, Hq·Wq]` (the sampled GT and validity)
 */
export function depthLossForward(
  pred: ArrayLike<number>,
  depth: ArrayLike<number>,
  frames: number,
  h: number,
  w: number,
  hq: number,
  wq: number,
): { loss: number; target: Float64Array; mask: Float64Array } {
  checkLength('pred', pred, frames * hq * wq, `[F, Hq·Wq] = [${frames}, ${hq * wq}]`);
  const target = sampleDepthAtGrid(depth, frames, h, w, hq, wq);
  const mask = depthValidMask(target);
  return { loss: l2LossForward(pred, target, mask).loss, target, mask };
}

/** Depth loss backward: dpred = dLoss·2·(pred − target)·valid / max(Σ valid, 1e-8). */
export function depthLossBackward(
  dLoss: number,
  pred: ArrayLike<number>,
  depth: ArrayLike<number>,
  frames: number,
  h: number,
  w: number,
  hq: number,
  wq: number,
): { dpred: Float64Array } {
  checkLength('pred', pred, frames * hq * wq, `[F, Hq·Wq] = [${frames}, ${hq * wq}]`);
  const target = sampleDepthAtGrid(depth, frames, h, w, hq, wq);
  return l2LossBackward(dLoss, pred, target, depthValidMask(target));
}
