// Canonical weight names of the readout heads (§7, PyTorch module paths under the head's prefix):
// Linear pairs, the cross-attention blocks of the depth and tracking heads, and each kind's tensors.

import type { AttentionHeadConfig, CameraHeadConfig, DepthHeadConfig, TrackHeadConfig } from './spec-config.js';

/** A Linear's two tensor names. */
export interface LinearNames {
  readonly weight: string;
  readonly bias: string;
}

/** One ImprovedTransformerBlock (cross-attention only, §7.3/§7.4), names under `blockPrefix`. */
export interface CrossAttentionBlockNames {
  /** LN_scale over the query stream `[w]` (full LayerNorm, no bias, OC2). */
  readonly normQ: string;
  readonly denseQuery: string;
  readonly denseKey: string;
  readonly denseValue: string;
  /** RMSNorm scales over d_head, shared by all heads (OC2). */
  readonly normQuery: string;
  readonly normKey: string;
  readonly denseOut: LinearNames;
  readonly normAttn: string;
  readonly mlpIn: LinearNames;
  readonly mlpOut: LinearNames;
}

export interface AttentionHeadNames {
  readonly featNorm: LinearNames;
  readonly temporalPosenc: string;
  readonly query: string;
  readonly key: LinearNames;
  readonly value: LinearNames;
  readonly out: LinearNames;
  readonly mlpNorm: LinearNames;
  readonly mlpFc1: LinearNames;
  readonly mlpFc2: LinearNames;
  readonly head: LinearNames;
}

export interface DepthHeadNames {
  readonly layers: readonly CrossAttentionBlockNames[];
  readonly normEncoder: string;
  readonly recon: LinearNames;
}

export interface TrackHeadNames {
  readonly initFc1: LinearNames;
  readonly initFc2: LinearNames;
  readonly inProj: LinearNames;
  readonly layers: readonly CrossAttentionBlockNames[];
  readonly normEncoder: string;
  readonly outProj: LinearNames;
  readonly predictorFc1: LinearNames;
  readonly predictorFc2: LinearNames;
  /** LN_scale with eps `STATE_NORM_EPS` (OC1). */
  readonly stateNorm: string;
  readonly valuesFc1: LinearNames;
  readonly valuesFc2: LinearNames;
  readonly logitsFc1: LinearNames;
  readonly logitsFc2: LinearNames;
}

const linear = (p: string): LinearNames => ({ weight: `${p}.weight`, bias: `${p}.bias` });

/** Names of one cross-attention block, e.g. `blockPrefix = readout.depth.transformer.layer_0`. */
export function crossAttentionBlockNames(blockPrefix: string): CrossAttentionBlockNames {
  const a = `${blockPrefix}.cross_att`;
  return {
    normQ: `${blockPrefix}.norm_q.weight`,
    denseQuery: `${a}.dense_query.weight`,
    denseKey: `${a}.dense_key.weight`,
    denseValue: `${a}.dense_value.weight`,
    normQuery: `${a}.norm_query.weight`,
    normKey: `${a}.norm_key.weight`,
    denseOut: linear(`${a}.dense_out`),
    normAttn: `${blockPrefix}.norm_attn.weight`,
    mlpIn: linear(`${blockPrefix}.mlp_in`),
    mlpOut: linear(`${blockPrefix}.mlp_out`),
  };
}

export function attentionHeadNames(cfg: AttentionHeadConfig | CameraHeadConfig): AttentionHeadNames {
  const p = cfg.prefix;
  return {
    featNorm: linear(`${p}.feat_norm`),
    temporalPosenc: `${p}.temporal_posenc`,
    query: `${p}.query`,
    key: linear(`${p}.key`),
    value: linear(`${p}.value`),
    out: linear(`${p}.out`),
    mlpNorm: linear(`${p}.mlp_norm`),
    mlpFc1: linear(`${p}.mlp.fc1`),
    mlpFc2: linear(`${p}.mlp.fc2`),
    head: linear(`${p}.head`),
  };
}

export function depthHeadNames(cfg: DepthHeadConfig): DepthHeadNames {
  const p = cfg.prefix;
  return {
    layers: Array.from({ length: cfg.layers }, (_, i) => crossAttentionBlockNames(`${p}.transformer.layer_${i}`)),
    normEncoder: `${p}.transformer.norm_encoder.weight`,
    recon: linear(`${p}.recon`),
  };
}

export function trackHeadNames(cfg: TrackHeadConfig): TrackHeadNames {
  const p = cfg.prefix;
  return {
    initFc1: linear(`${p}.init.fc1`),
    initFc2: linear(`${p}.init.fc2`),
    inProj: linear(`${p}.backbone.in_proj`),
    layers: Array.from({ length: cfg.layers }, (_, i) => crossAttentionBlockNames(`${p}.backbone.layer_${i}`)),
    normEncoder: `${p}.backbone.norm_encoder.weight`,
    outProj: linear(`${p}.backbone.out_proj`),
    predictorFc1: linear(`${p}.predictor.fc1`),
    predictorFc2: linear(`${p}.predictor.fc2`),
    stateNorm: `${p}.state_norm.weight`,
    valuesFc1: linear(`${p}.out_values.fc1`),
    valuesFc2: linear(`${p}.out_values.fc2`),
    logitsFc1: linear(`${p}.out_logits.fc1`),
    logitsFc2: linear(`${p}.out_logits.fc2`),
  };
}
