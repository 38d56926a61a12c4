// Model configurations: built-in JSON files (src/model/configs) or a user JSON path.
import { readFileSync } from 'node:fs';
import L from './configs/L.json';
import LSeparate from './configs/L-separate.json';
import micro from './configs/micro.json';
import study284m from './configs/study-284m.json';
import testTiny from './configs/test-tiny.json';
import testTinyI from './configs/test-tiny-i.json';
import testWide from './configs/test-wide.json';
import XL from './configs/XL.json';

export type Dims3 = [number, number, number];

export interface EncoderConfig {
  /** Base channels (128 for W.A.L.T). */
  channels: number;
  /** Channel multiplier per level. */
  multipliers: number[];
  /** ResBlocks per level. */
  resBlocks: number;
  /** ResBlocks after the last level. */
  midBlocks: number;
  /** GroupNorm groups (contiguous channels). */
  groups: number;
  /** Latent channels c. */
  latentChannels: number;
  /** Per downsampler (levels 0..n−2): stride 2 in time as well as space. */
  temporalDownsample: boolean[];
}

export interface DenoiserConfig {
  /** Width D. */
  width: number;
  layers: number;
  heads: number;
  mlpRatio: number;
  /** 'lora': shared Linear(D→6D) + per-layer rank-r update; 'separate': one Linear(D→6D) per layer. */
  adaln: 'lora' | 'separate';
  loraRank: number;
  /** Patch size p. */
  patch: number;
  /** Class count (the embedding table has numClasses + 1 rows; the last is the null class). */
  numClasses: number;
  /** Input channels (noised latent ‖ self-conditioning ‖ …). */
  inChannels: number;
  /** Output channels (v-prediction: the latent channels). */
  outChannels: number;
  /** Timestep sinusoid width. */
  timestepDim: number;
  /** Latent (T', h, w) the position tables are sized for. */
  latent: Dims3;
  spatialWindow: Dims3;
  spatiotemporalWindow: Dims3;
  /** Every layer uses the spatial window (an image model, I-WALT). */
  imageModel: boolean;
}

export interface WaltConfig {
  name: string;
  description: string;
  /** Pixel clip (T, H, W) the model is built for. */
  pixels: Dims3;
  encoder: EncoderConfig;
  denoiser: DenoiserConfig;
}

export const BUILTIN_CONFIGS: Readonly<Record<string, WaltConfig>> = {
  L: L as WaltConfig,
  XL: XL as WaltConfig,
  'L-separate': LSeparate as WaltConfig,
  'study-284m': study284m as WaltConfig,
  'test-tiny': testTiny as WaltConfig,
  'test-tiny-i': testTinyI as WaltConfig,
  'test-wide': testWide as WaltConfig,
  micro: micro as WaltConfig,
};

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/**
 * A built-in config by name, or a JSON file by path. `imageModel` forces the image-model variant
 * (every layer spatial); `window` overrides the spatiotemporal window ('full' = whole latent,
 * used by every layer).
 */
export function loadConfig(nameOrPath: string, opts: { imageModel?: boolean } = {}): WaltConfig {
  let cfg: WaltConfig;
  const builtin = BUILTIN_CONFIGS[nameOrPath];
  if (builtin) {
    cfg = structuredClone(builtin);
  } else if (nameOrPath.endsWith('.json')) {
    try {
      cfg = JSON.parse(readFileSync(nameOrPath, 'utf8')) as WaltConfig;
    } catch (e) {
      throw new ConfigError(
        `--config ${nameOrPath}: cannot read it as JSON (${e instanceof Error ? e.message : String(e)})`,
      );
    }
  } else {
    throw new ConfigError(
      `--config ${nameOrPath}: not a built-in config (${Object.keys(BUILTIN_CONFIGS).join(', ')}) nor a .json file`,
    );
  }
  if (opts.imageModel) {
    cfg.denoiser.imageModel = true;
    cfg.name = `${cfg.name}+image`;
  }
  validateConfig(cfg, nameOrPath);
  return cfg;
}

function check(cond: boolean, where: string, what: string): void {
  if (!cond) {
    throw new ConfigError(`config ${where}: ${what}`);
  }
}

export function validateConfig(c: WaltConfig, where = c.name): void {
  const isDims = (d: unknown): boolean =>
    Array.isArray(d) && d.length === 3 && d.every((x) => Number.isInteger(x) && x > 0);
  check(typeof c.name === 'string', where, 'missing name');
  check(isDims(c.pixels), where, 'pixels must be [T, H, W] positive integers');
  const e = c.encoder;
  const d = c.denoiser;
  check(!!e && !!d, where, 'needs "encoder" and "denoiser" sections');
  check(
    e.multipliers.length >= 1 && e.temporalDownsample.length === e.multipliers.length - 1,
    where,
    'encoder.temporalDownsample needs one entry per downsampler (levels − 1)',
  );
  check(
    e.multipliers.every((m) => (e.channels * m) % e.groups === 0),
    where,
    'every level width must be a multiple of encoder.groups',
  );
  check(d.width % d.heads === 0, where, `denoiser.width ${d.width} is not a multiple of heads ${d.heads}`);
  check((d.width / d.heads) % 4 === 0, where, `head dim ${d.width / d.heads} must be a multiple of 4`);
  check(
    isDims(d.latent) && isDims(d.spatialWindow) && isDims(d.spatiotemporalWindow),
    where,
    'latent and windows must be [T, H, W]',
  );
  check(d.adaln === 'lora' || d.adaln === 'separate', where, 'denoiser.adaln must be "lora" or "separate"');
  check(
    d.latent[1] % d.patch === 0 && d.latent[2] % d.patch === 0,
    where,
    'latent h, w must be multiples of the patch size',
  );
  const [T, H, W] = c.pixels;
  const down = e.multipliers.length - 1;
  const tDown = e.temporalDownsample.filter(Boolean).length;
  const lat: Dims3 = [Math.floor((T - 1) / 2 ** tDown) + 1, H / 2 ** down, W / 2 ** down];
  check(
    lat[0] === d.latent[0] && lat[1] === d.latent[1] && lat[2] === d.latent[2],
    where,
    `pixels ${c.pixels.join('x')} encode to latent ${lat.join('x')}, but denoiser.latent is ${d.latent.join('x')}`,
  );
  const tok: Dims3 = [d.latent[0], d.latent[1] / d.patch, d.latent[2] / d.patch];
  for (const [name, w] of [
    ['spatialWindow', d.spatialWindow],
    ['spatiotemporalWindow', d.spatiotemporalWindow],
  ] as const) {
    check(
      w.every((x, i) => tok[i]! % x === 0),
      where,
      `${name} ${w.join('x')} does not tile the token grid ${tok.join('x')}`,
    );
  }
  const full = d.spatialWindow.every((x, i) => x === tok[i]);
  check(
    d.spatialWindow[0] === 1 || full,
    where,
    'the spatial window must be 1 frame deep (or the whole latent: full attention)',
  );
}

/** Token grid (T', h/p, w/p). */
export function tokenGrid(d: DenoiserConfig, latentFrames = d.latent[0]): Dims3 {
  return [latentFrames, d.latent[1] / d.patch, d.latent[2] / d.patch];
}

/** The window of layer i: spatial on even layers, spatiotemporal on odd ones (all spatial for an image model). */
export function layerWindow(d: DenoiserConfig, i: number): { kind: 'spatial' | 'spatiotemporal'; window: Dims3 } {
  if (d.imageModel || i % 2 === 0) {
    return { kind: 'spatial', window: d.spatialWindow };
  }
  return { kind: 'spatiotemporal', window: d.spatiotemporalWindow };
}

/** A copy of the config whose spatiotemporal layers use `window` ('full': every layer attends to the whole latent). */
export function withWindow(c: WaltConfig, window: Dims3 | 'full'): WaltConfig {
  const out = structuredClone(c);
  const grid = tokenGrid(c.denoiser);
  if (window === 'full') {
    out.denoiser.spatialWindow = grid;
    out.denoiser.spatiotemporalWindow = grid;
    out.name = `${c.name}@full`;
  } else {
    out.denoiser.spatiotemporalWindow = window;
    out.name = `${c.name}@${window.join('x')}`;
  }
  validateConfig(out);
  return out;
}
