// Shapes are PyTorch order (outermost first), contiguous row-major.

export type Shape = readonly number[];

export function numel(shape: Shape): number {
  let n = 1;
  for (const d of shape) {
    n *= d;
  }
  return n;
}

export function formatShape(shape: Shape): string {
  return `[${shape.join(',')}]`;
}

export function sameShape(a: Shape, b: Shape): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/** Thrown when a tensor's shape, dtype or size does not fit an operation. */
export class ShapeError extends Error {
  override name = 'ShapeError';
}

/**
 * Checks `shape` against a pattern: numbers must match exactly, strings are named free
 * dimensions (the same name must bind to the same size). Returns the bound sizes.
 */
export function expectShape(what: string, shape: Shape, pattern: readonly (number | string)[]): Record<string, number> {
  const bound: Record<string, number> = {};
  const fail = (why: string): never => {
    throw new ShapeError(`${what}: expected shape [${pattern.join(',')}], got ${formatShape(shape)} (${why})`);
  };
  if (shape.length !== pattern.length) {
    fail(`rank ${shape.length} != ${pattern.length}`);
  }
  pattern.forEach((p, i) => {
    const d = shape[i]!;
    if (!Number.isInteger(d) || d < 0) {
      fail(`dimension ${i} is not a non-negative integer`);
    }
    if (typeof p === 'number') {
      if (d !== p) {
        fail(`dimension ${i} is ${d}, not ${p}`);
      }
    } else if (p in bound) {
      if (bound[p] !== d) {
        fail(`${p} is both ${bound[p]} and ${d}`);
      }
    } else {
      bound[p] = d;
    }
  });
  return bound;
}
