// Central-difference gradient checking for the float64 references, and the shape checks the
// references share.
import { Rng } from '../util/rng.js';

/**
 * Throws unless `a` holds exactly `n` elements.
 *
 * @param name the argument's name, for the message.
 * @param shape the expected shape in words (e.g. `"[R, IN] = [3, 5]"`).
 */
export function checkLength(name: string, a: ArrayLike<number>, n: number, shape: string): void {
  if (a.length !== n) {
    throw new RangeError(`${name}: expected ${n} elements (shape ${shape}), got ${a.length}; pass a ${shape} array`);
  }
}

/** Throws unless every named value is a non-negative (or, with `positive`, positive) integer. */
export function checkDims(dims: Record<string, number>, positive = true): void {
  for (const [name, v] of Object.entries(dims)) {
    if (!Number.isInteger(v) || v < (positive ? 1 : 0)) {
      throw new RangeError(`${name}: expected a ${positive ? 'positive' : 'non-negative'} integer, got ${v}`);
    }
  }
}

/** Finite-difference stencil: 2 = central (f(x+h) − f(x−h))/2h, 4 = fourth-order central. */
export type Stencil = 2 | 4;

/**
 * Numerical gradient of a scalar function by central differences.
 *
 * Element i is perturbed by ±s_i with s_i = h·max(1, |x_i|) (a relative step):
 * - stencil 2: g_i = (f(x + s e_i) − f(x − s e_i)) / (2 s), error O(s²);
 * - stencil 4: g_i = (−f(x+2s) + 8 f(x+s) − 8 f(x−s) + f(x−2s)) / (12 s), error O(s⁴); use it
 *   for functions with kinks (Huber, thresholds), with inputs at least 2 s away from a kink.
 *
 * @param f the function; it receives a scratch copy of `x` and must not keep it.
 * @param x the point, any length.
 * @returns ∂f/∂x, same length as `x`.
 */
export function numericalGradient(
  f: (x: Float64Array) => number,
  x: ArrayLike<number>,
  h = 1e-6,
  stencil: Stencil = 2,
): Float64Array {
  const xs = Float64Array.from(x);
  const g = new Float64Array(xs.length);
  const at = (i: number, x0: number, delta: number): number => {
    xs[i] = x0 + delta;
    const v = f(xs);
    xs[i] = x0;
    return v;
  };
  for (let i = 0; i < xs.length; i++) {
    const x0 = xs[i]!;
    const s = h * Math.max(1, Math.abs(x0));
    if (stencil === 2) {
      g[i] = (at(i, x0, s) - at(i, x0, -s)) / (2 * s);
    } else {
      g[i] = (-at(i, x0, 2 * s) + 8 * at(i, x0, s) - 8 * at(i, x0, -s) + at(i, x0, -2 * s)) / (12 * s);
    }
  }
  return g;
}

/** Named float64 tensors (flat, row-major). */
export type Tensors = Record<string, Float64Array>;

export interface GradcheckSpec {
  /** The point at which to check: every input of the op, differentiable or not. */
  inputs: Record<string, ArrayLike<number>>;
  /** The inputs to differentiate (default: all of `inputs`). */
  wrt?: readonly string[];
  /** The op's forward: its differentiable outputs (one array or several). */
  forward: (inputs: Tensors) => ArrayLike<number> | readonly ArrayLike<number>[];
  /**
   * The op's backward: given the inputs and one cotangent per output (same order and length as
   * `forward`'s outputs), the gradient of Σ_o ⟨dOut_o, out_o⟩ with respect to each `wrt` input.
   */
  backward: (inputs: Tensors, dOut: Float64Array[]) => Record<string, ArrayLike<number> | null | undefined>;
  /** Seed of the random projection (default 1). */
  seed?: number;
  /** Relative step (default 1e-6). */
  h?: number;
  stencil?: Stencil;
}

export interface GradcheckEntry {
  /** max_i |analytic_i − numeric_i|. */
  maxAbs: number;
  /** max_i |analytic_i|. */
  maxRef: number;
  /** maxAbs / max(maxRef, 1e-300): the whole-tensor relative error. */
  rel: number;
  analytic: Float64Array;
  numeric: Float64Array;
}

export interface GradcheckReport {
  entries: Record<string, GradcheckEntry>;
  /** The largest `rel` over all inputs. */
  worstRel: number;
  /** The largest `maxAbs` over all inputs. */
  worstAbs: number;
}

function asList(o: ArrayLike<number> | readonly ArrayLike<number>[]): ArrayLike<number>[] {
  if (Array.isArray(o) && (o.length === 0 || typeof o[0] !== 'number')) {
    return [...(o as readonly ArrayLike<number>[])];
  }
  return [o as ArrayLike<number>];
}

/**
 * Checks an op's backward against central differences of a random projection of its outputs.
 *
 * With fixed random cotangents r_o ~ N(0, 1) (one per output, seeded), the scalar
 * L(inputs) = Σ_o Σ_i r_o[i]·out_o[i] has ∂L/∂input = backward(inputs, r) (a vector–Jacobian
 * product); each `wrt` input's analytic gradient is compared, element by element, with
 * {@link numericalGradient} of L. Non-`wrt` inputs are held fixed.
 *
 * @returns per-input errors; the caller asserts on `rel` (≈1e-8 is typical for 2-point stencils
 *   at h = 1e-6 on O(1) data; a wrong gradient gives O(1)).
 */
export function gradcheck(spec: GradcheckSpec): GradcheckReport {
  const base: Tensors = {};
  for (const [k, v] of Object.entries(spec.inputs)) {
    base[k] = Float64Array.from(v);
  }
  const outs = asList(spec.forward(base));
  const rng = new Rng(spec.seed ?? 1, 7);
  const r = outs.map((o) => Float64Array.from({ length: o.length }, () => rng.normal()));
  const grads = spec.backward(base, r);
  const wrt = spec.wrt ?? Object.keys(spec.inputs);
  const entries: Record<string, GradcheckEntry> = {};
  let worstRel = 0;
  let worstAbs = 0;
  for (const name of wrt) {
    const x0 = base[name];
    if (!x0) {
      throw new RangeError(`gradcheck: wrt input '${name}' is not in inputs`);
    }
    const ga = grads[name];
    if (!ga) {
      throw new RangeError(`gradcheck: backward returned no gradient for '${name}'`);
    }
    checkLength(`gradient of ${name}`, ga, x0.length, `like ${name}`);
    const loss = (x: Float64Array): number => {
      const o = asList(spec.forward({ ...base, [name]: x }));
      let s = 0;
      for (let k = 0; k < o.length; k++) {
        const ok = o[k]!;
        const rk = r[k]!;
        for (let i = 0; i < ok.length; i++) {
          s += rk[i]! * ok[i]!;
        }
      }
      return s;
    };
    const numeric = numericalGradient(loss, x0, spec.h ?? 1e-6, spec.stencil ?? 2);
    const analytic = Float64Array.from(ga);
    let maxAbs = 0;
    let maxRef = 0;
    for (let i = 0; i < analytic.length; i++) {
      const d = Math.abs(analytic[i]! - numeric[i]!);
      maxAbs = Number.isNaN(d) || Number.isNaN(maxAbs) ? NaN : Math.max(maxAbs, d);
      maxRef = Math.max(maxRef, Math.abs(analytic[i]!));
    }
    const rel = maxAbs / Math.max(maxRef, 1e-300);
    entries[name] = { maxAbs, maxRef, rel, analytic, numeric };
    worstRel = Number.isNaN(rel) ? NaN : Math.max(worstRel, rel);
    worstAbs = Number.isNaN(maxAbs) ? NaN : Math.max(worstAbs, maxAbs);
  }
  return { entries, worstRel, worstAbs };
}

/** Summary line of a report, for assertion messages. */
export function describeReport(rep: GradcheckReport): string {
  return Object.entries(rep.entries)
    .map(([k, e]) => `${k}: rel ${e.rel.toExponential(2)} abs ${e.maxAbs.toExponential(2)}`)
    .join('; ');
}
