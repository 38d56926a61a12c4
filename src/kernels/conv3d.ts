// Causal 3-D convolution (spec §3.2) as an implicit GEMM, channels-last, frame-chunked so that
// no binding exceeds maxStorageBufferBindingSize (a 17×128×128×128 f32 activation is 136 MiB).

import type { GpuContext } from '../gpu/context.js';
import { defineKernelFamily, type DeviceCaps } from '../wgsl/family.js';
import type { FloatDType } from '../tensor/dtype.js';
import { bytesPerElement } from '../tensor/dtype.js';
import { expectShape, formatShape, ShapeError } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';
import { ceilDiv, checkOut, floatDtypeOf } from './common.js';
import { TEST_TILES, tileDefines, tileFor, tileName, tileOverrides, tileSpan, type MatmulTile } from './matmul.js';

export interface Conv3dVariant {
  readonly dtype: FloatDType;
  readonly tile: MatmulTile;
}

/** The conv tile: tuned for conv3d on this adapter, else matmul's. */
export function convTileFor(dtype: FloatDType, caps: DeviceCaps): MatmulTile {
  return caps.tuned('conv3d', dtype) ? tileFor({ dtype }, caps, 'conv3d') : tileFor({ dtype }, caps);
}

export const conv3dFamily = defineKernelFamily<Conv3dVariant>()({
  name: 'conv3d',
  file: 'conv3d.wgsl',
  bindings: [
    { name: 'x', access: 'read' },
    { name: 'wt', access: 'read' },
    { name: 'bias', access: 'read' },
    { name: 'res', access: 'read' },
    { name: 'y', access: 'read_write' },
  ],
  params: (
    [
      't_total',
      'h_in',
      'w_in',
      'c_in',
      't_out',
      'h_out',
      'w_out',
      'c_out',
      'kt',
      'kh',
      'kw',
      'st',
      'sh',
      'sw',
      'pad_h',
      'pad_w',
      'tin0',
      'tout0',
      'flags',
      'opaque',
    ] as const
  ).map((n) => [n, 'u32'] as const),
  defines: (v) => ({ F16: v.dtype === 'f16', ...tileDefines(v.tile) }),
  overrides: (v) => tileOverrides(v.tile),
  variantName: (v) => `${v.dtype}_${tileName(v.tile)}`,
  variants: () => (['f32', 'f16'] as const).flatMap((dtype) => TEST_TILES.map((tile) => ({ dtype, tile }))),
});

export const tolerance = { f32: { atol: 1e-5, rtol: 1e-4, nmse: 1e-9 }, f16: { ratioToRef: 2 } } as const;

export type Stride3 = readonly [number, number, number];

/** Output size of the causal conv: time floor((T−1)/st)+1, space ceil(H/s) (same / SAME padding). */
export function convOutShape(T: number, H: number, W: number, stride: Stride3): [number, number, number] {
  return [Math.floor((T - 1) / stride[0]) + 1, Math.ceil(H / stride[1]), Math.ceil(W / stride[2])];
}

/** Padding before the first row/column: k//2 for stride 1, 0 ("SAME", all after) for stride 2. */
export function padBefore(k: number, s: number): number {
  return s === 1 ? Math.floor(k / 2) : Math.floor(Math.max(0, k - s) / 2);
}

/** Canonical PyTorch conv weight [C_out, C_in, kt, kh, kw] → kernel layout [kt, kh, kw, C_in, C_out]. */
export function convWeightToKernelLayout(w: Float32Array, shape: readonly number[]): Float32Array {
  const [co, ci, kt, kh, kw] = shape as [number, number, number, number, number];
  const out = new Float32Array(w.length);
  for (let o = 0; o < co; o++) {
    for (let i = 0; i < ci; i++) {
      for (let a = 0; a < kt; a++) {
        for (let b = 0; b < kh; b++) {
          for (let c = 0; c < kw; c++) {
            out[(((a * kh + b) * kw + c) * ci + i) * co + o] = w[(((o * ci + i) * kt + a) * kh + b) * kw + c]!;
          }
        }
      }
    }
  }
  return out;
}

export interface Conv3dOptions {
  stride?: Stride3;
  bias?: Tensor;
  /** y = conv(x) + residual (same shape as y). */
  residual?: Tensor;
  out?: Tensor;
  tile?: MatmulTile;
  label?: string;
}

/**
 * Causal conv3d. x (T, H, W, C_in); w in kernel layout (kt, kh, kw, C_in, C_out).
 * Returns y (T_out, H_out, W_out, C_out).
 */
export function conv3d(ctx: GpuContext, x: Tensor, w: Tensor, opts: Conv3dOptions = {}): Tensor {
  const { T, H, W, Ci } = expectShape('conv3d x', x.shape, ['T', 'H', 'W', 'Ci']);
  const { kt, kh, kw, Co } = expectShape('conv3d weight (kt, kh, kw, C_in, C_out)', w.shape, [
    'kt',
    'kh',
    'kw',
    Ci!,
    'Co',
  ]);
  const stride = opts.stride ?? [1, 1, 1];
  const [To, Ho, Wo] = convOutShape(T!, H!, W!, stride);
  const dtype = floatDtypeOf('conv3d', x, w, ...(opts.bias ? [opts.bias] : []));
  if (opts.bias) {
    expectShape('conv3d bias', opts.bias.shape, [Co!]);
  }
  if (opts.out) {
    checkOut('conv3d', opts.out, [To, Ho, Wo, Co!], dtype);
  }
  const y = opts.out ?? ctx.empty([To, Ho, Wo, Co!], dtype, opts.label ?? 'conv3d');
  expectShape('conv3d out', y.shape, [To, Ho, Wo, Co!]);
  if (opts.residual) {
    expectShape('conv3d residual', opts.residual.shape, [To, Ho, Wo, Co!]);
  }
  const tile = opts.tile ?? convTileFor(dtype, ctx.caps);
  const variant: Conv3dVariant = { dtype, tile };
  const span = tileSpan(tile);
  // Frame chunks: output frames per dispatch such that input and output bindings fit the limit.
  const limit = ctx.caps.limits.maxStorageBufferBindingSize;
  const bpe = bytesPerElement(dtype);
  const frameIn = H! * W! * Ci! * bpe;
  const frameOut = Ho * Wo * Co! * bpe;
  const maxOut = Math.floor(limit / frameOut);
  const maxIn = Math.floor(limit / frameIn);
  const n = Math.min(To, maxOut, Math.floor((maxIn - kt!) / stride[0]) + 1);
  if (n < 1 || w.byteLength > limit) {
    throw new ShapeError(
      `conv3d ${formatShape(x.shape)} → ${formatShape(y.shape)}: one frame chunk does not fit maxStorageBufferBindingSize (${limit}); use a smaller resolution`,
    );
  }
  const d = ctx.dummy(dtype);
  for (let to0 = 0; to0 < To; to0 += n) {
    const tOut = Math.min(n, To - to0);
    const tin0 = Math.max(0, to0 * stride[0] - (kt! - 1));
    const tin1 = Math.min(T!, (to0 + tOut - 1) * stride[0] + 1);
    const whole = to0 === 0 && tOut === To;
    const xs = whole && tin0 === 0 && tin1 === T ? x : x.view(tin0 * H! * W! * Ci!, [tin1 - tin0, H!, W!, Ci!]);
    const ys = whole ? y : y.view(to0 * Ho * Wo * Co!, [tOut, Ho, Wo, Co!]);
    const rs = opts.residual
      ? whole
        ? opts.residual
        : opts.residual.view(to0 * Ho * Wo * Co!, [tOut, Ho, Wo, Co!])
      : d;
    const rowTiles = ceilDiv(tOut * Ho * Wo, span.rows);
    ctx.dispatch(conv3dFamily, variant, {
      bindings: { x: xs, wt: w, bias: opts.bias ?? d, res: rs, y: ys },
      params: {
        t_total: T!,
        h_in: H!,
        w_in: W!,
        c_in: Ci!,
        t_out: tOut,
        h_out: Ho,
        w_out: Wo,
        c_out: Co!,
        kt: kt!,
        kh: kh!,
        kw: kw!,
        st: stride[0],
        sh: stride[1],
        sw: stride[2],
        pad_h: padBefore(kh!, stride[1]),
        pad_w: padBefore(kw!, stride[2]),
        tin0,
        tout0: to0,
        flags: (opts.bias ? 1 : 0) | (opts.residual ? 2 : 0),
        opaque: 0xffffffff,
      },
      workgroups: [ceilDiv(Co!, span.cols), Math.min(rowTiles, 65535), ceilDiv(rowTiles, 65535)],
      ...(opts.label ? { label: opts.label } : {}),
    });
    for (const v of [xs, ys, rs]) {
      if (v !== x && v !== y && v !== d && v !== opts.residual) {
        v.dispose();
      }
    }
  }
  return y;
}

/** FLOPs of a conv (2 per MAC). */
export function conv3dFlops(To: number, Ho: number, Wo: number, Co: number, taps: number, Ci: number): number {
  return 2 * To * Ho * Wo * Co * taps * Ci;
}
