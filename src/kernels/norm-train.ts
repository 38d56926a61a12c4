// Training norms (readouts, OC1/OC2): LayerNorm (full, scale-only "LN_scale", no affine) and
// RMSNorm over the head dim with a scale shared by the heads (norm_query / norm_key). The
// forwards save their f32 statistics; the backwards give dx and the affine gradients, which are
// deterministic two-pass column sums (per-block partials, then a fixed-order reduce; no atomics).
// Rows whose tensors exceed the device's binding limit are processed in chunks of rows.

import type { GpuContext } from '../gpu/context.js';
import { type DeviceCaps, defineKernelFamily } from '../wgsl/family.js';
import { bytesPerElement, type FloatDType } from '../tensor/dtype.js';
import { sameShape, type Shape, ShapeError } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';
import type { HeadsView } from './attention.js';
import { colSum } from './colsum.js';
import { ceilDiv, checkOut, floatDtypeOf, fold, type GradTarget } from './common.js';

export type NormTrainEntry = 'forward' | 'backward' | 'col_sums';

export interface NormTrainVariant {
  readonly dtype: FloatDType;
  readonly entry: NormTrainEntry;
  /** Four values per invocation step through vec4 loads (every row length, stride and offset a multiple of 4). */
  readonly vec4: boolean;
  /** Invocations per workgroup (a power of two): {@link normTrainWorkgroup} unless forced. */
  readonly wg: number;
}

/** Bits of Params.flags (kernels/norm-train.wgsl). */
export const NORM_TRAIN_FLAGS = { weight: 1, bias: 2, rms: 4, accumulate: 8, wantB: 16 } as const;

/** The workgroup sizes the wrapper may pick on any adapter (software, GPU). */
export const NORM_TRAIN_WORKGROUPS = [64, 256] as const;

/** Workgroup size on this adapter: 64 on software adapters, 256 on GPUs (within the device limit). */
export function normTrainWorkgroup(caps: DeviceCaps): number {
  const want = caps.isSoftware ? 64 : 256;
  return Math.min(want, 2 ** Math.floor(Math.log2(caps.limits.maxComputeInvocationsPerWorkgroup)));
}

export const normTrainFamily = defineKernelFamily<NormTrainVariant>()({
  name: 'norm-train',
  file: 'norm-train.wgsl',
  bindings: [
    { name: 'x', access: 'read' },
    { name: 'p', access: 'read' },
    { name: 'q', access: 'read' },
    { name: 'mean_in', access: 'read' },
    { name: 'rstd_in', access: 'read' },
    { name: 'y', access: 'read_write' },
    { name: 'out_a', access: 'read_write' },
    { name: 'out_b', access: 'read_write' },
  ],
  params: [
    ['rows', 'u32'],
    ['cols', 'u32'],
    ['lanes', 'u32'],
    ['rows_inner', 'u32'],
    ['inner_stride', 'u32'],
    ['outer_stride', 'u32'],
    ['x_offset', 'u32'],
    ['out_outer_stride', 'u32'],
    ['out_offset', 'u32'],
    ['rows_per_block', 'u32'],
    ['block_offset', 'u32'],
    ['flags', 'u32'],
    ['eps', 'f32'],
  ],
  entryPoint: (v) => v.entry,
  defines: (v) => ({ F16: v.dtype === 'f16', VEC4: v.vec4 }),
  overrides: (v) => ({ WG: v.wg }),
  variantName: (v) => `${v.dtype}_${v.entry}${v.vec4 ? '_v4' : ''}_wg${v.wg}`,
  variants: () =>
    (['f32', 'f16'] as const).flatMap((dtype) =>
      (['forward', 'backward', 'col_sums'] as const).flatMap((entry) =>
        [false, true].flatMap((vec4) => NORM_TRAIN_WORKGROUPS.map((wg) => ({ dtype, entry, vec4, wg }))),
      ),
    ),
});

/**
 * Tolerances vs the f64 references (src/ref/layernorm.ts): y, dx and the column sums in f32;
 * f16 storage of x/y by the ratio rule (test/helpers/compare.ts).
 */
export const tolerance = { f32: { atol: 2e-5, rtol: 1e-4, nmse: 1e-9 }, f16: { ratioToRef: 2 } } as const;

function nextPow2(n: number): number {
  return 2 ** Math.ceil(Math.log2(Math.max(1, n)));
}

/**
 * Invocations per row for the row kernels, a power of two ≤ wg, for `cols` kernel columns
 * (values, or vec4s). GPU workgroups (256): about 4 columns each, so a row's loads coalesce.
 * Software workgroups (64): one invocation per row, because a barrier of a tree step costs
 * llvmpipe more than the loads it spreads (measured at 4352 × 1088: 16 ms with one lane per
 * row, 30 ms with 8, 95 ms with 64).
 */
export function rowLanes(cols: number, wg: number): number {
  return wg <= 64 ? 1 : Math.min(wg, nextPow2(Math.ceil(cols / 4)));
}

/** Whether every row, stride and offset allows vec4 loads (and every binding holds whole vec4s). */
function canVec4(set: RowSet, x: Tensor): boolean {
  return set.dim % 4 === 0 && set.stride % 4 === 0 && set.offset % 4 === 0 && x.numel % 4 === 0;
}

/** Where the normalised rows are: outer row r, inner row h (head) at offset + r·stride + h·dim. */
interface RowSet {
  /** Outer rows R. */
  rows: number;
  /** Rows per outer row (heads; 1 for LayerNorm). */
  heads: number;
  /** Values per normalised row (C, or the head dim d). */
  dim: number;
  /** x elements from one outer row to the next. */
  stride: number;
  /** x element where outer row 0's first head starts. */
  offset: number;
}

/** Every tensor a chunked call binds, with how far it advances per outer row. */
interface RowBinding {
  t: Tensor;
  /** Elements per outer row. */
  perRow: number;
}

/** Outer rows per chunk so that every row-indexed binding stays within the binding limit. */
function chunkRows(
  ctx: GpuContext,
  what: string,
  rows: number,
  bound: readonly RowBinding[],
  maxBindingBytes: number | undefined,
): number {
  const limit = Math.min(maxBindingBytes ?? Infinity, ctx.caps.limits.maxStorageBufferBindingSize);
  const rowBytes = Math.max(...bound.map((b) => b.perRow * bytesPerElement(b.t.dtype)));
  const fit = Math.floor(limit / rowBytes);
  if (fit >= rows) {
    return Math.max(rows, 1);
  }
  // Multiples of 256 rows keep every view's byte offset a multiple of 256 (the offset alignment).
  const chunk = Math.floor(fit / 256) * 256;
  if (chunk < 1) {
    throw new ShapeError(
      `${what}: 256 rows of ${rowBytes} bytes exceed maxStorageBufferBindingSize (${limit}); use narrower rows`,
    );
  }
  return chunk;
}

/** The part of `t` that outer rows [r0, r1) use (the whole tensor when that is all of it). */
function rowView(b: RowBinding, r0: number, r1: number, all: boolean): Tensor {
  if (all) {
    return b.t;
  }
  const start = r0 * b.perRow;
  return b.t.view(start, [Math.min(b.t.numel - start, (r1 - r0) * b.perRow)]);
}

/** Small tensors for the writable bindings an entry point does not use (never written). */
class Unused {
  private readonly made: Tensor[] = [];
  private tt: Tensor | null = null;
  private ff: Tensor | null = null;
  constructor(
    private readonly ctx: GpuContext,
    private readonly dtype: FloatDType,
  ) {}
  get t(): Tensor {
    return (this.tt ??= this.make(this.dtype));
  }
  get f(): Tensor {
    return (this.ff ??= this.make('f32'));
  }
  private make(dtype: FloatDType): Tensor {
    const t = this.ctx.empty([4], dtype, 'norm-train-unused');
    this.made.push(t);
    return t;
  }
  dispose(): void {
    for (const t of this.made) {
      t.dispose();
    }
  }
}

function checkF32(what: string, t: Tensor, n: number, shape: string): void {
  if (t.dtype !== 'f32' || t.numel !== n) {
    throw new ShapeError(`${what}: ${t.toString()} must be ${shape} f32 (${n} elements)`);
  }
}

function labelArg(label: string | undefined): { label?: string } {
  return label ? { label } : {};
}

function flagBits(on: Partial<Record<keyof typeof NORM_TRAIN_FLAGS, boolean>>): number {
  let f = 0;
  for (const [k, v] of Object.entries(on)) {
    if (v) {
      f |= NORM_TRAIN_FLAGS[k as keyof typeof NORM_TRAIN_FLAGS];
    }
  }
  return f;
}

interface ForwardArgs {
  set: RowSet;
  dtype: FloatDType;
  wg: number;
  x: Tensor;
  weight: Tensor | undefined;
  bias: Tensor | undefined;
  y: Tensor;
  mean: Tensor | null;
  rstd: Tensor;
  rms: boolean;
  eps: number;
  label: string | undefined;
  maxBindingBytes: number | undefined;
}

function runForward(ctx: GpuContext, a: ForwardArgs): void {
  const { set, dtype, wg } = a;
  const width = set.heads * set.dim;
  const vec4 = canVec4(set, a.x);
  const bound: RowBinding[] = [
    { t: a.x, perRow: set.stride },
    { t: a.y, perRow: width },
    { t: a.rstd, perRow: set.heads },
    ...(a.mean ? [{ t: a.mean, perRow: set.heads }] : []),
  ];
  const chunk = chunkRows(ctx, a.rms ? 'rmsNormForward' : 'layerNormForward', set.rows, bound, a.maxBindingBytes);
  const lanes = rowLanes(set.dim / (vec4 ? 4 : 1), wg);
  const unused = new Unused(ctx, dtype);
  const d = ctx.dummy('f32');
  const flags = flagBits({ weight: !!a.weight, bias: !!a.bias, rms: a.rms });
  for (let r0 = 0; r0 < Math.max(set.rows, 1); r0 += chunk) {
    const r1 = Math.min(set.rows, r0 + chunk);
    const all = r0 === 0 && r1 === set.rows;
    const [xv, yv, rv, mv] = bound.map((b) => rowView(b, r0, r1, all));
    const rows = (r1 - r0) * set.heads;
    ctx.dispatch(
      normTrainFamily,
      { dtype, entry: 'forward', wg, vec4 },
      {
        bindings: {
          x: xv!,
          p: a.weight ?? d,
          q: a.bias ?? d,
          mean_in: d,
          rstd_in: d,
          y: yv!,
          out_a: mv ?? unused.f,
          out_b: rv!,
        },
        params: {
          rows,
          cols: set.dim,
          lanes,
          rows_inner: set.heads,
          inner_stride: set.dim,
          outer_stride: set.stride,
          x_offset: set.offset,
          out_outer_stride: 0,
          out_offset: 0,
          rows_per_block: 0,
          block_offset: 0,
          flags,
          eps: a.eps,
        },
        workgroups: fold(ceilDiv(rows, wg / lanes)),
        ...labelArg(a.label),
      },
    );
    if (!all) {
      for (const v of [xv, yv, rv, mv]) {
        v?.dispose();
      }
    }
  }
  unused.dispose();
}

interface BackwardArgs {
  set: RowSet;
  dtype: FloatDType;
  wg: number;
  x: Tensor;
  dy: Tensor;
  mean: Tensor | null;
  rstd: Tensor;
  weight: Tensor | undefined;
  rms: boolean;
  /** dx and its layout: outer row r, head h at offset + r·stride + h·dim. */
  dx: { tensor: Tensor; accumulate: boolean; stride: number; offset: number } | null;
  /** Column sums: A = Σ dy·x̂ (dweight, dscale) and B = Σ dy (dbias). */
  sums: { a: GradTarget; b: GradTarget | null } | null;
  rowsPerBlock: number | undefined;
  label: string | undefined;
  maxBindingBytes: number | undefined;
}

/** Rows per column-sum block: enough blocks to fill the adapter, few enough to reduce fast. */
function blockRows(caps: DeviceCaps, rows: number, cols: number, wg: number): number {
  const tc = Math.min(wg, nextPow2(cols));
  const target = caps.isSoftware ? 8 : 1024;
  const maxBlocks = Math.min(1024, Math.max(1, Math.ceil(target / ceilDiv(cols, tc))));
  return Math.max(wg / tc, Math.ceil(rows / maxBlocks));
}

function runBackward(ctx: GpuContext, a: BackwardArgs): void {
  const { set, dtype, wg } = a;
  const what = a.rms ? 'rmsNormBackward' : 'layerNormBackward';
  const width = set.heads * set.dim;
  const vec4 = canVec4(set, a.x);
  const vw = vec4 ? 4 : 1;
  const bound: RowBinding[] = [
    { t: a.x, perRow: set.stride },
    { t: a.dy, perRow: width },
    { t: a.rstd, perRow: set.heads },
    { t: a.mean ?? a.rstd, perRow: set.heads },
    ...(a.dx ? [{ t: a.dx.tensor, perRow: a.dx.stride }] : []),
  ];
  const chunk = chunkRows(ctx, what, set.rows, bound, a.maxBindingBytes);
  const nChunks = Math.max(1, ceilDiv(set.rows, chunk));
  const unused = new Unused(ctx, dtype);
  const d = ctx.dummy('f32');
  // Column sums: pass 1 writes per-block partials (or, with one block, the result itself).
  const sums = a.sums;
  const cols = set.dim;
  // The column sums run over the outer rows and the whole width H·d (RMSNorm: the heads' partials
  // are summed with the blocks' in pass 2, so no division per element).
  const tc = Math.min(wg, nextPow2(width / vw));
  const rpb = Math.max(1, a.rowsPerBlock ?? blockRows(ctx.caps, set.rows, width / vw, wg));
  const blocksOf = (outer: number): number => Math.max(1, ceilDiv(outer, rpb));
  let totalBlocks = 0;
  for (let r0 = 0; r0 < Math.max(set.rows, 1); r0 += chunk) {
    totalBlocks += blocksOf(Math.min(set.rows, r0 + chunk) - r0);
  }
  if (sums && blocksOf(Math.min(chunk, set.rows)) > 65535) {
    throw new ShapeError(`${what}: rowsPerBlock ${rpb} gives more than 65535 blocks; use a larger rowsPerBlock`);
  }
  // One block of one head writes the results directly (with one accumulate flag for both outputs).
  const direct = totalBlocks === 1 && set.heads === 1 && (!sums?.b || sums.b.accumulate === sums.a.accumulate);
  const scratchA = sums && !direct ? ctx.empty([totalBlocks, width], 'f32', `${what}-partials`) : null;
  const scratchB = sums?.b && !direct ? ctx.empty([totalBlocks, width], 'f32', `${what}-partials`) : null;
  const lanes = rowLanes(cols / vw, wg);
  let blockBase = 0;
  for (let r0 = 0; r0 < Math.max(set.rows, 1); r0 += chunk) {
    const r1 = Math.min(set.rows, r0 + chunk);
    const all = nChunks === 1;
    const views = bound.map((b) => rowView(b, r0, r1, all));
    const [xv, dyv, rv, mv0, dxv] = views;
    const mv = a.mean ? mv0! : d;
    const rows = (r1 - r0) * set.heads;
    const common = {
      rows,
      cols,
      rows_inner: set.heads,
      inner_stride: set.dim,
      outer_stride: set.stride,
      x_offset: set.offset,
      eps: 0,
    };
    if (a.dx) {
      ctx.dispatch(
        normTrainFamily,
        { dtype, entry: 'backward', wg, vec4 },
        {
          bindings: {
            x: xv!,
            p: dyv!,
            q: a.weight ?? d,
            mean_in: mv,
            rstd_in: rv!,
            y: unused.t,
            out_a: dxv!,
            out_b: unused.f,
          },
          params: {
            ...common,
            lanes,
            out_outer_stride: a.dx.stride,
            out_offset: a.dx.offset,
            rows_per_block: 0,
            block_offset: 0,
            flags: flagBits({ weight: !!a.weight, rms: a.rms, accumulate: a.dx.accumulate }),
          },
          workgroups: fold(ceilDiv(rows, wg / lanes)),
          ...labelArg(a.label),
        },
      );
    }
    if (sums) {
      const blocks = blocksOf(r1 - r0);
      ctx.dispatch(
        normTrainFamily,
        { dtype, entry: 'col_sums', wg, vec4 },
        {
          bindings: {
            x: xv!,
            p: dyv!,
            q: d,
            mean_in: mv,
            rstd_in: rv!,
            y: unused.t,
            out_a: scratchA ?? sums.a.tensor,
            out_b: scratchB ?? sums.b?.tensor ?? unused.f,
          },
          params: {
            ...common,
            rows: r1 - r0,
            cols: width,
            lanes: tc,
            out_outer_stride: 0,
            out_offset: 0,
            rows_per_block: rpb,
            block_offset: blockBase,
            flags: flagBits({
              rms: a.rms,
              wantB: !!sums.b,
              accumulate: direct && sums.a.accumulate,
            }),
          },
          workgroups: [ceilDiv(width / vw, tc), blocks],
          ...labelArg(a.label),
        },
      );
      blockBase += blocks;
    }
    if (!all) {
      for (const v of views) {
        v?.dispose();
      }
    }
  }
  // Pass 2: each output's partials [blocks, H, d] summed over the blocks and heads in a fixed order.
  if (sums && !direct) {
    const rows = totalBlocks * set.heads;
    colSum(ctx, scratchA!, { rows, out: sums.a, ...labelArg(a.label) });
    scratchA!.dispose();
    if (scratchB && sums.b) {
      colSum(ctx, scratchB, { rows, out: sums.b, ...labelArg(a.label) });
      scratchB.dispose();
    }
  }
  unused.dispose();
}

function gradOut(
  ctx: GpuContext,
  what: string,
  target: GradTarget | undefined,
  shape: Shape,
  label: string,
): GradTarget {
  if (target) {
    checkOut(what, target.tensor, shape, 'f32');
    return target;
  }
  return { tensor: ctx.empty(shape, 'f32', label), accumulate: false };
}

function affineCheck(what: string, name: string, t: Tensor | undefined, n: number): void {
  if (t && (t.dtype !== 'f32' || t.numel !== n || t.shape.length !== 1)) {
    throw new ShapeError(`${what}: ${name} ${t.toString()} must be [${n}] f32`);
  }
}

function lastDim(what: string, x: Tensor): number {
  const c = x.shape[x.shape.length - 1];
  if (c === undefined || c < 1) {
    throw new ShapeError(`${what}: x ${x.toString()} needs a non-empty last dimension [R, C]`);
  }
  return c;
}

export interface LayerNormForwardOptions {
  /** [C] f32: full LayerNorm with `bias`, scale-only (flax `use_bias=False`, OC2 "LN_scale") without. */
  weight?: Tensor;
  /** [C] f32. */
  bias?: Tensor;
  /** 1e-6 for the readout norms, 1e-4 for the MooG state norm (OC1). */
  eps?: number;
  /** y, [R, C] (x's shape) in x's dtype. */
  out?: Tensor;
  /** Force a workgroup size (tests, bench): one of {@link NORM_TRAIN_WORKGROUPS}. */
  workgroup?: number;
  label?: string;
  /** A binding limit below the device's (bytes), so tests reach the row-chunked path at small sizes. */
  maxBindingBytes?: number;
}

export interface LayerNormForwardResult {
  /** [R, C] (x's shape), x's dtype. */
  y: Tensor;
  /** [R] f32. */
  mean: Tensor;
  /** [R] f32: 1/√(σ² + eps). */
  rstd: Tensor;
}

/**
 * LayerNorm over the last dimension, saving its statistics for {@link layerNormBackward}.
 *
 * μ_r = mean_c x[r, c], σ²_r = mean_c (x[r, c] − μ_r)² (biased; two passes, shifted by the
 * row's first value, so accurate for |μ| ≫ σ), rstd_r = 1/√(σ²_r + eps),
 * y[r, c] = (x[r, c] − μ_r)·rstd_r·weight[c] + bias[c] (each factor only when given).
 *
 * @param x `[R, C]` (leading dims are flattened into R), f32 or f16
 * @returns `y` like x (x's dtype), `mean` and `rstd` `[R]` f32
 */
export function layerNormForward(
  ctx: GpuContext,
  x: Tensor,
  opts: LayerNormForwardOptions = {},
): LayerNormForwardResult {
  const what = 'layerNormForward';
  const C = lastDim(what, x);
  const dtype = floatDtypeOf(what, x);
  const R = x.numel / C;
  affineCheck(what, 'weight', opts.weight, C);
  affineCheck(what, 'bias', opts.bias, C);
  if (opts.out) {
    checkOut(what, opts.out, x.shape, dtype);
  }
  const y = opts.out ?? ctx.empty(x.shape, dtype, opts.label ?? 'layernorm-y');
  const mean = ctx.empty([R], 'f32', 'layernorm-mean');
  const rstd = ctx.empty([R], 'f32', 'layernorm-rstd');
  runForward(ctx, {
    set: { rows: R, heads: 1, dim: C, stride: C, offset: 0 },
    dtype,
    wg: opts.workgroup ?? normTrainWorkgroup(ctx.caps),
    x,
    weight: opts.weight,
    bias: opts.bias,
    y,
    mean,
    rstd,
    rms: false,
    eps: opts.eps ?? 1e-6,
    label: opts.label,
    maxBindingBytes: opts.maxBindingBytes,
  });
  return { y, mean, rstd };
}

export interface LayerNormBackwardOptions {
  /** The forward's weight [C] f32 (then dweight is computed). */
  weight?: Tensor;
  /** The forward had a bias: compute dbias (also implied by a `dbias` target). */
  hasBias?: boolean;
  /** Where dx goes ([R, C] f32); null: dx is not computed (e.g. frozen inputs). */
  dx?: GradTarget | null;
  /** [C] f32 target of Σ_r dy⊙x̂ (needs `weight`). */
  dweight?: GradTarget;
  /** [C] f32 target of Σ_r dy. */
  dbias?: GradTarget;
  /** Rows per column-sum block (tests): default from the adapter and the shape. */
  rowsPerBlock?: number;
  /** Force a workgroup size (tests, bench): one of {@link NORM_TRAIN_WORKGROUPS}. */
  workgroup?: number;
  label?: string;
  /** A binding limit below the device's (bytes), so tests reach the row-chunked path at small sizes. */
  maxBindingBytes?: number;
}

export interface LayerNormBackwardResult {
  /** [R, C] (x's shape) f32, or null when not asked for. */
  dx: Tensor | null;
  /** [C] f32, when the forward had a weight. */
  dweight?: Tensor;
  /** [C] f32, when the forward had a bias. */
  dbias?: Tensor;
}

/**
 * LayerNorm backward. With g = dy ⊙ weight (dy without weight) and x̂ = (x − μ)·rstd, per row:
 * dx = rstd·(g − mean_c g − x̂·mean_c(g ⊙ x̂)); dweight[c] = Σ_r dy⊙x̂, dbias[c] = Σ_r dy, both
 * two-pass deterministic column sums (bit-identical across runs on one adapter).
 *
 * @param dy `[R, C]` f32, x's shape
 * @param x `[R, C]` the forward's input (f32 or f16)
 * @param mean `[R]` f32 and `rstd` `[R]` f32 from {@link layerNormForward}
 * @returns dx (f32, x's shape; `=` or `+=` per its target), dweight, dbias ([C] f32)
 */
export function layerNormBackward(
  ctx: GpuContext,
  dy: Tensor,
  x: Tensor,
  mean: Tensor,
  rstd: Tensor,
  opts: LayerNormBackwardOptions = {},
): LayerNormBackwardResult {
  const what = 'layerNormBackward';
  const C = lastDim(what, x);
  const dtype = floatDtypeOf(what, x);
  const R = x.numel / C;
  if (!sameShape(dy.shape, x.shape) || dy.dtype !== 'f32') {
    throw new ShapeError(
      `${what}: dy ${dy.toString()} must be [${x.shape.join(', ')}] f32 (x's shape; gradients are f32)`,
    );
  }
  checkF32(`${what} mean`, mean, R, `[${R}]`);
  checkF32(`${what} rstd`, rstd, R, `[${R}]`);
  affineCheck(what, 'weight', opts.weight, C);
  if (opts.dweight && !opts.weight) {
    throw new ShapeError(`${what}: a dweight target needs the forward's weight; pass opts.weight`);
  }
  const dx = opts.dx === null ? null : gradOut(ctx, `${what} dx`, opts.dx, x.shape, 'layernorm-dx');
  const dweight = opts.weight ? gradOut(ctx, `${what} dweight`, opts.dweight, [C], 'layernorm-dweight') : null;
  const dbias = opts.hasBias || opts.dbias ? gradOut(ctx, `${what} dbias`, opts.dbias, [C], 'layernorm-dbias') : null;
  // Without a weight, dbias = Σ_r dy is a plain column sum.
  if (dbias && !dweight) {
    colSum(ctx, dy, {
      out: dbias,
      ...labelArg(opts.label),
      ...(opts.maxBindingBytes ? { maxBindingBytes: opts.maxBindingBytes } : {}),
    });
  }
  if (!dx && !dweight) {
    return { ...(dbias ? { dbias: dbias.tensor } : {}), dx: null };
  }
  runBackward(ctx, {
    set: { rows: R, heads: 1, dim: C, stride: C, offset: 0 },
    dtype,
    wg: opts.workgroup ?? normTrainWorkgroup(ctx.caps),
    x,
    dy,
    mean,
    rstd,
    weight: opts.weight,
    rms: false,
    dx: dx ? { ...dx, stride: C, offset: 0 } : null,
    sums: dweight ? { a: dweight, b: dbias } : null,
    rowsPerBlock: opts.rowsPerBlock,
    label: opts.label,
    maxBindingBytes: opts.maxBindingBytes,
  });
  return {
    dx: dx?.tensor ?? null,
    ...(dweight ? { dweight: dweight.tensor } : {}),
    ...(dbias ? { dbias: dbias.tensor } : {}),
  };
}

/** Rows of an RMSNorm input: a contiguous tensor, or a strided row view (e.g. q inside qkv). */
export type RmsRows = Tensor | HeadsView;

interface RmsGeometry {
  set: RowSet;
  x: Tensor;
  /** Shape of y, dy and a fresh dx. */
  shape: Shape;
}

function rmsGeometry(what: string, x: RmsRows, heads: number, dim: number, rowsOpt: number | undefined): RmsGeometry {
  if (!Number.isInteger(heads) || heads < 1 || !Number.isInteger(dim) || dim < 1) {
    throw new ShapeError(`${what}: heads ${heads} and dim ${dim} must be positive integers`);
  }
  const width = heads * dim;
  if ('stride' in x) {
    const t = x.tensor;
    const rows = rowsOpt ?? (t.numel - x.offset >= width ? Math.floor((t.numel - x.offset - width) / x.stride) + 1 : 0);
    if (x.offset + width > x.stride || (rows > 0 && (rows - 1) * x.stride + x.offset + width > t.numel)) {
      throw new ShapeError(
        `${what}: x view (stride ${x.stride}, offset ${x.offset}) of ${t.toString()} does not hold ${rows} rows × ${heads}·${dim}`,
      );
    }
    return { set: { rows, heads, dim, stride: x.stride, offset: x.offset }, x: t, shape: [rows, width] };
  }
  const last = x.shape[x.shape.length - 1];
  const lastTwo = x.shape.length >= 2 && last === dim && x.shape[x.shape.length - 2] === heads;
  if (!(last === width || lastTwo) || x.numel % width !== 0) {
    throw new ShapeError(`${what}: x ${x.toString()} must be [R, ${heads}·${dim}] or [R, ${heads}, ${dim}]`);
  }
  const rows = x.numel / width;
  if (rowsOpt !== undefined && rowsOpt !== rows) {
    throw new ShapeError(`${what}: rows ${rowsOpt} but x ${x.toString()} holds ${rows} rows`);
  }
  return { set: { rows, heads, dim, stride: width, offset: 0 }, x, shape: x.shape };
}

export interface RmsNormForwardOptions {
  heads: number;
  /** Head dim d (the normalised length). */
  dim: number;
  /** [d] f32, shared by the heads. */
  scale?: Tensor;
  /** Default 1e-6 (OC1). */
  eps?: number;
  /** Rows R of a strided view (default: as many as the view's tensor holds). */
  rows?: number;
  /** y, [R, H·d] (x's shape for a tensor) in x's dtype. */
  out?: Tensor;
  /** Force a workgroup size (tests, bench): one of {@link NORM_TRAIN_WORKGROUPS}. */
  workgroup?: number;
  label?: string;
  /** A binding limit below the device's (bytes), so tests reach the row-chunked path at small sizes. */
  maxBindingBytes?: number;
}

/**
 * RMSNorm over the head dim with a scale shared by all heads (norm_query / norm_key, MooG).
 *
 * rstd[r·H + h] = 1/√(mean_k x[r, h, k]² + eps), y[r, h, k] = x[r, h, k]·rstd[r·H + h]·scale[k].
 *
 * @param x `[R, H·d]` (or `[R, H, d]`), or a row view {tensor, stride, offset}: row r's heads at
 *   tensor[offset + r·stride …+H·d], f32 or f16
 * @returns `y` `[R, H·d]` contiguous (x's shape for a tensor), x's dtype; `rstd` `[R·H]` f32
 */
export function rmsNormForward(ctx: GpuContext, x: RmsRows, opts: RmsNormForwardOptions): { y: Tensor; rstd: Tensor } {
  const what = 'rmsNormForward';
  const g = rmsGeometry(what, x, opts.heads, opts.dim, opts.rows);
  const dtype = floatDtypeOf(what, g.x);
  affineCheck(what, 'scale', opts.scale, opts.dim);
  if (opts.out) {
    checkOut(what, opts.out, g.shape, dtype);
  }
  const y = opts.out ?? ctx.empty(g.shape, dtype, opts.label ?? 'rmsnorm-y');
  const rstd = ctx.empty([g.set.rows * g.set.heads], 'f32', 'rmsnorm-rstd');
  runForward(ctx, {
    set: g.set,
    dtype,
    wg: opts.workgroup ?? normTrainWorkgroup(ctx.caps),
    x: g.x,
    weight: opts.scale,
    bias: undefined,
    y,
    mean: null,
    rstd,
    rms: true,
    eps: opts.eps ?? 1e-6,
    label: opts.label,
    maxBindingBytes: opts.maxBindingBytes,
  });
  return { y, rstd };
}

/** A dx target that may be a strided row view (the gradient of a view into qkv). */
export interface RowsGradTarget extends GradTarget {
  /** Elements from one row to the next in `tensor` (default H·d: contiguous). */
  stride?: number;
  /** Element of row 0 (default 0). */
  offset?: number;
}

export interface RmsNormBackwardOptions {
  heads: number;
  dim: number;
  /** The forward's scale [d] f32 (then dscale is computed). */
  scale?: Tensor;
  /** Rows R of a strided view (as in the forward). */
  rows?: number;
  /** Where dx goes (f32; default a fresh [R, H·d]); null: not computed. */
  dx?: RowsGradTarget | null;
  /** [d] f32 target of Σ_{r,h} dy⊙x̂ (needs `scale`). */
  dscale?: GradTarget;
  /** Rows R per column-sum block (tests): default from the adapter and the shape. */
  rowsPerBlock?: number;
  /** Force a workgroup size (tests, bench): one of {@link NORM_TRAIN_WORKGROUPS}. */
  workgroup?: number;
  label?: string;
  /** A binding limit below the device's (bytes), so tests reach the row-chunked path at small sizes. */
  maxBindingBytes?: number;
}

/**
 * RMSNorm backward. With g = dy ⊙ scale (dy without scale) and x̂ = x·rstd, per (r, h):
 * dx = rstd·g − rstd³·x·mean_k(g⊙x); dscale[k] = Σ_{r,h} dy⊙x̂ (two-pass, deterministic).
 *
 * @param dy `[R, H·d]` f32 (y's shape)
 * @param x the forward's input (tensor or row view), f32 or f16
 * @param rstd `[R·H]` f32 from {@link rmsNormForward}
 * @returns dx (f32; `=` or `+=` per its target, in its layout) and dscale ([d] f32)
 */
export function rmsNormBackward(
  ctx: GpuContext,
  dy: Tensor,
  x: RmsRows,
  rstd: Tensor,
  opts: RmsNormBackwardOptions,
): { dx: Tensor | null; dscale?: Tensor } {
  const what = 'rmsNormBackward';
  const g = rmsGeometry(what, x, opts.heads, opts.dim, opts.rows);
  const dtype = floatDtypeOf(what, g.x);
  const { rows, heads, dim } = g.set;
  const width = heads * dim;
  if (dy.dtype !== 'f32' || dy.numel !== rows * width) {
    throw new ShapeError(`${what}: dy ${dy.toString()} must be [${rows}, ${width}] f32`);
  }
  checkF32(`${what} rstd`, rstd, rows * heads, `[${rows * heads}]`);
  affineCheck(what, 'scale', opts.scale, dim);
  if (opts.dscale && !opts.scale) {
    throw new ShapeError(`${what}: a dscale target needs the forward's scale; pass opts.scale`);
  }
  let dx: { tensor: Tensor; accumulate: boolean; stride: number; offset: number } | null = null;
  if (opts.dx === undefined) {
    dx = { tensor: ctx.empty(dy.shape, 'f32', 'rmsnorm-dx'), accumulate: false, stride: width, offset: 0 };
  } else if (opts.dx) {
    const t = opts.dx;
    const stride = t.stride ?? width;
    const offset = t.offset ?? 0;
    if (
      t.tensor.dtype !== 'f32' ||
      offset + width > stride ||
      (rows > 0 && (rows - 1) * stride + offset + width > t.tensor.numel)
    ) {
      throw new ShapeError(
        `${what}: dx ${t.tensor.toString()} (stride ${stride}, offset ${offset}) must be f32 and hold ${rows} rows × ${width}`,
      );
    }
    dx = { tensor: t.tensor, accumulate: t.accumulate, stride, offset };
  }
  const dscale = opts.scale ? gradOut(ctx, `${what} dscale`, opts.dscale, [dim], 'rmsnorm-dscale') : null;
  runBackward(ctx, {
    set: g.set,
    dtype,
    wg: opts.workgroup ?? normTrainWorkgroup(ctx.caps),
    x: g.x,
    dy,
    mean: null,
    rstd,
    weight: opts.scale,
    rms: true,
    dx,
    sums: dscale ? { a: dscale, b: null } : null,
    rowsPerBlock: opts.rowsPerBlock,
    label: opts.label,
    maxBindingBytes: opts.maxBindingBytes,
  });
  return { dx: dx?.tensor ?? null, ...(dscale ? { dscale: dscale.tensor } : {}) };
}
