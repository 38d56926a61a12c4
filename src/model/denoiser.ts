// The W.A.L.T denoiser (spec §4): patchify + embeddings, AdaLN-LoRA conditioning computed once
// per forward, alternating spatial / spatiotemporal windowed attention layers with qk-LayerNorm
// and relative position bias, tanh-GELU MLPs, gated residuals, the final layer (v-prediction).
import type { GpuContext } from '../gpu/context.js';
import { adalnLora } from '../kernels/adaln.js';
import { attention } from '../kernels/attention.js';
import { add, silu } from '../kernels/elementwise.js';
import { layernorm } from '../kernels/layernorm.js';
import { matmul } from '../kernels/matmul.js';
import { patchify, unpatchify } from '../kernels/patchify.js';
import { ShapeError } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';
import { layerWindow, type Dims3 } from './config.js';
import { timestepSinusoid } from './schedule.js';
import type { ModelWeights } from './weights.js';

export interface DenoiseOptions {
  /** Diffusion step per sample (integer 0…999). */
  t: readonly number[];
  /** Class row per sample (0-based; numClasses = the null class). */
  classes: readonly number[];
  /** 1-based blocks whose output (the residual stream after blocks.<l−1>) to return. */
  taps: readonly number[];
  /** Also run the final layer and return v_pred. */
  final: boolean;
  /** Spatiotemporal layers pass values through (image inputs, spec §4.5). Default: T' = 1. */
  identity?: boolean;
}

export interface DenoiseResult {
  /** block l → (B, T', h/p, w/p, D). */
  taps: Map<number, Tensor>;
  /** (B, T', h, w, c) when `final`. */
  vPred?: Tensor;
}

function w(W: ModelWeights, name: string): Tensor {
  const t = W.gpu.get(name);
  if (!t) {
    throw new Error(`denoiser weight ${name} is not loaded`);
  }
  return t;
}

/** pos_embed.spatial[s] + pos_embed.temporal[t] for T' frames: (T'·h·w, D), computed on the host. */
function positionTable(W: ModelWeights, frames: number): Float32Array {
  const d = W.config.denoiser;
  const D = d.width;
  const spatial = W.host.get('pos_embed.spatial')!;
  const temporal = W.host.get('pos_embed.temporal')!;
  const hw = spatial.length / D;
  if (frames > temporal.length / D) {
    throw new ShapeError(
      `a ${frames}-frame latent needs ${frames} rows of pos_embed.temporal; the model has ${temporal.length / D}`,
    );
  }
  const out = new Float32Array(frames * hw * D);
  for (let t = 0; t < frames; t++) {
    for (let s = 0; s < hw; s++) {
      for (let c = 0; c < D; c++) {
        out[(t * hw + s) * D + c] = spatial[s * D + c]! + temporal[t * D + c]!;
      }
    }
  }
  return out;
}

/** The deepest block a run needs (work stops after it). */
export function deepestBlock(taps: readonly number[], final: boolean, layers: number): number {
  return final ? layers : Math.max(0, ...taps);
}

/**
 * One denoiser forward over a batch of B noised latents zt (B, T', h, w, c).
 * Disposes nothing it did not create; returned tensors belong to the caller.
 */
export function denoise(ctx: GpuContext, W: ModelWeights, zt: Tensor, opts: DenoiseOptions): DenoiseResult {
  const cfg = W.config;
  const d = cfg.denoiser;
  const D = d.width;
  const dh = D / d.heads;
  const p = d.patch;
  const [B, T, h, wdt, c] = zt.shape as [number, number, number, number, number];
  if (zt.shape.length !== 5) {
    throw new ShapeError(`denoise: zt must be (B, T', h, w, c), got [${zt.shape.join(',')}]`);
  }
  if (h !== d.latent[1] || wdt !== d.latent[2]) {
    throw new ShapeError(
      `the latent is ${h}x${wdt} but config '${cfg.name}' has position tables for ${d.latent[1]}x${d.latent[2]} (pixels ${cfg.pixels[1]}x${cfg.pixels[2]})`,
    );
  }
  if (opts.t.length !== B || opts.classes.length !== B) {
    throw new ShapeError(`denoise: ${B} samples but ${opts.t.length} timesteps and ${opts.classes.length} classes`);
  }
  if (c > d.inChannels) {
    throw new ShapeError(`denoise: the latent has ${c} channels, the model takes at most ${d.inChannels}`);
  }
  const identity = opts.identity ?? T === 1;
  const grid: Dims3 = [T, h / p, wdt / p];
  const N = grid[0] * grid[1] * grid[2];
  for (const taps of opts.taps) {
    if (!Number.isInteger(taps) || taps < 1 || taps > d.layers) {
      throw new ShapeError(`tap block ${taps} is outside 1…${d.layers}`);
    }
  }
  for (let i = 0; i < d.layers; i++) {
    const { kind, window } = layerWindow(d, i);
    if (kind === 'spatiotemporal' && identity) {
      continue;
    }
    if (window.some((x, k) => grid[k]! % x !== 0)) {
      throw new ShapeError(`layer ${i}: window ${window.join('x')} does not tile the ${grid.join('x')} token grid`);
    }
  }
  const stop = deepestBlock(opts.taps, opts.final, d.layers);
  const dtype = W.dtype;

  return ctx.scope(() => {
    ctx.tag = 'denoiser.embed';
    // Tokens, patch embedding, position tables.
    const tokens = patchify(ctx, zt, p, d.inChannels);
    const x0 = matmul(ctx, tokens, w(W, 'patch_embed.weight'), {
      bias: w(W, 'patch_embed.bias'),
      label: 'patch_embed',
    });
    const pos = ctx.upload(positionTable(W, T), [N, D], dtype, 'pos');
    let x = add(ctx, x0, pos, { inner: N * D, outer: B * N * D }); // the same table for every sample

    // Conditioning: c = t_embedder(t) + y_embedder[class]; u = silu(c).
    ctx.tag = 'denoiser.cond';
    const sin = new Float32Array(B * d.timestepDim);
    opts.t.forEach((t, b) => sin.set(timestepSinusoid(t, d.timestepDim), b * d.timestepDim));
    const t1 = matmul(ctx, ctx.upload(sin, [B, d.timestepDim], dtype, 'sinusoid'), w(W, 't_embedder.mlp.0.weight'), {
      bias: w(W, 't_embedder.mlp.0.bias'),
      act: 'silu',
    });
    let cvec = matmul(ctx, t1, w(W, 't_embedder.mlp.2.weight'), { bias: w(W, 't_embedder.mlp.2.bias') });
    if (d.numClasses > 0) {
      const table = W.host.get('y_embedder.embedding_table')!;
      const rows = new Float32Array(B * D);
      opts.classes.forEach((k, b) => {
        if (!Number.isInteger(k) || k < 0 || k > d.numClasses) {
          throw new ShapeError(`--class ${k} is outside 0…${d.numClasses - 1} (${d.numClasses} is the null class)`);
        }
        rows.set(table.subarray(k * D, (k + 1) * D), b * D);
      });
      cvec = add(ctx, cvec, ctx.upload(rows, [B, D], dtype, 'class-rows'));
    }
    const u = silu(ctx, cvec);
    // Every layer's modulation (S, L·6D), once per forward.
    let mods: Tensor;
    if (d.adaln === 'lora') {
      const base = matmul(ctx, u, w(W, 'adaln.base.weight'), { bias: w(W, 'adaln.base.bias') });
      const dvec = matmul(ctx, u, w(W, 'adaln_lora.downs'), {});
      mods = adalnLora(ctx, base, dvec, w(W, 'adaln_lora.ups'));
    } else {
      mods = matmul(ctx, u, w(W, 'adaln.stacked.weight'), { bias: w(W, 'adaln.stacked.bias') });
    }
    const modStride = d.layers * 6 * D;

    const taps = new Map<number, Tensor>();
    const wantTap = new Set(opts.taps);
    for (let i = 0; i < stop; i++) {
      const b = `blocks.${i}`;
      const { kind, window } = layerWindow(d, i);
      ctx.tag = `${b}/${kind}`;
      const m0 = i * 6 * D; // this layer's (γ1, γ2, β1, β2, α1, α2)
      const next = ctx.scope(() => {
        // Attention sub-layer.
        const h1 = layernorm(ctx, x, D, {
          modulation: { table: mods, stride: modStride, gammaOffset: m0, betaOffset: m0 + 2 * D, rowsPerSample: N },
          label: `${b}.norm1`,
        });
        const qkv = matmul(ctx, h1, w(W, `${b}.attn.qkv.weight`), {
          bias: w(W, `${b}.attn.qkv.bias`),
          label: `${b}.qkv`,
        });
        let o: Tensor;
        if (kind === 'spatiotemporal' && identity) {
          o = attention(
            ctx,
            { tensor: qkv, stride: 3 * D, offset: 2 * D },
            { tensor: qkv, stride: 3 * D, offset: 2 * D },
            { tensor: qkv, stride: 3 * D, offset: 2 * D },
            {
              latent: grid,
              window: grid,
              heads: d.heads,
              headDim: dh,
              batch: B,
              identity: true,
              label: `${b}.attn(identity)`,
            },
          );
        } else {
          const rows = (offset: number) => ({
            rows: B * N * d.heads,
            rowsInner: d.heads,
            innerStride: dh,
            outerStride: 3 * D,
            offset,
          });
          const qn = layernorm(ctx, qkv, dh, {
            weight: w(W, `${b}.attn.q_norm.weight`),
            rows: rows(0),
            outScale: 1 / Math.sqrt(dh),
            label: `${b}.q_norm`,
          });
          const kn = layernorm(ctx, qkv, dh, {
            weight: w(W, `${b}.attn.k_norm.weight`),
            rows: rows(D),
            label: `${b}.k_norm`,
          });
          o = attention(
            ctx,
            { tensor: qn, stride: D, offset: 0 },
            { tensor: kn, stride: D, offset: 0 },
            { tensor: qkv, stride: 3 * D, offset: 2 * D },
            {
              latent: grid,
              window,
              heads: d.heads,
              headDim: dh,
              batch: B,
              scale: 1,
              biasTable: w(W, `${b}.attn.rel_pos_bias.table`),
              label: `${b}.attn`,
            },
          );
        }
        const gate = { gate: mods, gateStride: modStride, rowsPerGate: N };
        const x1 = matmul(ctx, o, w(W, `${b}.attn.proj.weight`), {
          bias: w(W, `${b}.attn.proj.bias`),
          residual: x,
          ...gate,
          gateOffset: m0 + 4 * D,
          label: `${b}.proj`,
        });
        // MLP sub-layer.
        const h2 = layernorm(ctx, x1, D, {
          modulation: { table: mods, stride: modStride, gammaOffset: m0 + D, betaOffset: m0 + 3 * D, rowsPerSample: N },
          label: `${b}.norm2`,
        });
        const f1 = matmul(ctx, h2, w(W, `${b}.mlp.fc1.weight`), {
          bias: w(W, `${b}.mlp.fc1.bias`),
          act: 'gelu',
          label: `${b}.fc1`,
        });
        return matmul(ctx, f1, w(W, `${b}.mlp.fc2.weight`), {
          bias: w(W, `${b}.mlp.fc2.bias`),
          residual: x1,
          ...gate,
          gateOffset: m0 + 5 * D,
          label: `${b}.fc2`,
        });
      });
      x.dispose(); // a tap of it, if any, is a view that keeps its buffer
      x = next;
      if (wantTap.has(i + 1)) {
        taps.set(i + 1, x.reshape([B, grid[0], grid[1], grid[2], D]));
      }
    }

    let vPred: Tensor | undefined;
    if (opts.final) {
      ctx.tag = 'denoiser.final';
      // (shift, scale) = final_layer.adaln(u): rows [0:D] shift, [D:2D] scale (DiT order).
      const fmod = matmul(ctx, u, w(W, 'final_layer.adaln.weight'), {
        bias: w(W, 'final_layer.adaln.bias'),
      });
      const hf = layernorm(ctx, x, D, {
        modulation: { table: fmod, stride: 2 * D, gammaOffset: D, betaOffset: 0, rowsPerSample: N },
      });
      const out = matmul(ctx, hf, w(W, 'final_layer.linear.weight'), {
        bias: w(W, 'final_layer.linear.bias'),
      });
      vPred = unpatchify(ctx, out, [B, T, h, wdt], p, d.outChannels);
    }
    ctx.tag = '';
    return { taps, ...(vPred ? { vPred } : {}) };
  });
}
