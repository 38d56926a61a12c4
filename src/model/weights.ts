// Model weights: validation of a safetensors file against the config's canonical list, upload
// to the GPU in kernel-friendly layouts, and seeded random weights for `walt init`.
import type { GpuContext } from '../gpu/context.js';
import { SafetensorsFile, writeSafetensors } from '../io/safetensors.js';
import { convWeightToKernelLayout } from '../kernels/conv3d.js';
import type { FloatDType } from '../tensor/dtype.js';
import { numel } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';
import { hashString, Rng } from '../util/rng.js';
import type { WaltConfig } from './config.js';
import { denoiserSpec, encoderSpec, fullSpec, type WeightSpec } from './spec.js';

export class WeightsError extends Error {
  override name = 'WeightsError';
}

/** Weights on the GPU plus the small host-side tables the model reads on the CPU. */
export interface ModelWeights {
  config: WaltConfig;
  dtype: FloatDType;
  /**
   * GPU tensors by canonical name, in kernel layouts: Linear weights transposed to (in, out)
   * (so y = x · W), conv weights (kt, kh, kw, C_in, C_out); plus the stacked
   * 'adaln_lora.downs' (D, L·r) and 'adaln_lora.ups' (L, 6D, r) or 'adaln.stacked.*'.
   */
  gpu: Map<string, Tensor>;
  /** Host copies: position tables, class table. */
  host: Map<string, Float32Array>;
  hasEncoder: boolean;
  source: string;
  dispose(): void;
}

/** Lists every problem of a weights file against the config in one message. */
export function validateWeights(
  file: Pick<SafetensorsFile, 'tensors' | 'path'>,
  config: WaltConfig,
  needEncoder: boolean,
): void {
  const known = new Map(fullSpec(config).map((s) => [s.name, s]));
  const required = [...denoiserSpec(config), ...(needEncoder ? encoderSpec(config) : [])];
  const missing = required.filter((s) => !file.tensors.has(s.name)).map((s) => `${s.name} [${s.shape.join(',')}]`);
  const unknown: string[] = [];
  const misshaped: string[] = [];
  for (const [name, e] of file.tensors) {
    const s = known.get(name);
    if (!s) {
      unknown.push(`${name} [${e.shape.join(',')}]`);
    } else if (s.shape.join(',') !== e.shape.join(',')) {
      misshaped.push(`${name}: file [${e.shape.join(',')}], config ${config.name} expects [${s.shape.join(',')}]`);
    }
  }
  if (missing.length + unknown.length + misshaped.length === 0) {
    return;
  }
  const list = (title: string, xs: string[]): string =>
    xs.length === 0
      ? ''
      : `\n  ${title} (${xs.length}):\n    ${xs.slice(0, 25).join('\n    ')}${xs.length > 25 ? `\n    … and ${xs.length - 25} more` : ''}`;
  throw new WeightsError(
    `${file.path} does not fit config '${config.name}':` +
      list('missing', missing) +
      list('unknown', unknown) +
      list('wrong shape', misshaped) +
      `\n  Check --config, or write matching weights with \`walt init --config ${config.name} --out W.safetensors\`.`,
  );
}

/** Reads, validates and uploads the weights a run needs (the encoder's only with `needEncoder`). */
export async function loadWeights(
  ctx: GpuContext,
  path: string,
  config: WaltConfig,
  opts: { needEncoder: boolean; dtype?: FloatDType },
): Promise<ModelWeights> {
  const file = await SafetensorsFile.open(path);
  try {
    validateWeights(file, config, opts.needEncoder);
    const specs = [...denoiserSpec(config), ...(opts.needEncoder ? encoderSpec(config) : [])];
    const values = new Map<string, Float32Array>();
    for (const s of specs) {
      values.set(s.name, await file.readF32(s.name));
    }
    return uploadWeights(ctx, config, values, { ...opts, source: path });
  } finally {
    await file.close();
  }
}

const HOST_TENSORS = ['pos_embed.spatial', 'pos_embed.temporal', 'y_embedder.embedding_table'];

/** Uploads canonical-layout f32 values, transforming layouts (see ModelWeights.gpu). */
export function uploadWeights(
  ctx: GpuContext,
  config: WaltConfig,
  values: Map<string, Float32Array>,
  opts: { needEncoder: boolean; dtype?: FloatDType; source?: string },
): ModelWeights {
  const dtype = opts.dtype ?? 'f32';
  const gpu = new Map<string, Tensor>();
  const host = new Map<string, Float32Array>();
  const specs = [...denoiserSpec(config), ...(opts.needEncoder ? encoderSpec(config) : [])];
  const byName = new Map(specs.map((s) => [s.name, s]));
  const put = (name: string, data: Float32Array, shape: number[]): void => {
    gpu.set(name, ctx.uploadWeight(data, shape, dtype, name));
  };
  /** A PyTorch Linear weight [out, in] uploaded as (in, out). */
  const putLinear = (name: string, data: Float32Array, out: number, inn: number): void => {
    put(name, transpose(data, out, inn), [inn, out]);
  };
  const d = config.denoiser;
  for (const s of specs) {
    const v = values.get(s.name)!;
    if (HOST_TENSORS.includes(s.name)) {
      host.set(s.name, v);
      continue;
    }
    if (s.name.startsWith('latent_norm.') || s.name.startsWith('encoder.conv_out.')) {
      continue; // folded below
    }
    if (/\.adaln_lora\.(up|down)\.weight$/.test(s.name) || /^blocks\.\d+\.adaln\.(weight|bias)$/.test(s.name)) {
      continue; // stacked below
    }
    if (s.shape.length === 5) {
      let w = convWeightToKernelLayout(v, s.shape);
      const [co, ci0, kt, kh, kw] = s.shape as [number, number, number, number, number];
      let ci = ci0;
      if (s.name === 'encoder.conv_in.weight' && ci === 3) {
        // Pixels are uploaded with a 4th zero channel (vec4 loads): pad the weight's C_in to 4.
        const padded = new Float32Array((w.length / 3) * 4);
        for (let tap = 0; tap < kt * kh * kw; tap++) {
          for (let i = 0; i < 3; i++) {
            padded.set(w.subarray((tap * 3 + i) * co, (tap * 3 + i + 1) * co), (tap * 4 + i) * co);
          }
        }
        w = padded;
        ci = 4;
      }
      put(s.name, w, [kt, kh, kw, ci, co]);
      continue;
    }
    if (s.shape.length === 2 && s.role === 'weight') {
      putLinear(s.name, v, s.shape[0]!, s.shape[1]!);
      continue;
    }
    put(s.name, v, s.shape);
  }
  if (opts.needEncoder) {
    // latent_norm folded into conv_out: (W·h + b − μ)/σ = (W/σ)·h + (b − μ)/σ.
    const w = values.get('encoder.conv_out.weight')!;
    const b = values.get('encoder.conv_out.bias')!;
    const mean = values.get('latent_norm.mean')!;
    const std = values.get('latent_norm.std')!;
    const spec = byName.get('encoder.conv_out.weight')!;
    const [co, ci] = spec.shape as [number, number];
    const wf = new Float32Array(w.length);
    const bf = new Float32Array(co);
    for (let o = 0; o < co; o++) {
      if (!(std[o]! > 0)) {
        throw new WeightsError(`latent_norm.std[${o}] = ${std[o]} must be positive`);
      }
      for (let i = 0; i < ci; i++) {
        wf[o * ci + i] = w[o * ci + i]! / std[o]!;
      }
      bf[o] = (b[o]! - mean[o]!) / std[o]!;
    }
    // A 1×1×1 conv is a matmul over pixels with the weight as (C_in, C_out).
    putLinear('encoder.conv_out.weight', wf, co, ci);
    put('encoder.conv_out.bias', bf, [co]);
  }
  if (d.adaln === 'lora') {
    const D = d.width;
    const r = d.loraRank;
    const downs = new Float32Array(d.layers * r * D);
    const ups = new Float32Array(d.layers * 6 * D * r);
    for (let i = 0; i < d.layers; i++) {
      downs.set(values.get(`blocks.${i}.adaln_lora.down.weight`)!, i * r * D);
      ups.set(values.get(`blocks.${i}.adaln_lora.up.weight`)!, i * 6 * D * r);
    }
    putLinear('adaln_lora.downs', downs, d.layers * r, D);
    put('adaln_lora.ups', ups, [d.layers, 6 * D, r]);
  } else {
    const D = d.width;
    const w = new Float32Array(d.layers * 6 * D * D);
    const b = new Float32Array(d.layers * 6 * D);
    for (let i = 0; i < d.layers; i++) {
      w.set(values.get(`blocks.${i}.adaln.weight`)!, i * 6 * D * D);
      b.set(values.get(`blocks.${i}.adaln.bias`)!, i * 6 * D);
    }
    putLinear('adaln.stacked.weight', w, d.layers * 6 * D, D);
    put('adaln.stacked.bias', b, [d.layers * 6 * D]);
  }
  return {
    config,
    dtype,
    gpu,
    host,
    hasEncoder: opts.needEncoder,
    source: opts.source ?? '(memory)',
    dispose: () => {
      for (const t of gpu.values()) {
        t.dispose();
      }
      gpu.clear();
    },
  };
}

/** Transposes a row-major (rows, cols) matrix. */
export function transpose(w: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(w.length);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      out[c * rows + r] = w[r * cols + c]!;
    }
  }
  return out;
}

/** Seeded random values for one canonical tensor (`walt init`). */
export function initTensor(s: WeightSpec, seed: number): Float32Array {
  const rng = new Rng(seed, hashString(s.name));
  const n = numel(s.shape);
  switch (s.role) {
    case 'weight':
      return rng.normals(n, 1 / Math.sqrt(s.fanIn ?? s.shape[s.shape.length - 1]!));
    case 'lora_up':
      return rng.normals(n, 0.1 / Math.sqrt(s.fanIn ?? 1));
    case 'bias':
      return rng.normals(n, 0.02);
    case 'norm':
      return rng.normals(n, 0.05, 1);
    case 'table':
      return rng.normals(n, 0.02);
    case 'embedding':
      return rng.normals(n, 0.02);
    case 'latent_mean':
      return rng.normals(n, 0.1);
    case 'latent_std':
      return rng.uniforms(n, 0.5, 1.5);
  }
}

/** Writes seeded random weights for every tensor of the config (encoder, latent_norm, denoiser). */
export async function writeRandomWeights(path: string, config: WaltConfig, seed: number): Promise<number> {
  const specs = fullSpec(config);
  await writeSafetensors(
    path,
    specs.map((s) => ({ name: s.name, shape: s.shape, data: () => initTensor(s, seed) })),
    { config: config.name, seed: String(seed), generator: 'walt init' },
  );
  return specs.reduce((a, s) => a + numel(s.shape), 0);
}

/** Random weights held in memory (tests, benches without a file). */
export function randomWeightValues(config: WaltConfig, seed: number): Map<string, Float32Array> {
  return new Map(fullSpec(config).map((s) => [s.name, initTensor(s, seed)]));
}
