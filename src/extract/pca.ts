// A PCA picture of one clip's features, as in the study's figures: the first three principal
// components of the (T'·h·w, D) token features as RGB, one tile per latent frame.
import { PNG } from 'pngjs';
import { writeBytesAtomic } from '../util/atomic.js';

/** Top-k principal directions of rows X (n, d) by power iteration with deflation (f64). */
export function principalComponents(x: Float32Array, n: number, d: number, k: number): Float64Array[] {
  const mean = new Float64Array(d);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < d; j++) {
      mean[j]! += x[i * d + j]! / n;
    }
  }
  // Covariance (d × d).
  const cov = new Float64Array(d * d);
  const row = new Float64Array(d);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < d; j++) {
      row[j] = x[i * d + j]! - mean[j]!;
    }
    for (let a = 0; a < d; a++) {
      const ra = row[a]!;
      for (let b = a; b < d; b++) {
        cov[a * d + b]! += ra * row[b]!;
      }
    }
  }
  for (let a = 0; a < d; a++) {
    for (let b = 0; b < a; b++) {
      cov[a * d + b] = cov[b * d + a]!;
    }
  }
  const comps: Float64Array[] = [];
  for (let c = 0; c < k; c++) {
    let v = new Float64Array(d).map((_, i) => Math.sin(i * 12.9898 + c * 78.233) + 0.01);
    for (let it = 0; it < 200; it++) {
      const w = new Float64Array(d);
      for (let a = 0; a < d; a++) {
        let s = 0;
        for (let b = 0; b < d; b++) {
          s += cov[a * d + b]! * v[b]!;
        }
        w[a] = s;
      }
      for (const p of comps) {
        const dot = w.reduce((s, val, i) => s + val * p[i]!, 0);
        for (let a = 0; a < d; a++) {
          w[a]! -= dot * p[a]!;
        }
      }
      const norm = Math.hypot(...w);
      if (norm === 0) {
        break;
      }
      v = w.map((val) => val / norm);
    }
    comps.push(v);
  }
  return comps;
}

/**
 * Writes a PNG: features (T, h, w, D) → 3 PCA components → RGB (each component min-max scaled
 * over the clip), frames side by side, each token `scale` pixels wide.
 */
export async function writePcaPng(
  path: string,
  feat: Float32Array,
  [T, h, w, D]: readonly number[],
  scale = 16,
): Promise<void> {
  const n = T! * h! * w!;
  const comps = principalComponents(feat, n, D!, 3);
  const proj = new Float64Array(n * 3);
  for (let i = 0; i < n; i++) {
    for (let c = 0; c < 3; c++) {
      let s = 0;
      for (let j = 0; j < D!; j++) {
        s += feat[i * D! + j]! * comps[c]![j]!;
      }
      proj[i * 3 + c] = s;
    }
  }
  const lo = [Infinity, Infinity, Infinity];
  const hi = [-Infinity, -Infinity, -Infinity];
  for (let i = 0; i < n; i++) {
    for (let c = 0; c < 3; c++) {
      lo[c] = Math.min(lo[c]!, proj[i * 3 + c]!);
      hi[c] = Math.max(hi[c]!, proj[i * 3 + c]!);
    }
  }
  const gap = 4;
  const width = T! * w! * scale + (T! - 1) * gap;
  const height = h! * scale;
  const png = new PNG({ width, height });
  png.data.fill(255);
  for (let t = 0; t < T!; t++) {
    for (let y = 0; y < h! * scale; y++) {
      for (let x = 0; x < w! * scale; x++) {
        const i = (t * h! + Math.floor(y / scale)) * w! + Math.floor(x / scale);
        const px = (y * width + t * (w! * scale + gap) + x) * 4;
        for (let c = 0; c < 3; c++) {
          png.data[px + c] = Math.round((255 * (proj[i * 3 + c]! - lo[c]!)) / Math.max(hi[c]! - lo[c]!, 1e-12));
        }
        png.data[px + 3] = 255;
      }
    }
  }
  await writeBytesAtomic(path, PNG.sync.write(png));
}
