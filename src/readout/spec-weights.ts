// The weight list of a readout head: every tensor with its shape (PyTorch `[out, in]`), role and
// fan-in, in the canonical order; parameter counts are sums over it, so counts, init, loaders and
// the GPU heads cannot disagree.

import { numel } from '../tensor/shape.js';
import { blockWidth, fourierDim, type HeadConfig } from './spec-config.js';
import {
  attentionHeadNames,
  depthHeadNames,
  trackHeadNames,
  type CrossAttentionBlockNames,
  type LinearNames,
} from './spec-names.js';

/**
 * What a tensor is, for initialisation (OC24) and optimisers: `dense` a Linear kernel
 * `[out, in]` (fan-in = `in`), `bias` a Linear bias, `norm_scale` a (Layer/RMS)Norm scale,
 * `norm_bias` a LayerNorm bias, `query` the learned attention query, `posenc` the temporal
 * position table.
 */
export type WeightRole = 'dense' | 'bias' | 'norm_scale' | 'norm_bias' | 'query' | 'posenc';

export interface HeadWeight {
  readonly name: string;
  readonly shape: readonly number[];
  readonly role: WeightRole;
  /** The `in` dimension of a dense kernel. */
  readonly fanIn?: number;
}

function weightsOf(cfg: HeadConfig): HeadWeight[] {
  const out: HeadWeight[] = [];
  const dense = (name: string, o: number, i: number): void => {
    out.push({ name, shape: [o, i], role: 'dense', fanIn: i });
  };
  const lin = (n: LinearNames, o: number, i: number): void => {
    dense(n.weight, o, i);
    out.push({ name: n.bias, shape: [o], role: 'bias' });
  };
  const scale = (name: string, n: number): void => {
    out.push({ name, shape: [n], role: 'norm_scale' });
  };
  const block = (b: CrossAttentionBlockNames, w: number, C: number, qkv: number, heads: number, mlp: number): void => {
    scale(b.normQ, w);
    dense(b.denseQuery, qkv, w);
    dense(b.denseKey, qkv, C);
    dense(b.denseValue, qkv, C);
    scale(b.normQuery, qkv / heads);
    scale(b.normKey, qkv / heads);
    lin(b.denseOut, w, qkv);
    scale(b.normAttn, w);
    lin(b.mlpIn, mlp, w);
    lin(b.mlpOut, w, mlp);
  };
  switch (cfg.kind) {
    case 'attention':
    case 'camera': {
      const n = attentionHeadNames(cfg);
      const { C, P, heads, K, T } = cfg;
      scale(n.featNorm.weight, C);
      out.push({ name: n.featNorm.bias, shape: [C], role: 'norm_bias' });
      out.push({ name: n.temporalPosenc, shape: [T, C], role: 'posenc' });
      out.push({ name: n.query, shape: [1, heads, P / heads], role: 'query' });
      lin(n.key, P, C);
      lin(n.value, P, C);
      lin(n.out, P, P);
      scale(n.mlpNorm.weight, P);
      out.push({ name: n.mlpNorm.bias, shape: [P], role: 'norm_bias' });
      lin(n.mlpFc1, 4 * P, P);
      lin(n.mlpFc2, P, 4 * P);
      lin(n.head, K, P);
      break;
    }
    case 'depth': {
      const n = depthHeadNames(cfg);
      const w = blockWidth(cfg);
      for (const b of n.layers) {
        block(b, w, cfg.C, cfg.qkv, cfg.heads, cfg.mlp);
      }
      scale(n.normEncoder, w);
      lin(n.recon, 1, w);
      break;
    }
    case 'points':
    case 'boxes': {
      const n = trackHeadNames(cfg);
      const w = cfg.width;
      lin(n.initFc1, w, fourierDim(cfg.n_coords, cfg.nfb));
      lin(n.initFc2, w, w);
      lin(n.inProj, w, w);
      for (const b of n.layers) {
        block(b, w, cfg.C, cfg.qkv, cfg.heads, cfg.mlp);
      }
      scale(n.normEncoder, w);
      lin(n.outProj, w, w);
      lin(n.predictorFc1, w, w);
      lin(n.predictorFc2, w, w);
      scale(n.stateNorm, w);
      lin(n.valuesFc1, w, w);
      lin(n.valuesFc2, cfg.n_values, w);
      lin(n.logitsFc1, w, w);
      lin(n.logitsFc2, cfg.n_logits, w);
      break;
    }
  }
  return out;
}

/**
 * Every tensor of a head with its role and fan-in, in the canonical order (the order of §7 and
 * of `walt readout info`; files are written in it).
 */
export function headWeights(cfg: HeadConfig): readonly HeadWeight[] {
  return weightsOf(cfg);
}

/** `[[name, shape], …]` in the canonical order (the JSON of `walt readout info`). */
export function weightList(cfg: HeadConfig): [string, number[]][] {
  return weightsOf(cfg).map((w) => [w.name, [...w.shape]]);
}

/**
 * Exact parameter count: `Σ numel(shape)` over `weightList(cfg)`. For attention and camera this
 * is `2C + T·C + P + 2(C·P + P) + (P² + P) + 2P + (4P² + 4P) + (4P² + P) + (P·K + K)` (§7.1).
 */
export function paramCount(cfg: HeadConfig): number {
  return weightsOf(cfg).reduce((s, w) => s + numel(w.shape), 0);
}
