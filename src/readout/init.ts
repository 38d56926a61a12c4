// Seeded initial weights of a readout head (OC24): scheme `test` for fixtures and gradient
// checks, scheme `flax` for real training. Each tensor draws from its own stream
// Rng(seed, hash(name)), so a tensor's values depend only on (seed, name, shape, scheme): the
// same seed gives the same bytes, whatever else the head holds.
import { writeSafetensors } from '../io/safetensors.js';
import { numel } from '../tensor/shape.js';
import { hashString, Rng } from '../util/rng.js';
import { headWeights, HeadSpecError, type HeadConfig, type HeadWeight } from './spec.js';

export type InitScheme = 'flax' | 'test';

export const INIT_SCHEMES: readonly InitScheme[] = ['flax', 'test'];

/** Standard deviation of a standard normal truncated to [−2, 2] (flax `variance_scaling`). */
export const TRUNCATED_NORMAL_STD = 0.87962566103423978;

/** Standard deviation of `test` tensors (and of `1 + N(0, σ)` norm scales). */
export const TEST_INIT_STD = 0.05;

/** Standard deviation of `query` and `temporal_posenc` under `flax`. */
export const EMBEDDING_INIT_STD = 0.02;

export function parseInitScheme(s: string, option = '--scheme'): InitScheme {
  if (s !== 'flax' && s !== 'test') {
    throw new HeadSpecError(`${option} must be flax or test, got '${s}'`);
  }
  return s;
}

/** A standard normal conditioned on |z| ≤ 2 (rejection; accepts 95.4% of draws). */
function truncatedNormal(rng: Rng): number {
  for (;;) {
    const z = rng.normal();
    if (Math.abs(z) <= 2) {
      return z;
    }
  }
}

/**
 * Initial values of one tensor (OC24), f32, row-major.
 * - `test`: every tensor ~ N(0, 0.05²); norm scales ~ 1 + N(0, 0.05²).
 * - `flax`: dense kernels lecun-normal truncated at 2σ, `w = z·√(1/fan_in)/0.8796…` with
 *   z ~ N(0, 1) | |z| ≤ 2 (so std(w) = √(1/fan_in), |w| ≤ 2.27·√(1/fan_in)); biases and norm
 *   biases 0; norm scales 1; `query` and `temporal_posenc` ~ N(0, 0.02²).
 * @param seed any integer; the stream is `hashString(w.name)`
 */
export function initWeight(w: HeadWeight, scheme: InitScheme, seed: number): Float32Array {
  const n = numel(w.shape);
  const out = new Float32Array(n);
  const rng = new Rng(seed, hashString(w.name));
  if (scheme === 'test') {
    const mean = w.role === 'norm_scale' ? 1 : 0;
    for (let i = 0; i < n; i++) {
      out[i] = mean + TEST_INIT_STD * rng.normal();
    }
    return out;
  }
  switch (w.role) {
    case 'dense': {
      const std = Math.sqrt(1 / (w.fanIn ?? w.shape[w.shape.length - 1] ?? 1)) / TRUNCATED_NORMAL_STD;
      for (let i = 0; i < n; i++) {
        out[i] = std * truncatedNormal(rng);
      }
      return out;
    }
    case 'bias':
    case 'norm_bias':
      return out;
    case 'norm_scale':
      return out.fill(1);
    case 'query':
    case 'posenc':
      for (let i = 0; i < n; i++) {
        out[i] = EMBEDDING_INIT_STD * rng.normal();
      }
      return out;
  }
}

/** Every tensor of the head, initialised, in the canonical order (a Map keeps it). */
export function initHeadWeights(cfg: HeadConfig, scheme: InitScheme, seed: number): Map<string, Float32Array> {
  return new Map(headWeights(cfg).map((w) => [w.name, initWeight(w, scheme, seed)]));
}

/**
 * Writes initial weights as F32 safetensors, atomically, tensor by tensor, in the canonical
 * order; metadata records the head config (`walt.head`), scheme and seed.
 * @returns the number of parameters written
 */
export async function writeHeadWeights(
  path: string,
  cfg: HeadConfig,
  scheme: InitScheme,
  seed: number,
): Promise<number> {
  const ws = headWeights(cfg);
  await writeSafetensors(
    path,
    ws.map((w) => ({ name: w.name, shape: w.shape, data: () => initWeight(w, scheme, seed) })),
    { 'walt.head': JSON.stringify(cfg), 'walt.init.scheme': scheme, 'walt.init.seed': String(seed) },
  );
  return ws.reduce((s, w) => s + numel(w.shape), 0);
}
