// CPU references (f64) for layernorm, groupnorm, softmax and reductions.

/** LayerNorm of each contiguous row of `cols`; optional affine or modulation callbacks. */
export function layernormRef(
  x: ArrayLike<number>,
  cols: number,
  opts: {
    eps?: number;
    weight?: ArrayLike<number>;
    bias?: ArrayLike<number>;
    mod?: (row: number, c: number, h: number) => number;
    outScale?: number;
  } = {},
): Float64Array {
  const rows = x.length / cols;
  const eps = opts.eps ?? 1e-6;
  const out = new Float64Array(x.length);
  for (let r = 0; r < rows; r++) {
    let mean = 0;
    for (let c = 0; c < cols; c++) {
      mean += x[r * cols + c]!;
    }
    mean /= cols;
    let v = 0;
    for (let c = 0; c < cols; c++) {
      v += (x[r * cols + c]! - mean) ** 2;
    }
    const rstd = 1 / Math.sqrt(v / cols + eps);
    for (let c = 0; c < cols; c++) {
      let h = (x[r * cols + c]! - mean) * rstd;
      if (opts.mod) {
        h = opts.mod(r, c, h);
      } else {
        if (opts.weight) {
          h *= opts.weight[c]!;
        }
        if (opts.bias) {
          h += opts.bias[c]!;
        }
      }
      out[r * cols + c] = h * (opts.outScale ?? 1);
    }
  }
  return out;
}

/** GroupNorm per frame over (pixels × C/G) of x (T, P, C); optional swish. */
export function groupnormRef(
  x: ArrayLike<number>,
  T: number,
  P: number,
  C: number,
  G: number,
  gamma: ArrayLike<number>,
  beta: ArrayLike<number>,
  swish: boolean,
  eps = 1e-6,
): Float64Array {
  const out = new Float64Array(x.length);
  const cg = C / G;
  for (let t = 0; t < T; t++) {
    for (let g = 0; g < G; g++) {
      let mean = 0;
      for (let p = 0; p < P; p++) {
        for (let c = g * cg; c < (g + 1) * cg; c++) {
          mean += x[(t * P + p) * C + c]!;
        }
      }
      mean /= P * cg;
      let v = 0;
      for (let p = 0; p < P; p++) {
        for (let c = g * cg; c < (g + 1) * cg; c++) {
          v += (x[(t * P + p) * C + c]! - mean) ** 2;
        }
      }
      const rstd = 1 / Math.sqrt(v / (P * cg) + eps);
      for (let p = 0; p < P; p++) {
        for (let c = g * cg; c < (g + 1) * cg; c++) {
          const i = (t * P + p) * C + c;
          let h = (x[i]! - mean) * rstd * gamma[c]! + beta[c]!;
          if (swish) {
            h = h / (1 + Math.exp(-h));
          }
          out[i] = h;
        }
      }
    }
  }
  return out;
}

export function softmaxRef(x: ArrayLike<number>, cols: number, scale = 1): Float64Array {
  const out = new Float64Array(x.length);
  for (let r = 0; r < x.length / cols; r++) {
    let m = -Infinity;
    for (let c = 0; c < cols; c++) {
      m = Math.max(m, scale * x[r * cols + c]!);
    }
    let s = 0;
    for (let c = 0; c < cols; c++) {
      s += Math.exp(scale * x[r * cols + c]! - m);
    }
    for (let c = 0; c < cols; c++) {
      out[r * cols + c] = Math.exp(scale * x[r * cols + c]! - m) / s;
    }
  }
  return out;
}

export function reduceRef(
  x: ArrayLike<number>,
  outer: number,
  axis: number,
  inner: number,
  op: 'mean' | 'sum',
): Float64Array {
  const out = new Float64Array(outer * inner);
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < inner; i++) {
      let s = 0;
      for (let a = 0; a < axis; a++) {
        s += x[(o * axis + a) * inner + i]!;
      }
      out[o * inner + i] = op === 'mean' ? s / axis : s;
    }
  }
  return out;
}
