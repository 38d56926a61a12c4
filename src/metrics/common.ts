// Shared pieces of the metrics library (spec §8, OC17–OC21): the tensor type (plain typed arrays
// plus a PyTorch-order shape), shape binding across tensors, integer and mask checks, and the
// dataset mean with its NaN policy.

/** A tensor as the metrics read it: row-major values (any numeric array) and its shape. */
export interface NumericTensor {
  readonly data: ArrayLike<number>;
  readonly shape: readonly number[];
}

/** Inputs that do not fit a metric; the message names the tensor and the expected shape. */
export class MetricsInputError extends Error {
  override name = 'MetricsInputError';
}

/**
 * What a dataset mean does with clips whose metric is NaN (nothing to evaluate: no valid depth
 * pixel, no evaluated track point, no valid box): `propagate` (np.mean, tapnet's choice: the
 * mean is NaN) or `omit` (np.nanmean: the mean over the other clips; NaN if all are NaN).
 */
export type NanPolicy = 'propagate' | 'omit';

/** Mean over clips under a NaN policy; an empty list gives NaN. */
export function datasetMean(values: ArrayLike<number>, nan: NanPolicy = 'propagate'): number {
  let s = 0;
  let n = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (Number.isNaN(v) && nan === 'omit') {
      continue;
    }
    s += v;
    n++;
  }
  return n === 0 ? Number.NaN : s / n;
}

/** One tensor to check: its label in errors, its shape, and a pattern of sizes and names. */
export interface ShapeCheck {
  readonly label: string;
  readonly shape: readonly number[];
  readonly pattern: readonly (number | string)[];
}

const fmt = (s: readonly (number | string)[]): string => `[${s.join(',')}]`;

/**
 * Checks shapes against patterns; a named dimension binds to the same size across all checks.
 * @returns the bound sizes by name
 * @throws MetricsInputError naming the tensor, its shape, the expected shape and where a bound
 *   size came from
 */
export function bindShapes(checks: readonly ShapeCheck[]): Record<string, number> {
  const bound: Record<string, { size: number; from: string }> = {};
  for (const c of checks) {
    const expect = (why: string): never => {
      throw new MetricsInputError(`${c.label} has shape ${fmt(c.shape)}, expected ${fmt(c.pattern)}${why}`);
    };
    if (c.shape.length !== c.pattern.length) {
      expect(` (rank ${c.pattern.length})`);
    }
    c.pattern.forEach((p, i) => {
      const d = c.shape[i]!;
      if (typeof p === 'number') {
        if (d !== p) {
          expect('');
        }
        return;
      }
      const b = bound[p];
      if (b === undefined) {
        bound[p] = { size: d, from: c.label };
      } else if (b.size !== d) {
        expect(` with ${p} = ${b.size} (from ${b.from})`);
      }
    });
  }
  return Object.fromEntries(Object.entries(bound).map(([k, v]) => [k, v.size]));
}

/** Checks that a tensor's value count matches its shape. */
export function checkLength(label: string, t: NumericTensor): void {
  let n = 1;
  for (const d of t.shape) {
    n *= d;
  }
  if (t.data.length !== n) {
    throw new MetricsInputError(`${label} has ${t.data.length} values for shape ${fmt(t.shape)}`);
  }
}

/**
 * Checks that every value is an integer in [lo, hi) (labels, query frames).
 * @throws MetricsInputError naming the first offending element
 */
export function checkIntegers(label: string, t: NumericTensor, lo: number, hi: number, what: string): void {
  for (let i = 0; i < t.data.length; i++) {
    const v = t.data[i]!;
    if (!Number.isInteger(v) || v < lo || v >= hi) {
      throw new MetricsInputError(
        `${label}[${unravel(i, t.shape).join(',')}] = ${v}: ${what} must be integers in [${lo}, ${hi - 1}]`,
      );
    }
  }
}

/** Checks that a mask holds only 0 and 1 (visible, valid), in any numeric dtype. */
export function checkMask(label: string, t: NumericTensor): void {
  for (let i = 0; i < t.data.length; i++) {
    const v = t.data[i]!;
    if (v !== 0 && v !== 1) {
      throw new MetricsInputError(`${label}[${unravel(i, t.shape).join(',')}] = ${v}: a mask holds only 0 and 1`);
    }
  }
}

/** The multi-index of flat index `i` in a row-major shape. */
export function unravel(i: number, shape: readonly number[]): number[] {
  const idx = new Array<number>(shape.length).fill(0);
  let r = i;
  for (let k = shape.length - 1; k >= 0; k--) {
    const d = shape[k]!;
    idx[k] = d > 0 ? r % d : 0;
    r = d > 0 ? Math.floor(r / d) : 0;
  }
  return idx;
}

/** Requires at least one clip. */
export function checkClips(label: string, B: number): void {
  if (B < 1) {
    throw new MetricsInputError(`${label} holds no clips (B = 0); a metric needs at least one`);
  }
}
