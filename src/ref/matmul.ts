// CPU reference (f64 accumulation) for src/kernels/matmul.ts.
import { geluTanh, silu } from './elementwise.js';
import type { Activation } from '../kernels/matmul.js';

export interface MatmulRefArgs {
  a: ArrayLike<number>;
  b: ArrayLike<number>;
  m: number;
  n: number;
  k: number;
  batch?: number;
  transA?: boolean;
  transB?: boolean;
  /** Batch-broadcast flags: operand shared by every batch element. */
  sharedA?: boolean;
  sharedB?: boolean;
  bias?: ArrayLike<number>;
  act?: Activation;
  residual?: ArrayLike<number>;
  gate?: ArrayLike<number>;
  rowsPerGate?: number;
}

export function matmulRef(r: MatmulRefArgs): Float64Array {
  const { m, n, k } = r;
  const Z = r.batch ?? 1;
  const out = new Float64Array(Z * m * n);
  for (let z = 0; z < Z; z++) {
    const ab = r.sharedA ? 0 : z * m * k;
    const bb = r.sharedB ? 0 : z * k * n;
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        let s = 0;
        for (let p = 0; p < k; p++) {
          const av = r.transA ? r.a[ab + p * m + i]! : r.a[ab + i * k + p]!;
          const bv = r.transB ? r.b[bb + j * k + p]! : r.b[bb + p * n + j]!;
          s += av * bv;
        }
        if (r.bias) {
          s += r.bias[j]!;
        }
        if (r.act === 'gelu') {
          s = geluTanh(s);
        } else if (r.act === 'silu') {
          s = silu(s);
        }
        const o = z * m * n + i * n + j;
        if (r.gate) {
          const sIdx = Math.floor((z * m + i) / (r.rowsPerGate ?? Z * m));
          s = r.residual![o]! + r.gate[sIdx * n + j]! * s;
        } else if (r.residual) {
          s = r.residual[o]! + s;
        }
        out[o] = s;
      }
    }
  }
  return out;
}
