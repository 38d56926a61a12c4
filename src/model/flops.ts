// FLOP counts (2 per multiply-add) of the model's matmuls, convolutions and attention, as in
// spec §3.5 and §4.12 (norms, softmax and element-wise ops are not counted: < 1%).
import { convOutShape } from '../kernels/conv3d.js';
import { layerWindow, tokenGrid, type WaltConfig } from './config.js';
import { encoderPlan } from './spec.js';

export interface FlopReport {
  total: number;
  parts: Record<string, number>;
}

/** Encoder FLOPs for one (T, H, W) clip. */
export function encoderFlops(c: WaltConfig, T = c.pixels[0], H = c.pixels[1], W = c.pixels[2]): FlopReport {
  const parts: Record<string, number> = {};
  let dims: [number, number, number] = [T, H, W];
  const add = (key: string, f: number): void => {
    parts[key] = (parts[key] ?? 0) + f;
  };
  const conv = (key: string, ci: number, co: number, k: number, stride: [number, number, number] = [1, 1, 1]): void => {
    const [To, Ho, Wo] = convOutShape(dims[0], dims[1], dims[2], stride);
    add(key, 2 * To * Ho * Wo * co * k * k * k * ci);
    dims = [To, Ho, Wo];
  };
  const e = c.encoder;
  conv('conv_in', 3, e.channels, 3);
  const plan = encoderPlan(c);
  plan.levels.forEach((level, i) => {
    for (const b of level.blocks) {
      conv(`level ${i}`, b.cin, b.cout, 3);
      conv(`level ${i}`, b.cout, b.cout, 3);
      if (b.cin !== b.cout) {
        conv(`level ${i}`, b.cin, b.cout, 1);
      }
    }
    if (level.downsample) {
      conv(`level ${i}`, level.downsample.ch, level.downsample.ch, 3, level.downsample.stride);
    }
  });
  for (const m of plan.mid) {
    conv('mid', m.ch, m.ch, 3);
    conv('mid', m.ch, m.ch, 3);
  }
  conv('conv_out', plan.outCh, e.latentChannels, 1);
  return { total: Object.values(parts).reduce((a, b) => a + b, 0), parts };
}

/** Denoiser FLOPs (blocks + embeddings + final layer) for a latent of `frames` frames, per clip. */
export function denoiserFlops(c: WaltConfig, frames = c.denoiser.latent[0], identityImage = frames === 1): FlopReport {
  const d = c.denoiser;
  const D = d.width;
  const g = tokenGrid(d, frames);
  const N = g[0] * g[1] * g[2];
  const parts: Record<string, number> = { 'qkv+proj': 0, attention: 0, mlp: 0, 'embed+final': 0 };
  for (let i = 0; i < d.layers; i++) {
    const { kind, window } = layerWindow(d, i);
    parts['qkv+proj']! += 2 * N * D * 3 * D + 2 * N * D * D;
    parts.mlp! += 2 * 2 * N * D * d.mlpRatio * D;
    if (!(kind === 'spatiotemporal' && identityImage)) {
      const nw = Math.min(window[0], g[0]) * window[1] * window[2];
      parts.attention! += 4 * N * nw * D;
    }
  }
  parts['embed+final']! += 2 * N * d.patch ** 2 * d.inChannels * D + 2 * N * D * d.patch ** 2 * d.outChannels;
  return { total: Object.values(parts).reduce((a, b) => a + b, 0), parts };
}
