// Training-kernel benchmarks of the cross-attention family at the study's readout shapes
// (`full`) or small ones: forward (o and lse) and backward (D, dq, dk, dv), in GFLOP/s
// (forward 4·B·Nq·Nk·H·d; backward by FlashAttention-2's 2.5× convention).
import type { GpuContext } from '../../src/gpu/context.js';
import {
  crossAttentionBackward,
  crossAttentionBackwardFlops,
  crossAttentionForward,
  crossAttentionForwardFlops,
  type CrossAttentionDims,
  type HeadsView,
} from '../../src/kernels/cross-attention.js';
import type { Tensor } from '../../src/tensor/tensor.js';
import { Rng } from '../../src/util/rng.js';

interface Case {
  family: string;
  name: string;
  flops?: number;
  bytes?: number;
  run: () => Tensor;
}

interface Shape {
  what: string;
  dims: CrossAttentionDims;
}

/** The tracking heads, the single-query readout's direct form, and (full only) the depth head. */
export function crossAttentionShapes(full: boolean): Shape[] {
  const shapes: Shape[] = [
    {
      what: 'tracking',
      dims: { batch: full ? 8 * 17 : 8, queries: 64, keys: 256, heads: 8, headDim: 64 },
    },
    {
      what: 'readout direct',
      dims: { batch: full ? 8 : 2, queries: 1, keys: full ? 4352 : 1088, heads: 16, headDim: 64 },
    },
  ];
  if (full) {
    shapes.push({ what: 'depth', dims: { batch: 1, queries: 16384, keys: 256, heads: 2, headDim: 256 } });
  }
  return shapes;
}

function name(s: Shape): string {
  const d = s.dims;
  return `${s.what} B${d.batch} Nq${d.queries} Nk${d.keys} H${d.heads} d${d.headDim}`;
}

export function trainBenchCases(ctx: GpuContext, full: boolean): Case[] {
  const rng = new Rng(11);
  const out: Case[] = [];
  for (const s of crossAttentionShapes(full)) {
    const { batch: B, queries: Nq, keys: Nk, heads: H, headDim: d } = s.dims;
    const W = H * d;
    const up = (rows: number): Tensor => ctx.upload(rng.normals(rows * W), [rows, W]);
    const view = (t: Tensor): HeadsView => ({ tensor: t, stride: W, offset: 0 });
    const q = view(up(B * Nq));
    const k = view(up(B * Nk));
    const v = view(up(B * Nk));
    const dO = up(B * Nq);
    const saved = crossAttentionForward(ctx, q, k, v, s.dims);
    out.push({
      family: 'cross-attention',
      name: `forward ${name(s)}`,
      flops: crossAttentionForwardFlops(s.dims),
      run: () => {
        const r = crossAttentionForward(ctx, q, k, v, s.dims);
        r.lse.dispose();
        return r.o;
      },
    });
    out.push({
      family: 'cross-attention',
      name: `backward ${name(s)}`,
      flops: crossAttentionBackwardFlops(s.dims),
      run: () => {
        const g = crossAttentionBackward(ctx, dO, q, k, v, saved.o, saved.lse, s.dims);
        g.dk.dispose();
        g.dv.dispose();
        return g.dq;
      },
    });
  }
  return out;
}
