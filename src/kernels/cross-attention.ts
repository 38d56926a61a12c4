// Multi-head cross-attention with its own key count (OC4): the readouts' attention (depth head,
// point/box tracking, the single-query readout's direct form). Forward saves the row log-sum-exp;
// the backward is FlashAttention-2's split: D = rowsum(dO∘O), then dQ (one owner per query) and
// dK/dV (one owner per key) in separate kernels that recompute P from lse. No atomics: every
// gradient element has exactly one writer, so reruns are bit-identical.
//
// This is the import point; the parts are cross-attention-family.ts (the kernel family, its
// variants and tiles, the tile choice), cross-attention-run.ts (argument checks, views, batch
// chunks and the shared Params), cross-attention-forward.ts and cross-attention-backward.ts.

export type { HeadsView } from './attention.js';
export {
  checkTile,
  crossAttentionFamily,
  crossAttentionTileFor,
  crossAttentionTileName,
  isSupportedHeadDim,
  MAX_HEAD_DIM,
  ownersPerWorkgroup,
  SUPPORTED_HEAD_DIMS,
  tileWorkgroupBytes,
  tolerance,
  type CrossAttentionPass,
  type CrossAttentionTile,
  type CrossAttentionVariant,
} from './cross-attention-family.js';
export type { CrossAttentionDims, CrossAttentionTiles } from './cross-attention-run.js';
export {
  crossAttentionForward,
  crossAttentionForwardFlops,
  type CrossAttentionForwardOptions,
} from './cross-attention-forward.js';
export {
  crossAttentionBackward,
  crossAttentionBackwardFlops,
  type CrossAttentionBackwardOptions,
  type GradView,
} from './cross-attention-backward.js';
