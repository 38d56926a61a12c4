// The causal 3-D CNN encoder (spec §3): pixels (T, H, W, 3) in [0, 1] → normalised latent
// (T', H/8, W/8, c). Per-frame GroupNorm + swish, causal convs, ResBlocks, strided downsamplers.
// One clip at a time; large activations are processed in frame chunks by the kernels.
import type { GpuContext } from '../gpu/context.js';
import { conv3d } from '../kernels/conv3d.js';
import { groupnorm } from '../kernels/groupnorm.js';
import { matmul } from '../kernels/matmul.js';
import { ShapeError, type Shape } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';
import type { WaltConfig } from './config.js';
import { encoderPlan } from './spec.js';
import type { ModelWeights } from './weights.js';

/** Latent shape (T', h, w, c) of a pixel clip (T, H, W). */
export function latentShapeOf(c: WaltConfig, T: number, H: number, W: number): [number, number, number, number] {
  const e = c.encoder;
  const down = e.multipliers.length - 1;
  const tDown = e.temporalDownsample.filter(Boolean).length;
  if (H % 2 ** down !== 0 || W % 2 ** down !== 0) {
    throw new ShapeError(`pixels ${H}x${W}: height and width must be multiples of ${2 ** down}`);
  }
  let t = T;
  for (let i = 0; i < tDown; i++) {
    t = Math.floor((t - 1) / 2) + 1;
  }
  return [t, H / 2 ** down, W / 2 ** down, e.latentChannels];
}

/** Pads RGB pixels (T, H, W, 3) to 4 channels (a zero 4th) for vec4 loads; conv_in's weight is padded too. */
export function padPixels(rgb: Float32Array): Float32Array {
  const n = rgb.length / 3;
  const out = new Float32Array(n * 4);
  for (let i = 0; i < n; i++) {
    out[4 * i] = rgb[3 * i]!;
    out[4 * i + 1] = rgb[3 * i + 1]!;
    out[4 * i + 2] = rgb[3 * i + 2]!;
  }
  return out;
}

function w(weights: ModelWeights, name: string): Tensor {
  const t = weights.gpu.get(name);
  if (!t) {
    throw new Error(`encoder weight ${name} is not loaded (load the weights with the encoder)`);
  }
  return t;
}

function resblock(
  ctx: GpuContext,
  W: ModelWeights,
  name: string,
  x: Tensor,
  cin: number,
  cout: number,
  groups: number,
): Tensor {
  return ctx.scope(() => {
    const [T, H, Wd] = x.shape as [number, number, number, number];
    const h1 = groupnorm(ctx, x, w(W, `${name}.norm1.weight`), w(W, `${name}.norm1.bias`), groups, {
      swish: true,
      label: `${name}.norm1`,
    });
    const h2 = conv3d(ctx, h1, w(W, `${name}.conv1.weight`), { label: `${name}.conv1` });
    h1.dispose();
    const h3 = groupnorm(ctx, h2, w(W, `${name}.norm2.weight`), w(W, `${name}.norm2.bias`), groups, {
      swish: true,
      label: `${name}.norm2`,
    });
    h2.dispose();
    let shortcut = x;
    if (cin !== cout) {
      // nin_shortcut: a 1×1×1 conv = a matmul over pixels; its kernel-layout weight (1,1,1,C_in,C_out) is (C_in, C_out).
      const nin = w(W, `${name}.nin_shortcut.weight`);
      const flat = x.reshape([T * H * Wd, cin]);
      shortcut = matmul(ctx, flat, nin.reshape([cin, cout]), { label: `${name}.nin_shortcut` }).reshape([
        T,
        H,
        Wd,
        cout,
      ]);
    }
    return conv3d(ctx, h3, w(W, `${name}.conv2.weight`), { residual: shortcut, label: `${name}.conv2` });
  });
}

/**
 * Encodes one clip. `pixels` is (T, H, W, 4) (RGB + zero channel, see padPixels).
 * Returns the normalised latent (T', h, w, c) (latent_norm is folded into conv_out).
 */
export function encode(ctx: GpuContext, W: ModelWeights, pixels: Tensor): Tensor {
  const c = W.config;
  const e = c.encoder;
  if (!W.hasEncoder) {
    throw new Error('the encoder weights were not loaded');
  }
  const [T, H, Wd, C] = pixels.shape as [number, number, number, number];
  if (pixels.shape.length !== 4 || C !== 4) {
    throw new ShapeError(`encode: pixels must be (T, H, W, 4) (RGB padded), got [${pixels.shape.join(',')}]`);
  }
  latentShapeOf(c, T, H, Wd);
  return ctx.scope(() => {
    const plan = encoderPlan(c);
    ctx.tag = 'encoder';
    let x = conv3d(ctx, pixels, w(W, 'encoder.conv_in.weight'), { label: 'encoder.conv_in' });
    const step = (next: Tensor): void => {
      x.dispose();
      x = next;
    };
    for (const level of plan.levels) {
      for (const b of level.blocks) {
        step(resblock(ctx, W, b.name, x, b.cin, b.cout, e.groups));
      }
      if (level.downsample) {
        const d = level.downsample;
        step(
          conv3d(ctx, x, w(W, `${d.name}.weight`), { stride: d.stride, bias: w(W, `${d.name}.bias`), label: d.name }),
        );
      }
    }
    for (const m of plan.mid) {
      step(resblock(ctx, W, m.name, x, m.ch, m.ch, e.groups));
    }
    step(
      groupnorm(ctx, x, w(W, 'encoder.norm_out.weight'), w(W, 'encoder.norm_out.bias'), e.groups, {
        swish: true,
        label: 'encoder.norm_out',
      }),
    );
    const [t, h, ww, ch] = x.shape as [number, number, number, number];
    const z = matmul(ctx, x.reshape([t * h * ww, ch]), w(W, 'encoder.conv_out.weight'), {
      bias: w(W, 'encoder.conv_out.bias'),
      label: 'encoder.conv_out',
    });
    const out: Shape = [t, h, ww, e.latentChannels];
    const latent = z.reshape(out);
    z.dispose();
    ctx.tag = '';
    return latent;
  });
}
