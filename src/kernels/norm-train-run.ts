// The dispatch engine shared by the LayerNorm and RMSNorm training wrappers: a set of normalised
// rows (outer rows × heads at a stride and offset), chunking of the rows so that every binding stays
// within the device's limit, the forward (y and the f32 statistics) and the backward (dx, and the
// two-pass deterministic column sums: per-block partials, then a fixed-order reduce), and the
// argument checks both wrappers use.

import type { GpuContext } from '../gpu/context.js';
import type { DeviceCaps } from '../wgsl/family.js';
import { bytesPerElement, type FloatDType } from '../tensor/dtype.js';
import { ShapeError, type Shape } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';
import { colSum } from './colsum.js';
import { ceilDiv, checkOut, fold, type GradTarget } from './common.js';
import { nextPow2, NORM_TRAIN_FLAGS, normTrainFamily, rowLanes } from './norm-train-family.js';

/** Whether every row, stride and offset allows vec4 loads (and every binding holds whole vec4s). */
function canVec4(set: RowSet, x: Tensor): boolean {
  return set.dim % 4 === 0 && set.stride % 4 === 0 && set.offset % 4 === 0 && x.numel % 4 === 0;
}

/** Where the normalised rows are: outer row r, inner row h (head) at offset + r·stride + h·dim. */
export interface RowSet {
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

/** Checks that `t` is an f32 tensor of `n` elements (`shape` describes it in the message). */
export function checkF32(what: string, t: Tensor, n: number, shape: string): void {
  if (t.dtype !== 'f32' || t.numel !== n) {
    throw new ShapeError(`${what}: ${t.toString()} must be ${shape} f32 (${n} elements)`);
  }
}

/** The dispatch label option, when a label is given. */
export function labelArg(label: string | undefined): { label?: string } {
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

export interface ForwardArgs {
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

/** Normalises the rows of `a.set` into `a.y`, saving rstd (and, for LayerNorm, the mean). */
export function runForward(ctx: GpuContext, a: ForwardArgs): void {
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

export interface BackwardArgs {
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

/** dx and/or the column sums of the rows of `a.set` (the sums in one or two passes). */
export function runBackward(ctx: GpuContext, a: BackwardArgs): void {
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

/** The gradient target to write: the caller's (checked against `shape`, f32), else a fresh tensor. */
export function gradOut(
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

/** Checks an optional affine tensor (weight, bias, scale): `[n]` f32. */
export function affineCheck(what: string, name: string, t: Tensor | undefined, n: number): void {
  if (t && (t.dtype !== 'f32' || t.numel !== n || t.shape.length !== 1)) {
    throw new ShapeError(`${what}: ${name} ${t.toString()} must be [${n}] f32`);
  }
}
