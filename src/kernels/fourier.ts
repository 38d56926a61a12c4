// Fourier query features (OC6): general coordinates with exactly range-reduced phases, and the
// exact integer-phase depth query grid. No gradient (the features are constants of the readouts).
// See kernels/fourier.wgsl.

import type { GpuContext } from '../gpu/context.js';
import { defineKernelFamily } from '../wgsl/family.js';
import { formatShape, ShapeError } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';
import { ceilDiv, fold } from './common.js';

export interface FourierVariant {
  readonly entry: 'features' | 'grid';
}

function wgSize(limits: GPUSupportedLimits): number {
  return Math.min(256, limits.maxComputeInvocationsPerWorkgroup);
}

export const fourierFamily = defineKernelFamily<FourierVariant>()({
  name: 'fourier',
  file: 'fourier.wgsl',
  bindings: [
    { name: 'coords', access: 'read' },
    { name: 'out', access: 'read_write' },
  ],
  params: [
    ['rows', 'u32'],
    ['nc', 'u32'],
    ['bands', 'u32'],
    ['out_stride', 'u32'],
    ['out_offset', 'u32'],
    ['hq', 'u32'],
    ['wq', 'u32'],
  ],
  entryPoint: (v) => v.entry,
  defines: () => ({}),
  overrides: (_v, caps) => ({ WG: wgSize(caps.limits) }),
  variantName: (v) => v.entry,
  variants: () => [{ entry: 'features' }, { entry: 'grid' }],
});

/** Against src/ref/fourier.ts (values in [−1, 1]): a few f32 ulps of sin, absolute. */
export const tolerance = { f32: { atol: 2e-7, rtol: 0 } } as const;

/** Largest band count: 2^b·c stays a finite f32 for |c| ≤ 1. */
const MAX_BANDS = 100;

export interface FourierOptions {
  /** nb: frequency bands per coordinate (2^0 … 2^(nb−1)). */
  bands: number;
  /**
   * Write into this f32 `[rows, W]` tensor instead of a fresh one, at columns
   * [colOffset, colOffset + width) of each row (e.g. the depth query zeros(C) ++ four(y, x)).
   */
  out?: Tensor;
  /** First column of the block in `out` (default 0). */
  colOffset?: number;
  label?: string;
}

function checkBands(what: string, bands: number): void {
  if (!Number.isInteger(bands) || bands < 1 || bands > MAX_BANDS) {
    throw new ShapeError(`${what}: bands must be an integer in [1, ${MAX_BANDS}], got ${bands}`);
  }
}

function output(
  ctx: GpuContext,
  what: string,
  rows: number,
  width: number,
  opts: FourierOptions,
): { out: Tensor; stride: number; offset: number } {
  const offset = opts.colOffset ?? 0;
  if (!opts.out) {
    if (offset !== 0) {
      throw new ShapeError(`${what}: colOffset needs an out tensor`);
    }
    return { out: ctx.empty([rows, width], 'f32', opts.label ?? what), stride: width, offset: 0 };
  }
  const o = opts.out;
  const stride = o.shape[o.shape.length - 1] ?? 0;
  if (o.dtype !== 'f32' || o.shape.length !== 2 || o.shape[0] !== rows || !Number.isInteger(offset) || offset < 0) {
    throw new ShapeError(
      `${what}: out ${o.toString()} must be f32 [${rows}, W] with colOffset (${offset}) an integer ≥ 0`,
    );
  }
  if (offset + width > stride) {
    throw new ShapeError(
      `${what}: ${width} feature columns at colOffset ${offset} do not fit out ${formatShape(o.shape)}; W must be ≥ ${offset + width}`,
    );
  }
  return { out: o, stride, offset };
}

/**
 * Fourier features of coordinate rows (OC6, MooG `SampleFourierEmbedding` without raw coords):
 * phase column j = b·nc + i holds r = fmod(2^b·c_i, 2) (exact in f32), and
 * out[row, j] = sin(π r), out[row, nc·nb + j] = sin(π r + π/2).
 *
 * @param coords `[R, nc]` f32 (points (x, y), boxes (ymin, xmin, ymax, xmax), in [−1, 1])
 * @returns `[R, 2·nc·nb]` f32 (or `opts.out` with the block at `colOffset`)
 */
export function fourierFeatures(ctx: GpuContext, coords: Tensor, opts: FourierOptions): Tensor {
  const what = 'fourierFeatures';
  checkBands(what, opts.bands);
  if (coords.dtype !== 'f32' || coords.shape.length !== 2 || coords.shape[1]! < 1) {
    throw new ShapeError(`${what}: coords ${coords.toString()} must be f32 [R, nc] with nc ≥ 1`);
  }
  const [rows, nc] = coords.shape as [number, number];
  const half = nc * opts.bands;
  const { out, stride, offset } = output(ctx, what, rows, 2 * half, opts);
  if (rows > 0) {
    ctx.dispatch(
      fourierFamily,
      { entry: 'features' },
      {
        bindings: { coords, out },
        params: { rows, nc, bands: opts.bands, out_stride: stride, out_offset: offset, hq: 0, wq: 0 },
        workgroups: fold(ceilDiv(rows * half, wgSize(ctx.caps.limits))),
        ...(opts.label ? { label: opts.label } : {}),
      },
    );
  }
  return out;
}

/**
 * Fourier features of the depth query grid (OC6, OC7): row y·Wq + x has the coordinates
 * (c_y, c_x), c_i = (2i − (n−1))/(n−1) (= linspace(−1, 1, n); −1 when n = 1), row first, with
 * the exact integer phase r = ((2^b·(2i − (n−1))) mod 2(n−1)) / (n−1); columns as
 * {@link fourierFeatures} with nc = 2: [sin(π r_y,b), sin(π r_x,b) for b … | the same + π/2].
 *
 * @param hq query rows, wq query columns (each in [1, 2^24])
 * @returns `[hq·wq, 4·nb]` f32 (or `opts.out` with the block at `colOffset`)
 */
export function fourierGrid(ctx: GpuContext, hq: number, wq: number, opts: FourierOptions): Tensor {
  const what = 'fourierGrid';
  checkBands(what, opts.bands);
  for (const [name, n] of [
    ['hq', hq],
    ['wq', wq],
  ] as const) {
    if (!Number.isInteger(n) || n < 1 || n > 1 << 24) {
      throw new ShapeError(`${what}: ${name} must be an integer in [1, ${1 << 24}] for exact phases, got ${n}`);
    }
  }
  const rows = hq * wq;
  const { out, stride, offset } = output(ctx, what, rows, 4 * opts.bands, opts);
  ctx.dispatch(
    fourierFamily,
    { entry: 'grid' },
    {
      bindings: { coords: ctx.dummy('f32'), out },
      params: { rows, nc: 2, bands: opts.bands, out_stride: stride, out_offset: offset, hq, wq },
      workgroups: fold(ceilDiv(rows * 2 * opts.bands, wgSize(ctx.caps.limits))),
      ...(opts.label ? { label: opts.label } : {}),
    },
  );
  return out;
}
