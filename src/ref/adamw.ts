// CPU reference (f64) for the readout optimiser: optax.adamw with its defaults (OC22) and
// optax.warmup_cosine_decay_schedule (OC23).

export interface AdamWOptions {
  /** β1, default 0.9. */
  b1?: number;
  /** β2, default 0.999. */
  b2?: number;
  /** ε outside the square root, default 1e-8. */
  eps?: number;
  /** ε inside the square root, default 0. */
  epsRoot?: number;
  /** Decoupled weight decay, default 1e-4, applied to every parameter (optax mask = None). */
  weightDecay?: number;
}

/**
 * One AdamW update of one parameter tensor, exactly optax.adamw (scale_by_adam →
 * add_decayed_weights → scale_by_learning_rate), elementwise, any shape:
 *
 * m' = (1 − β1)·g + β1·m,   v' = (1 − β2)·g² + β2·v
 * t  = step + 1,  m̂ = m' / (1 − β1^t),  v̂ = v' / (1 − β2^t)
 * u  = m̂ / (√(v̂ + ε_root) + ε) + wd·p
 * p' = p − lr·u
 *
 * @param param p, any shape
 * @param grad g, same shape
 * @param m first moment, same shape (zeros before the first update)
 * @param v second moment, same shape (zeros before the first update)
 * @param step the number of updates already applied (0 for the first)
 * @param lr the rate of this update, lr(step) of the schedule
 * @returns new arrays `param`, `m`, `v` (the inputs are not modified)
 */
export function adamwStep(
  param: ArrayLike<number>,
  grad: ArrayLike<number>,
  m: ArrayLike<number>,
  v: ArrayLike<number>,
  step: number,
  lr: number,
  opts: AdamWOptions = {},
): { param: Float64Array; m: Float64Array; v: Float64Array } {
  const n = param.length;
  for (const [name, a] of [
    ['grad', grad],
    ['m', m],
    ['v', v],
  ] as const) {
    if (a.length !== n) {
      throw new RangeError(`${name}: expected ${n} elements (like param), got ${a.length}`);
    }
  }
  if (!Number.isInteger(step) || step < 0) {
    throw new RangeError(`step: expected the number of updates already applied (integer ≥ 0), got ${step}`);
  }
  const b1 = opts.b1 ?? 0.9;
  const b2 = opts.b2 ?? 0.999;
  const eps = opts.eps ?? 1e-8;
  const epsRoot = opts.epsRoot ?? 0;
  const wd = opts.weightDecay ?? 1e-4;
  const t = step + 1;
  const bc1 = 1 - b1 ** t;
  const bc2 = 1 - b2 ** t;
  const pOut = new Float64Array(n);
  const mOut = new Float64Array(n);
  const vOut = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const g = grad[i]!;
    const p = param[i]!;
    const mi = (1 - b1) * g + b1 * m[i]!;
    const vi = (1 - b2) * (g * g) + b2 * v[i]!;
    const u = mi / bc1 / (Math.sqrt(vi / bc2 + epsRoot) + eps) + wd * p;
    mOut[i] = mi;
    vOut[i] = vi;
    pOut[i] = p - lr * u;
  }
  return { param: pOut, m: mOut, v: vOut };
}

export interface WarmupCosineOptions {
  /** Rate at step 0, default 0. */
  initValue?: number;
  /** Rate at the end of the warm-up. */
  peakValue: number;
  /** W ≥ 0. */
  warmupSteps: number;
  /** D: total length INCLUDING the warm-up, D ≥ W. */
  decaySteps: number;
  /** Final rate, default 0 (the readouts use 1e-7). */
  endValue?: number;
}

/**
 * optax.warmup_cosine_decay_schedule (exponent 1), as optax evaluates it (OC23):
 *
 * s < W:  lr = (init − peak)·(1 − s/W) + peak            (linear_schedule)
 * s ≥ W:  k = min(s − W, D − W),  c = ½·(1 + cos(π·k/(D − W))),
 *         lr = peak·((1 − α)·c + α),  α = end/peak (0 if peak = 0)   (cosine_decay_schedule)
 *
 * (= end + (peak − end)·c up to rounding.) `step` s = number of updates already applied, so the
 * first update uses lr(0) = init.
 *
 * Edge cases: W = 0 is optax's (no warm-up; lr(0) = peak). D = W makes optax raise (cosine decay
 * of zero length); here it means a decay already complete: lr = end for s ≥ W (lr(W) = end, not
 * peak). D < W, W < 0 or a negative/non-integer step throw.
 */
export function warmupCosineDecaySchedule(step: number, o: WarmupCosineOptions): number {
  const W = o.warmupSteps;
  const D = o.decaySteps;
  const init = o.initValue ?? 0;
  const peak = o.peakValue;
  const end = o.endValue ?? 0;
  if (!Number.isInteger(W) || W < 0) {
    throw new RangeError(`warmupSteps: expected an integer ≥ 0, got ${W}`);
  }
  if (!Number.isInteger(D) || D < W) {
    throw new RangeError(`decaySteps: expected an integer ≥ warmupSteps (${W}; it includes the warm-up), got ${D}`);
  }
  if (!Number.isInteger(step) || step < 0) {
    throw new RangeError(`step: expected the number of updates already applied (integer ≥ 0), got ${step}`);
  }
  if (step < W) {
    return (init - peak) * (1 - step / W) + peak;
  }
  if (D === W) {
    return end;
  }
  const alpha = peak === 0 ? 0 : end / peak;
  const k = Math.min(step - W, D - W);
  const c = 0.5 * (1 + Math.cos((Math.PI * k) / (D - W)));
  return peak * ((1 - alpha) * c + alpha);
}
