// Which head: the ten built-in heads of the study (with the parameter counts it quotes), the default
// head of a bare kind sized from the features, and the resolution of a --head argument (a kind, a
// built-in name, or a JSON head file).

import { existsSync, readFileSync, statSync } from 'node:fs';
import {
  HEAD_KINDS,
  HeadSpecError,
  isHeadKind,
  STUDY_FEATURE_WIDTH,
  validateHeadConfig,
  type AttentionHeadConfig,
  type HeadConfig,
  type HeadKind,
  type TrackHeadConfig,
} from './spec-config.js';

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
