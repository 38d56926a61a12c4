// Readout head configs (spec §7.1–§7.4, OC1–OC9): the five kinds and their typed configs, the size
// keys a head file lists, the norm epsilons, HeadSpecError, the check of a config object (JSON head
// files, and configs built in code), and the sizes derived from a config.

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
