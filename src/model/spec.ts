// The canonical weight list (spec §3.5, §4.10): every tensor's name and shape for a config.
// Parameter counts are sums over this list, so counts and loaders cannot disagree.
import { relPosTableRows } from '../kernels/attention.js';
import { numel } from '../tensor/shape.js';
import { layerWindow, type WaltConfig } from './config.js';

export interface WeightSpec {
  name: string;
  shape: number[];
  /** What the tensor is, for init: linear/conv weights, biases, norm scales, tables. */
  role: 'weight' | 'bias' | 'norm' | 'table' | 'embedding' | 'lora_up' | 'latent_mean' | 'latent_std';
  /** fan-in of a weight (init scale). */
  fanIn?: number;
}

export interface EncoderLevel {
  blocks: { name: string; cin: number; cout: number }[];
  downsample?: { name: string; ch: number; stride: [number, number, number] };
}

/** The encoder's level widths and the ResBlock (C_in, C_out) of every block. */
export function encoderPlan(c: WaltConfig): {
  levels: EncoderLevel[];
  mid: { name: string; ch: number }[];
  outCh: number;
} {
  const e = c.encoder;
  let ch = e.channels;
  const levels = e.multipliers.map((m, i): EncoderLevel => {
    const cout = e.channels * m;
    const blocks = Array.from({ length: e.resBlocks }, (_, j) => {
      const b = { name: `encoder.down.${i}.block.${j}`, cin: j === 0 ? ch : cout, cout };
      return b;
    });
    ch = cout;
    const last = i === e.multipliers.length - 1;
    return {
      blocks,
      ...(last
        ? {}
        : {
            downsample: {
              name: `encoder.down.${i}.downsample.conv`,
              ch: cout,
              stride: [e.temporalDownsample[i] ? 2 : 1, 2, 2],
            },
          }),
    };
  });
  const mid = Array.from({ length: e.midBlocks }, (_, k) => ({ name: `encoder.mid.block.${k}`, ch }));
  return { levels, mid, outCh: ch };
}

export function encoderSpec(c: WaltConfig): WeightSpec[] {
  const e = c.encoder;
  const out: WeightSpec[] = [];
  const conv = (name: string, co: number, ci: number, k: number, bias: boolean): void => {
    out.push({ name: `${name}.weight`, shape: [co, ci, k, k, k], role: 'weight', fanIn: ci * k * k * k });
    if (bias) {
      out.push({ name: `${name}.bias`, shape: [co], role: 'bias' });
    }
  };
  const norm = (name: string, ch: number): void => {
    out.push(
      { name: `${name}.weight`, shape: [ch], role: 'norm' },
      { name: `${name}.bias`, shape: [ch], role: 'bias' },
    );
  };
  const resblock = (name: string, cin: number, cout: number): void => {
    norm(`${name}.norm1`, cin);
    conv(`${name}.conv1`, cout, cin, 3, false);
    norm(`${name}.norm2`, cout);
    conv(`${name}.conv2`, cout, cout, 3, false);
    if (cin !== cout) {
      conv(`${name}.nin_shortcut`, cout, cin, 1, false);
    }
  };
  conv('encoder.conv_in', e.channels, 3, 3, false);
  const plan = encoderPlan(c);
  for (const level of plan.levels) {
    for (const b of level.blocks) {
      resblock(b.name, b.cin, b.cout);
    }
    if (level.downsample) {
      conv(level.downsample.name, level.downsample.ch, level.downsample.ch, 3, true);
    }
  }
  for (const m of plan.mid) {
    resblock(m.name, m.ch, m.ch);
  }
  norm('encoder.norm_out', plan.outCh);
  conv('encoder.conv_out', e.latentChannels, plan.outCh, 1, true);
  out.push(
    { name: 'latent_norm.mean', shape: [e.latentChannels], role: 'latent_mean' },
    { name: 'latent_norm.std', shape: [e.latentChannels], role: 'latent_std' },
  );
  return out;
}

export function denoiserSpec(c: WaltConfig): WeightSpec[] {
  const d = c.denoiser;
  const D = d.width;
  const dh = D / d.heads;
  const p2 = d.patch * d.patch;
  const out: WeightSpec[] = [];
  const linear = (name: string, o: number, i: number, bias = true): void => {
    out.push({ name: `${name}.weight`, shape: [o, i], role: 'weight', fanIn: i });
    if (bias) {
      out.push({ name: `${name}.bias`, shape: [o], role: 'bias' });
    }
  };
  linear('patch_embed', D, p2 * d.inChannels);
  out.push(
    { name: 'pos_embed.spatial', shape: [(d.latent[1] / d.patch) * (d.latent[2] / d.patch), D], role: 'embedding' },
    { name: 'pos_embed.temporal', shape: [d.latent[0], D], role: 'embedding' },
  );
  linear('t_embedder.mlp.0', D, d.timestepDim);
  linear('t_embedder.mlp.2', D, D);
  if (d.numClasses > 0) {
    out.push({ name: 'y_embedder.embedding_table', shape: [d.numClasses + 1, D], role: 'embedding' });
  }
  if (d.adaln === 'lora') {
    linear('adaln.base', 6 * D, D);
  }
  for (let i = 0; i < d.layers; i++) {
    const b = `blocks.${i}`;
    if (d.adaln === 'lora') {
      out.push(
        { name: `${b}.adaln_lora.down.weight`, shape: [d.loraRank, D], role: 'weight', fanIn: D },
        { name: `${b}.adaln_lora.up.weight`, shape: [6 * D, d.loraRank], role: 'lora_up', fanIn: d.loraRank },
      );
    } else {
      linear(`${b}.adaln`, 6 * D, D);
    }
    linear(`${b}.attn.qkv`, 3 * D, D);
    out.push(
      { name: `${b}.attn.q_norm.weight`, shape: [dh], role: 'norm' },
      { name: `${b}.attn.k_norm.weight`, shape: [dh], role: 'norm' },
      {
        name: `${b}.attn.rel_pos_bias.table`,
        shape: [relPosTableRows(layerWindow(d, i).window), d.heads],
        role: 'table',
      },
    );
    linear(`${b}.attn.proj`, D, D);
    linear(`${b}.mlp.fc1`, d.mlpRatio * D, D);
    linear(`${b}.mlp.fc2`, D, d.mlpRatio * D);
  }
  linear('final_layer.adaln', 2 * D, D);
  linear('final_layer.linear', p2 * d.outChannels, D);
  return out;
}

export function fullSpec(c: WaltConfig): WeightSpec[] {
  return [...encoderSpec(c), ...denoiserSpec(c)];
}

export interface ParamCounts {
  total: number;
  encoder: number;
  denoiser: number;
}

export function paramCounts(c: WaltConfig): ParamCounts {
  const sum = (s: WeightSpec[]): number => s.reduce((a, w) => a + numel(w.shape), 0);
  const encoder = sum(encoderSpec(c));
  const denoiser = sum(denoiserSpec(c));
  return { total: encoder + denoiser, encoder, denoiser };
}
