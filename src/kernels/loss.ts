// The readout losses (OC10–OC16): each computes its value and its gradient w.r.t. the prediction
// in one pass (losses end the tape), then a fixed-order reduction of per-workgroup partials into
// an f32 [1] loss tensor. Masked means pool over the whole batch through a host-given scale:
// s = weight / max(Σ mask·inner, 1e-8) (the host knows every mask of every micro-batch), so the
// loss is s·Σ m·value and the gradient s·m·∂value. See kernels/loss.wgsl.

import type { GpuContext } from '../gpu/context.js';
import type { DeviceCaps } from '../wgsl/family.js';
import { defineKernelFamily } from '../wgsl/family.js';
import { formatShape, ShapeError } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';
import { ceilDiv, checkOut, fold, type GradTarget } from './common.js';

/** TAPIR's Huber δ: 4 px on a 256 raster (OC14). */
export const HUBER_DELTA = 4 / 256;
/** TAPIR's certainty threshold: 6 px on a 256 raster (OC14). */
export const CERTAINTY_THRESHOLD = 6 / 256;

export type LossEntry = 'ce_rows' | 'l2_blocks' | 'huber_blocks' | 'bce_blocks' | 'certainty' | 'reduce_partials';
const ENTRIES: readonly LossEntry[] = [
  'ce_rows',
  'l2_blocks',
  'huber_blocks',
  'bce_blocks',
  'certainty',
  'reduce_partials',
];

export interface LossVariant {
  readonly entry: LossEntry;
}

/** Elements per lane in the *_blocks entry points (PER in the kernel). */
const PER = 16;

function wgSize(caps: DeviceCaps): number {
  return Math.min(caps.isSoftware ? 64 : 256, caps.limits.maxComputeInvocationsPerWorkgroup);
}

export const lossFamily = defineKernelFamily<LossVariant>()({
  name: 'loss',
  file: 'loss.wgsl',
  bindings: [
    { name: 'pred', access: 'read' },
    { name: 'tgt', access: 'read' },
    { name: 'mask', access: 'read' },
    { name: 'labels', access: 'read' },
    { name: 'grad', access: 'read_write' },
    { name: 'partials', access: 'read_write' },
    { name: 'loss', access: 'read_write' },
  ],
  params: [
    ['n', 'u32'],
    ['inner', 'u32'],
    ['has_mask', 'u32'],
    ['accumulate', 'u32'],
    ['scale', 'f32'],
    ['delta', 'f32'],
    ['stride', 'u32'],
    ['offset', 'u32'],
  ],
  entryPoint: (v) => v.entry,
  defines: () => ({}),
  overrides: (_v, caps) => ({ WG: wgSize(caps) }),
  variantName: (v) => v.entry,
  variants: () => ENTRIES.map((entry) => ({ entry })),
});

/**
 * Tolerances against src/ref/losses.ts (f32 math and storage): gradients elementwise
 * `|a − r| ≤ atol·max|r| + rtol·|r|` (atol scaled by the largest reference gradient, since the
 * scale sets their size); the loss value `|a − r| ≤ lossRtol·|r|`.
 */
export const tolerance = { f32: { atol: 1e-6, rtol: 1e-5 }, lossRtol: 2e-6 } as const;

export interface LossOptions {
  /** s = weight / max(Σ mask·inner, 1e-8) over the whole batch; loss = s·Σ m·value. */
  scale: number;
  /**
   * Where the gradient w.r.t. the prediction goes (accumulate: +=); absent: a fresh tensor;
   * null: no gradient (the value only, e.g. a prediction that needs none).
   */
  grad?: GradTarget | null;
  /** Where the loss goes (accumulate: adds this term to its value); default a fresh f32 [1]. */
  lossOut?: GradTarget;
  label?: string;
}

/** The gradient a loss returns: null for `grad: null`, a tensor when one is given or fresh. */
export type GradResult<O> = O extends { grad: null }
  ? null
  : O extends { scale: number; grad?: GradTarget }
    ? Tensor
    : Tensor | null;

type Bindings = {
  pred: Tensor;
  tgt: Tensor;
  mask: Tensor;
  labels: Tensor;
  grad: Tensor;
  partials: Tensor;
  loss: Tensor;
};

interface Pass {
  entry: LossEntry;
  n: number;
  inner: number;
  mask: Tensor | null;
  delta?: number;
  stride?: number;
  offset?: number;
  /** Workgroups of the first pass (= partial count). */
  groups: number;
}

function checkF32(what: string, t: Tensor): void {
  if (t.dtype !== 'f32') {
    throw new ShapeError(`${what}: expected an f32 tensor, got ${t.toString()}`);
  }
}

function checkScale(what: string, scale: number): void {
  if (!Number.isFinite(scale)) {
    throw new ShapeError(`${what}: scale must be a finite number (weight / max(Σ mask, 1e-8)), got ${scale}`);
  }
}

function checkMask(what: string, mask: Tensor | null | undefined, n: number, shape: string): void {
  if (mask) {
    checkF32(`${what}: mask`, mask);
    if (mask.numel !== n) {
      throw new ShapeError(`${what}: mask ${formatShape(mask.shape)} must have ${n} elements (${shape})`);
    }
  }
}

/** Runs the first pass and the reduction; returns the loss and gradient tensors. */
function runLoss(
  ctx: GpuContext,
  what: string,
  pred: Tensor,
  target: Tensor | null,
  labels: Tensor | null,
  pass: Pass,
  opts: LossOptions,
  zeroFresh = false,
): { loss: Tensor; grad: Tensor | null } {
  checkScale(what, opts.scale);
  if (opts.grad) {
    checkOut(`${what}: grad`, opts.grad.tensor, pred.shape, 'f32');
  }
  const noGrad = opts.grad === null;
  if (opts.lossOut) {
    checkOut(`${what}: lossOut`, opts.lossOut.tensor, [1], 'f32');
  }
  const fresh = (): Tensor =>
    zeroFresh ? ctx.zeros(pred.shape, 'f32', `d${what}`) : ctx.empty(pred.shape, 'f32', `d${what}`);
  // Without a gradient the kernel writes none; its binding is a small spare.
  const grad = noGrad ? ctx.empty([1], 'f32') : (opts.grad?.tensor ?? fresh());
  const gradMode = noGrad ? 2 : opts.grad?.accumulate ? 1 : 0;
  const loss = opts.lossOut?.tensor ?? ctx.empty([1], 'f32', `${what}-loss`);
  const f32 = ctx.dummy('f32');
  const partials = ctx.empty([Math.max(pass.groups, 1)], 'f32', `${what}-partials`);
  const label = opts.label ? { label: opts.label } : {};
  const common = {
    inner: pass.inner,
    has_mask: pass.mask ? 1 : 0,
    delta: pass.delta ?? 0,
    stride: pass.stride ?? 1,
    offset: pass.offset ?? 0,
  };
  if (pass.n > 0) {
    const b: Bindings = {
      pred,
      tgt: target ?? f32,
      mask: pass.mask ?? f32,
      labels: labels ?? ctx.dummy('i32'),
      grad,
      partials,
      loss,
    };
    ctx.dispatch(
      lossFamily,
      { entry: pass.entry },
      {
        bindings: b,
        params: { ...common, n: pass.n, accumulate: gradMode, scale: opts.scale },
        workgroups: fold(pass.groups),
        ...label,
      },
    );
  }
  ctx.dispatch(
    lossFamily,
    { entry: 'reduce_partials' },
    {
      bindings: { pred: f32, tgt: f32, mask: f32, labels: ctx.dummy('i32'), grad, partials, loss },
      params: {
        ...common,
        n: pass.n > 0 ? pass.groups : 0,
        accumulate: opts.lossOut?.accumulate ? 1 : 0,
        scale: opts.scale,
      },
      workgroups: [1],
      ...label,
    },
  );
  partials.dispose();
  if (noGrad) {
    grad.dispose();
    return { loss, grad: null };
  }
  return { loss, grad };
}

function blocks(ctx: GpuContext, n: number): number {
  return ceilDiv(n, PER * wgSize(ctx.caps));
}

/**
 * Softmax cross-entropy with integer labels, no smoothing (OC11):
 * loss = s·Σ_b m_b·(lse_b − logits[b, y_b]),  lse_b = log Σ_k exp(logits[b, k]) (stable);
 * dlogits[b, k] = s·m_b·(softmax(logits)[b, k] − 1[k = y_b]).
 * s = weight / max(Σ m, 1e-8) over the batch (1/B for the plain mean). A label outside [0, K)
 * makes the loss NaN.
 *
 * @param logits `[B, K]` f32
 * @param labels `[B]` i32 (or u32) classes
 * @param opts.mask `[B]` f32 weights (0/1), default all 1
 * @returns `loss` f32 [1] and `dlogits` `[B, K]`
 */
export function softmaxCrossEntropy<O extends LossOptions & { mask?: Tensor }>(
  ctx: GpuContext,
  logits: Tensor,
  labels: Tensor,
  opts: O,
): { loss: Tensor; dlogits: GradResult<O> } {
  const what = 'softmaxCrossEntropy';
  checkF32(`${what}: logits`, logits);
  if (logits.shape.length !== 2 || logits.shape[1]! < 1) {
    throw new ShapeError(`${what}: logits ${formatShape(logits.shape)} must be [B, K] with K ≥ 1`);
  }
  const [B, K] = logits.shape as [number, number];
  if (labels.dtype !== 'i32' && labels.dtype !== 'u32') {
    throw new ShapeError(`${what}: labels ${labels.toString()} must be an i32 tensor of classes`);
  }
  if (labels.numel !== B) {
    throw new ShapeError(`${what}: labels ${formatShape(labels.shape)} must be [B] = [${B}]`);
  }
  checkMask(what, opts.mask, B, `[B] = [${B}]`);
  const r = runLoss(
    ctx,
    what,
    logits,
    null,
    labels,
    { entry: 'ce_rows', n: B, inner: K, mask: opts.mask ?? null, groups: B },
    opts,
  );
  return { loss: r.loss, dlogits: r.grad as GradResult<O> };
}

/**
 * L2 loss WITHOUT ½ (kd.losses.L2; OC10, OC12, OC13, OC15):
 * loss = s·Σ_i m_⌊i/inner⌋·(pred_i − target_i)²,  dpred_i = s·m·2·(pred_i − target_i),
 * with inner = pred.numel / mask.numel (the trailing dims the mask lacks) and
 * s = weight / max(inner·Σ m, 1e-8) for the masked mean.
 *
 * @param pred any shape, f32 (e.g. `[P, inner]`)
 * @param target pred's shape
 * @param mask `[P]` f32 (0/1) over the leading dims, or null for none
 * @returns `loss` f32 [1] and `dpred` (pred's shape)
 */
export function l2Loss<O extends LossOptions>(
  ctx: GpuContext,
  pred: Tensor,
  target: Tensor,
  mask: Tensor | null | undefined,
  opts: O,
): { loss: Tensor; dpred: GradResult<O> } {
  const what = 'l2Loss';
  checkF32(`${what}: pred`, pred);
  checkF32(`${what}: target`, target);
  if (target.numel !== pred.numel) {
    throw new ShapeError(
      `${what}: target ${formatShape(target.shape)} must be pred's shape ${formatShape(pred.shape)}`,
    );
  }
  let inner = 1;
  if (mask) {
    checkF32(`${what}: mask`, mask);
    if (mask.numel === 0 || pred.numel % mask.numel !== 0) {
      throw new ShapeError(
        `${what}: mask ${formatShape(mask.shape)} must cover pred ${formatShape(pred.shape)}'s leading dims (its element count must divide ${pred.numel})`,
      );
    }
    inner = pred.numel / mask.numel;
  }
  const n = pred.numel;
  const r = runLoss(
    ctx,
    what,
    pred,
    target,
    null,
    { entry: 'l2_blocks', n, inner, mask: mask ?? null, groups: blocks(ctx, n) },
    opts,
  );
  return { loss: r.loss, dpred: r.grad as GradResult<O> };
}

/**
 * TAPIR Huber loss on the Euclidean distance of each point (OC14):
 * d_p = ‖pred_p − target_p‖₂, value_p = d²/2 if d < δ else δ·(d − δ/2), loss = s·Σ_p m_p·value_p;
 * dpred_p = s·m_p·(pred_p − target_p)·(1 if d_p < δ else δ/d_p).
 *
 * @param pred `[P, dims]` f32 (dims = 2: (x, y) in [0, 1])
 * @param target `[P, dims]`
 * @param mask `[P]` f32 (GT visible), or null
 * @param opts.delta δ > 0, default 4/256
 * @returns `loss` f32 [1] and `dpred` `[P, dims]`
 */
export function huberLoss<O extends LossOptions & { delta?: number }>(
  ctx: GpuContext,
  pred: Tensor,
  target: Tensor,
  mask: Tensor | null | undefined,
  opts: O,
): { loss: Tensor; dpred: GradResult<O> } {
  const what = 'huberLoss';
  const { points, dims } = pointShape(what, pred, target);
  checkMask(what, mask, points, `[P] = [${points}]`);
  const delta = opts.delta ?? HUBER_DELTA;
  if (!(delta > 0) || !Number.isFinite(delta)) {
    throw new ShapeError(`${what}: delta must be a positive number, got ${delta}`);
  }
  const r = runLoss(
    ctx,
    what,
    pred,
    target,
    null,
    { entry: 'huber_blocks', n: points, inner: dims, mask: mask ?? null, delta, groups: blocks(ctx, points) },
    opts,
  );
  return { loss: r.loss, dpred: r.grad as GradResult<O> };
}

/**
 * Stable sigmoid binary cross-entropy with logits (OC16), on P logits read with a stride:
 * x_i = logits[offset + i·stride], value_i = max(x, 0) − x·z_i + log1p(exp(−|x|)),
 * loss = s·Σ_i m_i·value_i;  dlogits[offset + i·stride] = s·m_i·(σ(x_i) − z_i).
 * Column c of a `[P, C]` tensor: `column: c` (= stride C, offset c). The gradient is written only
 * at the strided positions (a fresh dlogits is zero elsewhere; a given `grad` keeps its other
 * values).
 *
 * @param logits any shape, f32 (all of it is the gradient's shape)
 * @param targets z `[P]` in [0, 1]
 * @param mask `[P]` f32, or null
 * @returns `loss` f32 [1] and `dlogits` (logits' shape)
 */
export function sigmoidBce<O extends LossOptions & { stride?: number; offset?: number; column?: number }>(
  ctx: GpuContext,
  logits: Tensor,
  targets: Tensor,
  mask: Tensor | null | undefined,
  opts: O,
): { loss: Tensor; dlogits: GradResult<O> } {
  const what = 'sigmoidBce';
  checkF32(`${what}: logits`, logits);
  checkF32(`${what}: targets`, targets);
  const P = targets.numel;
  let stride = opts.stride ?? 1;
  let offset = opts.offset ?? 0;
  if (opts.column !== undefined) {
    const cols = logits.shape[logits.shape.length - 1] ?? 0;
    if (opts.stride !== undefined || opts.offset !== undefined || opts.column < 0 || opts.column >= cols) {
      throw new ShapeError(
        `${what}: column ${opts.column} must be a column of logits ${formatShape(logits.shape)} (and excludes stride/offset)`,
      );
    }
    stride = cols;
    offset = opts.column;
  }
  if (!Number.isInteger(stride) || stride < 1 || !Number.isInteger(offset) || offset < 0) {
    throw new ShapeError(`${what}: stride (${stride}) must be an integer ≥ 1 and offset (${offset}) ≥ 0`);
  }
  if (P > 0 && offset + (P - 1) * stride >= logits.numel) {
    throw new ShapeError(
      `${what}: ${P} targets at offset ${offset}, stride ${stride} reach past logits ${formatShape(logits.shape)}; ` +
        `targets must have one value per strided logit`,
    );
  }
  checkMask(what, mask, P, `[P] = [${P}]`);
  const covers = stride === 1 && offset === 0 && P === logits.numel;
  const r = runLoss(
    ctx,
    what,
    logits,
    targets,
    null,
    { entry: 'bce_blocks', n: P, inner: 1, mask: mask ?? null, stride, offset, groups: blocks(ctx, P) },
    opts,
    !covers,
  );
  return { loss: r.loss, dlogits: r.grad as GradResult<O> };
}

/**
 * The certainty target of the point loss (OC14), a constant (stop-gradient):
 * z_p = 1 if ‖pred_p − target_p‖₂ ≤ threshold else 0.
 *
 * @param pred `[P, dims]` f32 (predicted points)
 * @param target `[P, dims]` (GT points)
 * @param opts.threshold default 6/256
 * @returns z, f32 with pred's shape without its last dim (`[P]`)
 */
export function certaintyTarget(
  ctx: GpuContext,
  pred: Tensor,
  target: Tensor,
  opts: { threshold?: number; out?: Tensor; label?: string } = {},
): Tensor {
  const what = 'certaintyTarget';
  const { points, dims } = pointShape(what, pred, target);
  const shape = pred.shape.slice(0, -1);
  if (opts.out) {
    checkOut(`${what}: out`, opts.out, shape, 'f32');
  }
  const z = opts.out ?? ctx.empty(shape, 'f32', opts.label ?? 'certainty-target');
  if (points === 0) {
    return z;
  }
  const f32 = ctx.dummy('f32');
  const spare = [ctx.empty([1], 'f32'), ctx.empty([1], 'f32')] as const;
  ctx.dispatch(
    lossFamily,
    { entry: 'certainty' },
    {
      bindings: { pred, tgt: target, mask: f32, labels: ctx.dummy('i32'), grad: z, partials: spare[0], loss: spare[1] },
      params: {
        n: points,
        inner: dims,
        has_mask: 0,
        accumulate: 0,
        scale: 0,
        delta: opts.threshold ?? CERTAINTY_THRESHOLD,
        stride: 1,
        offset: 0,
      },
      workgroups: fold(ceilDiv(points, wgSize(ctx.caps))),
      ...(opts.label ? { label: opts.label } : {}),
    },
  );
  spare[0].dispose();
  spare[1].dispose();
  return z;
}

function pointShape(what: string, pred: Tensor, target: Tensor): { points: number; dims: number } {
  checkF32(`${what}: pred`, pred);
  checkF32(`${what}: target`, target);
  const dims = pred.shape[pred.shape.length - 1];
  if (pred.shape.length < 2 || dims === undefined || dims < 1) {
    throw new ShapeError(`${what}: pred ${formatShape(pred.shape)} must be [P, dims] (points last)`);
  }
  if (target.numel !== pred.numel) {
    throw new ShapeError(
      `${what}: target ${formatShape(target.shape)} must be pred's shape ${formatShape(pred.shape)}`,
    );
  }
  return { points: pred.numel / dims, dims };
}
