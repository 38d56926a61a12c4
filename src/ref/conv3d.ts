// CPU reference (f64) for the causal conv3d: canonical weights [C_out, C_in, kt, kh, kw].
import { convOutShape, padBefore, type Stride3 } from '../kernels/conv3d.js';

export function conv3dRef(
  x: ArrayLike<number>,
  [T, H, W, Ci]: readonly [number, number, number, number],
  w: ArrayLike<number>,
  [Co, , kt, kh, kw]: readonly [number, number, number, number, number],
  stride: Stride3 = [1, 1, 1],
  bias?: ArrayLike<number>,
  residual?: ArrayLike<number>,
): { out: Float64Array; shape: [number, number, number, number] } {
  const [To, Ho, Wo] = convOutShape(T, H, W, stride);
  const ph = padBefore(kh, stride[1]);
  const pw = padBefore(kw, stride[2]);
  const out = new Float64Array(To * Ho * Wo * Co);
  for (let t = 0; t < To; t++) {
    for (let y = 0; y < Ho; y++) {
      for (let xx = 0; xx < Wo; xx++) {
        for (let o = 0; o < Co; o++) {
          let s = bias ? bias[o]! : 0;
          for (let a = 0; a < kt; a++) {
            const it = t * stride[0] + a - (kt - 1);
            if (it < 0 || it >= T) {
              continue;
            }
            for (let b = 0; b < kh; b++) {
              const iy = y * stride[1] + b - ph;
              if (iy < 0 || iy >= H) {
                continue;
              }
              for (let c = 0; c < kw; c++) {
                const ix = xx * stride[2] + c - pw;
                if (ix < 0 || ix >= W) {
                  continue;
                }
                for (let i = 0; i < Ci; i++) {
                  s += w[(((o * Ci + i) * kt + a) * kh + b) * kw + c]! * x[((it * H + iy) * W + ix) * Ci + i]!;
                }
              }
            }
          }
          const oi = ((t * Ho + y) * Wo + xx) * Co + o;
          out[oi] = s + (residual ? residual[oi]! : 0);
        }
      }
    }
  }
  return { out, shape: [To, Ho, Wo, Co] };
}
