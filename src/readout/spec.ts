// Readout heads (spec §7.1–§7.4, OC1–OC9): typed configs, canonical weight names and shapes,
// exact parameter counts, the ten built-in heads, JSON head files, and the default head of a
// bare kind sized from the features. Counts are sums over the weight list, so counts, init,
// loaders and the GPU heads cannot disagree. Shapes are PyTorch `[out, in]`.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { numel } from '../tensor/shape.js';

/** The five head structures. */
export type HeadKind = 'attention' | 'camera' | 'depth' | 'points' | 'boxes';

export const HEAD_KINDS: readonly HeadKind[] = ['attention', 'camera', 'depth', 'points', 'boxes'];

/**
 * AttentionReadout (§7.1): one learned query per head over `T·N` feature tokens of width `C`.
 * `P` = num_params (the q/k/v width), `heads` divides `P` (d = P/heads), `K` classes, `T` the
 * length of the temporal position table `temporal_posenc [T, C]`.
 */
export interface AttentionHeadConfig {
  readonly kind: 'attention';
  readonly prefix: string;
  readonly C: number;
  readonly P: number;
  readonly heads: number;
  readonly K: number;
  readonly T: number;
}

/**
 * Camera pose (§7.2, OC8): an AttentionReadout whose input is `concat(F[0], F[T−1])` on
 * channels, so `C` is twice the backbone feature width and `T = 1`; `K = 12` (R row-major ‖ t).
 */
export interface CameraHeadConfig {
  readonly kind: 'camera';
  readonly prefix: string;
  readonly C: number;
  readonly P: number;
  readonly heads: number;
  readonly K: number;
  readonly T: number;
}

/**
 * Monocular depth (§7.3, OC7): per-frame cross-attention from a grid of Fourier queries of
 * width `w = C + 4·nfb` (zeros(C) ‖ four(y, x)) to the raw frame features `[N, C]`; `layers`
 * ImprovedTransformerBlocks (qkv width `qkv`, `heads` heads, MLP width `mlp`), then
 * `norm_encoder` and a `[1, w]` linear to metres.
 */
export interface DepthHeadConfig {
  readonly kind: 'depth';
  readonly prefix: string;
  readonly C: number;
  readonly nfb: number;
  readonly qkv: number;
  readonly heads: number;
  readonly mlp: number;
  readonly layers: number;
}

/**
 * Point / box tracking (§7.4, OC9): MooG ConditionalAutoregressiveReadout. Query coordinates
 * (`n_coords` of them, Fourier features with `nfb` bands → `2·n_coords·nfb` dims) initialise a
 * state of width `width`; per frame, `layers` cross-attention blocks of width `width` over the
 * frame's features `[N, C]`; outputs `n_values` values and `n_logits` logits per track.
 */
export interface TrackHeadConfig {
  readonly kind: 'points' | 'boxes';
  readonly prefix: string;
  readonly C: number;
  readonly n_coords: number;
  readonly n_values: number;
  readonly n_logits: number;
  readonly nfb: number;
  readonly width: number;
  readonly qkv: number;
  readonly heads: number;
  readonly mlp: number;
  readonly layers: number;
}

export type HeadConfig = AttentionHeadConfig | CameraHeadConfig | DepthHeadConfig | TrackHeadConfig;

/** The size keys of each kind, in the order a head file lists them (besides `kind`, `prefix`). */
export const HEAD_KEYS = {
  attention: ['C', 'P', 'heads', 'K', 'T'],
  camera: ['C', 'P', 'heads', 'K', 'T'],
  depth: ['C', 'nfb', 'qkv', 'heads', 'mlp', 'layers'],
  points: ['C', 'n_coords', 'n_values', 'n_logits', 'nfb', 'width', 'qkv', 'heads', 'mlp', 'layers'],
  boxes: ['C', 'n_coords', 'n_values', 'n_logits', 'nfb', 'width', 'qkv', 'heads', 'mlp', 'layers'],
} as const satisfies Record<HeadKind, readonly string[]>;

/** Normalisation epsilon of every LayerNorm, scale-only LayerNorm and RMSNorm (OC1). */
export const NORM_EPS = 1e-6;
/** Epsilon of the tracking heads' `state_norm` (OC1, MooG configs/movi.py). */
export const STATE_NORM_EPS = 1e-4;
/** Feature width of the study's backbone (W.A.L.T L/study-284m residual stream). */
export const STUDY_FEATURE_WIDTH = 1024;

/** Bad head name, file or config; the message names the input and the fix. */
export class HeadSpecError extends Error {
  override name = 'HeadSpecError';
}

// ---------------------------------------------------------------------------------------------
// Built-in heads

const attentionHead = (task: string, P: number, heads: number, K: number): AttentionHeadConfig => ({
  kind: 'attention',
  prefix: `readout.${task}`,
  C: STUDY_FEATURE_WIDTH,
  P,
  heads,
  K,
  T: 17,
});

const trackHead = (kind: 'points' | 'boxes', nCoords: number): TrackHeadConfig => ({
  kind,
  prefix: `readout.${kind}`,
  C: STUDY_FEATURE_WIDTH,
  n_coords: nCoords,
  n_values: nCoords,
  n_logits: 2,
  nfb: 16,
  width: 512,
  qkv: 512,
  heads: 8,
  mlp: 2048,
  layers: 3,
});

/** The study's heads (§7 table), feature width 1024. Prefixes are `readout.<name>`. */
export const BUILTIN_HEADS = {
  imagenet: attentionHead('imagenet', 768, 12, 1000),
  places365: attentionHead('places365', 768, 12, 365),
  inat2018: attentionHead('inat2018', 768, 12, 8142),
  ssv2: attentionHead('ssv2', 768, 12, 174),
  k400: attentionHead('k400', 1024, 16, 400),
  k700: attentionHead('k700', 1024, 16, 700),
  'camera-pose': {
    kind: 'camera',
    prefix: 'readout.camera-pose',
    C: 2 * STUDY_FEATURE_WIDTH,
    P: 256,
    heads: 8,
    K: 12,
    T: 1,
  },
  depth: {
    kind: 'depth',
    prefix: 'readout.depth',
    C: STUDY_FEATURE_WIDTH,
    nfb: 16,
    qkv: 512,
    heads: 2,
    mlp: 512,
    layers: 1,
  },
  points: trackHead('points', 2),
  boxes: trackHead('boxes', 4),
} as const satisfies Record<string, HeadConfig>;

export type BuiltinHeadName = keyof typeof BUILTIN_HEADS;

export const BUILTIN_HEAD_NAMES = Object.keys(BUILTIN_HEADS) as BuiltinHeadName[];

/** The parameter counts quoted by the study [I2V-supp T5/T6]; `paramCount` reproduces each. */
export const BUILTIN_PARAM_COUNTS: Readonly<Record<BuiltinHeadName, number>> = {
  imagenet: 7_678_184,
  places365: 7_189_869,
  inat2018: 13_170_382,
  ssv2: 7_042_990,
  k400: 11_975_056,
  k700: 12_282_556,
  'camera-pose': 1_650_444,
  depth: 3_284_353,
  points: 12_897_668,
  boxes: 12_931_462,
};

export function isBuiltinHead(name: string): name is BuiltinHeadName {
  return Object.hasOwn(BUILTIN_HEADS, name);
}

export function isHeadKind(name: string): name is HeadKind {
  return (HEAD_KINDS as readonly string[]).includes(name);
}

// ---------------------------------------------------------------------------------------------
// Validation of a config object (JSON head files, and configs built in code)

const PREFIX_RE = /^readout(\.[A-Za-z0-9_-]+)+$/;

/**
 * Checks a head config object: exactly the keys `kind`, `prefix` and the kind's `HEAD_KEYS`;
 * sizes positive integers; `P` (attention, camera) and `qkv` (depth, tracks) divisible by
 * `heads`; camera `T = 1`, `K = 12`, `C` even; points `n_coords = n_values = 2`, boxes
 * `n_coords = n_values = 4`, both `n_logits = 2` (what the forward, losses and metrics read);
 * `prefix` = `readout.` followed by dot-separated `[A-Za-z0-9_-]` segments. Every problem is
 * listed in one message that names `source`.
 * @param obj the parsed JSON (or any value)
 * @param source what to call it in errors (a file path, or 'head config')
 */
export function validateHeadConfig(obj: unknown, source = 'head config'): HeadConfig {
  const fail = (msg: string): never => {
    throw new HeadSpecError(`${source}: ${msg}`);
  };
  if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) {
    return fail(
      `a head config is a JSON object {"kind": …, "prefix": "readout.<name>", …}, got ${Array.isArray(obj) ? 'an array' : typeof obj}`,
    );
  }
  const o = obj as Record<string, unknown>;
  const kind = o.kind;
  if (typeof kind !== 'string' || !isHeadKind(kind)) {
    return fail(`"kind" must be one of ${HEAD_KINDS.join(', ')}, got ${JSON.stringify(kind) ?? 'nothing'}`);
  }
  const sizeKeys: readonly string[] = HEAD_KEYS[kind];
  const expected = ['kind', 'prefix', ...sizeKeys];
  const expectedText = `a '${kind}' head has exactly the keys ${expected.join(', ')}`;
  const problems: string[] = [];
  for (const k of Object.keys(o)) {
    if (!expected.includes(k)) {
      problems.push(`unknown key "${k}"`);
    }
  }
  for (const k of expected) {
    if (!(k in o)) {
      problems.push(`missing key "${k}"`);
    }
  }
  if (problems.length > 0) {
    return fail(`${problems.join('; ')} (${expectedText})`);
  }
  const prefix = o.prefix;
  if (typeof prefix !== 'string' || !PREFIX_RE.test(prefix)) {
    problems.push(
      `"prefix" must be "readout." followed by a name of letters, digits, '_' and '-' (dot-separated, e.g. "readout.mytask"), got ${JSON.stringify(prefix)}`,
    );
  }
  const v: Record<string, number> = {};
  for (const k of sizeKeys) {
    const x = o[k];
    if (typeof x !== 'number' || !Number.isSafeInteger(x) || x < 1) {
      problems.push(`"${k}" must be a positive integer, got ${JSON.stringify(x)}`);
    } else {
      v[k] = x;
    }
  }
  if (problems.length > 0) {
    return fail(problems.join('; '));
  }
  const cfg = { kind, prefix, ...v } as unknown as HeadConfig;
  const rule = (ok: boolean, msg: string): void => {
    if (!ok) {
      problems.push(msg);
    }
  };
  switch (cfg.kind) {
    case 'attention':
    case 'camera':
      rule(cfg.P % cfg.heads === 0, `"P" (${cfg.P}) must be divisible by "heads" (${cfg.heads})`);
      if (cfg.kind === 'camera') {
        rule(cfg.T === 1, `"T" must be 1 for a camera head (its input is concat(F[0], F[T−1])), got ${cfg.T}`);
        rule(cfg.K === 12, `"K" must be 12 for a camera head (R row-major ‖ t), got ${cfg.K}`);
        rule(cfg.C % 2 === 0, `"C" of a camera head is twice the feature width, so even; got ${cfg.C}`);
      }
      break;
    case 'depth':
      rule(cfg.qkv % cfg.heads === 0, `"qkv" (${cfg.qkv}) must be divisible by "heads" (${cfg.heads})`);
      break;
    case 'points':
    case 'boxes': {
      rule(cfg.qkv % cfg.heads === 0, `"qkv" (${cfg.qkv}) must be divisible by "heads" (${cfg.heads})`);
      const n = cfg.kind === 'points' ? 2 : 4;
      const what = cfg.kind === 'points' ? '(x, y)' : '[ymin, xmin, ymax, xmax]';
      rule(cfg.n_coords === n, `"n_coords" must be ${n} for ${cfg.kind} ${what}, got ${cfg.n_coords}`);
      rule(cfg.n_values === n, `"n_values" must be ${n} for ${cfg.kind} ${what}, got ${cfg.n_values}`);
      rule(cfg.n_logits === 2, `"n_logits" must be 2 (visibility, certainty), got ${cfg.n_logits}`);
      break;
    }
  }
  if (problems.length > 0) {
    return fail(problems.join('; '));
  }
  return cfg;
}

// ---------------------------------------------------------------------------------------------
// Default heads of a bare kind

/** What a bare kind is sized from: the backbone feature width, frame count, class count. */
export interface HeadSizing {
  /** Backbone feature width (the per-frame token width; for `camera` the head's C is 2·C). */
  readonly C: number;
  /** Frames of the features after temporal resampling (the attention head's posenc length). */
  readonly T: number;
  /** Classes (required for `attention`; `camera` has 12 outputs and accepts only 12). */
  readonly K?: number;
}

const clamp = (x: number, lo: number, hi: number): number => Math.min(hi, Math.max(lo, x));

/**
 * The head of a bare kind, sized from the features and labels. The study's structure with
 * widths that scale with the feature width `C` and are capped at the study's (so at
 * `C = 1024`, `T = 17`, `depth`, `points`, `boxes` and `camera` equal the built-ins but for the
 * prefix, and `attention` equals the ImageNet head's structure with `K` classes):
 *
 * - `attention`: `P = clamp(64·⌊C/64⌋, 64, 768)`, `heads = P/64` (head dim 64), `T` and `K` from
 *   the sizing (K required).
 * - `camera`: head input width `2C`; `P = clamp(32·⌊2C/32⌋, 32, 256)`, `heads = P/32` (head dim
 *   32), `T = 1`, `K = 12`.
 * - `depth`: `nfb = 16`, `qkv = mlp = clamp(64·⌊C/128⌋, 64, 512)`, `heads = 2`, `layers = 1`.
 * - `points` / `boxes`: `width = qkv = clamp(64·⌊C/128⌋, 64, 512)`, `heads = width/64`,
 *   `mlp = 4·width`, `layers = 3`, `nfb = 16`; points `n_coords = n_values = 2`, boxes 4;
 *   `n_logits = 2`.
 *
 * For example test-tiny features (C = 64, T = 17, 10 classes) give an attention head of
 * `P = 64`, 1 head (47,626 parameters).
 * @param prefix weight-name prefix, default `readout.<kind>`
 */
export function defaultHeadForKind(kind: HeadKind, sizing: HeadSizing, prefix = `readout.${kind}`): HeadConfig {
  const { C, T, K } = sizing;
  const bad = (name: string, x: number | undefined): void => {
    if (x !== undefined && (!Number.isSafeInteger(x) || x < 1)) {
      throw new HeadSpecError(`a '${kind}' head sized from the features needs ${name} ≥ 1 (an integer), got ${x}`);
    }
  };
  bad('C (feature width)', C);
  bad('T (frames)', T);
  bad('K (classes)', K);
  const small = clamp(64 * Math.floor(C / 128), 64, 512);
  let cfg: HeadConfig;
  switch (kind) {
    case 'attention': {
      if (K === undefined) {
        throw new HeadSpecError(
          `an 'attention' head sized from the features needs the class count K (from the labels)`,
        );
      }
      const P = clamp(64 * Math.floor(C / 64), 64, 768);
      cfg = { kind, prefix, C, P, heads: P / 64, K, T };
      break;
    }
    case 'camera': {
      if (K !== undefined && K !== 12) {
        throw new HeadSpecError(`a 'camera' head has 12 outputs (R row-major ‖ t), not K = ${K}`);
      }
      const P = clamp(32 * Math.floor((2 * C) / 32), 32, 256);
      cfg = { kind, prefix, C: 2 * C, P, heads: P / 32, K: 12, T: 1 };
      break;
    }
    case 'depth':
      cfg = { kind, prefix, C, nfb: 16, qkv: small, heads: 2, mlp: small, layers: 1 };
      break;
    case 'points':
    case 'boxes': {
      const n = kind === 'points' ? 2 : 4;
      cfg = {
        kind,
        prefix,
        C,
        n_coords: n,
        n_values: n,
        n_logits: 2,
        nfb: 16,
        width: small,
        qkv: small,
        heads: small / 64,
        mlp: 4 * small,
        layers: 3,
      };
      break;
    }
  }
  return validateHeadConfig(cfg, `the default '${kind}' head`);
}

// ---------------------------------------------------------------------------------------------
// Resolution of a --head argument

/**
 * Resolves a `--head` argument:
 * 1. a bare kind (`attention`, `camera`, `depth`, `points`, `boxes`) with `opts.sizing` given →
 *    `defaultHeadForKind(kind, sizing)` (so `depth` on 1024-wide features is the built-in);
 * 2. a built-in name (`BUILTIN_HEAD_NAMES`; `depth`, `points`, `boxes` without sizing);
 * 3. otherwise a path to a JSON head file, checked by `validateHeadConfig` (a file that has
 *    a built-in's or kind's name is reached as `./name`).
 * @throws HeadSpecError naming the argument and what it could have been
 */
export function resolveHead(arg: string, opts: { sizing?: HeadSizing } = {}): HeadConfig {
  if (isHeadKind(arg) && opts.sizing) {
    return defaultHeadForKind(arg, opts.sizing);
  }
  if (isBuiltinHead(arg)) {
    return BUILTIN_HEADS[arg];
  }
  const known = `built-in heads: ${BUILTIN_HEAD_NAMES.join(', ')}`;
  if (isHeadKind(arg)) {
    throw new HeadSpecError(
      `head '${arg}' is a kind whose widths come from the features (give them, e.g. --width C --frames T --classes K), or use a built-in name (${known}) or a JSON head file`,
    );
  }
  if (!existsSync(arg)) {
    throw new HeadSpecError(
      `head '${arg}' is neither a built-in head (${known}), a kind (${HEAD_KINDS.join(', ')}) nor an existing JSON file`,
    );
  }
  if (statSync(arg).isDirectory()) {
    throw new HeadSpecError(`head '${arg}' is a folder; give a JSON head file or a built-in name (${known})`);
  }
  let obj: unknown;
  try {
    obj = JSON.parse(readFileSync(arg, 'utf8'));
  } catch (e) {
    throw new HeadSpecError(
      `head file ${arg} is not valid JSON (${e instanceof Error ? e.message : String(e)}); write {"kind": …, "prefix": "readout.<name>", …}`,
    );
  }
  return validateHeadConfig(obj, `head file ${arg}`);
}

// ---------------------------------------------------------------------------------------------
// Canonical weight names

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

// ---------------------------------------------------------------------------------------------
// Derived sizes

/** Width of one head's attention: `P/heads` (attention, camera) or `qkv/heads` (blocks). */
export function headDim(cfg: HeadConfig): number {
  return cfg.kind === 'attention' || cfg.kind === 'camera' ? cfg.P / cfg.heads : cfg.qkv / cfg.heads;
}

/** The backbone feature width a head reads per token (camera: half its C). */
export function featureWidth(cfg: HeadConfig): number {
  return cfg.kind === 'camera' ? cfg.C / 2 : cfg.C;
}

/** Fourier feature width of `nCoords` coordinates with `nfb` bands: `2·nCoords·nfb` (OC6). */
export function fourierDim(nCoords: number, nfb: number): number {
  return 2 * nCoords * nfb;
}

/** The query-stream width of the cross-attention blocks: depth `C + 4·nfb`, tracks `width`. */
export function blockWidth(cfg: DepthHeadConfig | TrackHeadConfig): number {
  return cfg.kind === 'depth' ? cfg.C + fourierDim(2, cfg.nfb) : cfg.width;
}

// ---------------------------------------------------------------------------------------------
// The weight list

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
