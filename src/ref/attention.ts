// CPU reference (f64) for windowed attention with a Swin 3-D relative position bias.
import type { Dims3 } from '../kernels/attention.js';

export interface AttentionRefArgs {
  q: ArrayLike<number>; // (tokens, heads·dh) contiguous
  k: ArrayLike<number>;
  v: ArrayLike<number>;
  latent: Dims3;
  window: Dims3;
  heads: number;
  headDim: number;
  batch?: number;
  scale?: number;
  table?: ArrayLike<number>; // (rows, heads)
  identity?: boolean;
}

export function attentionRef(a: AttentionRefArgs): Float64Array {
  const [T, H, W] = a.latent;
  const [wt, wh, ww] = a.window;
  const B = a.batch ?? 1;
  const D = a.heads * a.headDim;
  const out = new Float64Array(B * T * H * W * D);
  const scale = a.scale ?? 1 / Math.sqrt(a.headDim);
  const nw = wt * wh * ww;
  const tok = (b: number, t: number, y: number, x: number): number => ((b * T + t) * H + y) * W + x;
  for (let b = 0; b < B; b++) {
    for (let t0 = 0; t0 < T; t0 += wt) {
      for (let y0 = 0; y0 < H; y0 += wh) {
        for (let x0 = 0; x0 < W; x0 += ww) {
          const coords: [number, number, number][] = [];
          for (let n = 0; n < nw; n++) {
            coords.push([Math.floor(n / (wh * ww)), Math.floor(n / ww) % wh, n % ww]);
          }
          const rows = coords.map(([t, y, x]) => tok(b, t0 + t, y0 + y, x0 + x));
          for (let h = 0; h < a.heads; h++) {
            for (let i = 0; i < nw; i++) {
              const ri = rows[i]!;
              if (a.identity) {
                for (let d = 0; d < a.headDim; d++) {
                  out[ri * D + h * a.headDim + d] = a.v[ri * D + h * a.headDim + d]!;
                }
                continue;
              }
              const s = new Float64Array(nw);
              let m = -Infinity;
              for (let j = 0; j < nw; j++) {
                const rj = rows[j]!;
                let dot = 0;
                for (let d = 0; d < a.headDim; d++) {
                  dot += a.q[ri * D + h * a.headDim + d]! * a.k[rj * D + h * a.headDim + d]!;
                }
                let v = dot * scale;
                if (a.table) {
                  const [ti, yi, xi] = coords[i]!;
                  const [tj, yj, xj] = coords[j]!;
                  const idx =
                    ((ti - tj + wt - 1) * (2 * wh - 1) + (yi - yj + wh - 1)) * (2 * ww - 1) + (xi - xj + ww - 1);
                  v += a.table[idx * a.heads + h]!;
                }
                s[j] = v;
                m = Math.max(m, v);
              }
              let l = 0;
              for (let j = 0; j < nw; j++) {
                s[j] = Math.exp(s[j]! - m);
                l += s[j]!;
              }
              for (let d = 0; d < a.headDim; d++) {
                let acc = 0;
                for (let j = 0; j < nw; j++) {
                  acc += s[j]! * a.v[rows[j]! * D + h * a.headDim + d]!;
                }
                out[ri * D + h * a.headDim + d] = acc / l;
              }
            }
          }
        }
      }
    }
  }
  return out;
}
