// Grouped column sums in two deterministic passes (partials of row blocks, then a fixed-order
// reduction of the partials; no atomics): bias gradients, norm scale/shift gradients,
// positional-embedding gradients. Output and partials are f32 for any input dtype.

import type { GpuContext } from '../gpu/context.js';
import { defineKernelFamily, type DeviceCaps } from '../wgsl/family.js';
import { bytesPerElement, type FloatDType } from '../tensor/dtype.js';
import { formatShape, ShapeError } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';
import { ceilDiv, floatDtypeOf, fold, type GradTarget } from './common.js';

export interface ColsumVariant {
  /** Storage of x (and y): the output is always f32. */
  readonly dtype: FloatDType;
  /** Four columns per invocation through vec4 loads (C a multiple of 4). */
  readonly vec4: boolean;
  /** Invocations per workgroup (colsumWorkgroup: 64 on software adapters, 256 on GPUs). */
  readonly wg: number;
}

/** Params.flags bits (kernels/colsum.wgsl). */
export const COLSUM_FLAGS = { final: 1, accumulate: 2, mul: 4 } as const;

/** Invocations per workgroup: 64 on software adapters (2 cores), 256 on GPUs. */
export function colsumWorkgroup(caps: DeviceCaps): number {
  const wg = caps.isSoftware ? 64 : 256;
  return Math.min(wg, 2 ** Math.floor(Math.log2(caps.limits.maxComputeInvocationsPerWorkgroup)));
}

export const colsumFamily = defineKernelFamily<ColsumVariant>()({
  name: 'colsum',
  file: 'colsum.wgsl',
  bindings: [
    { name: 'x', access: 'read' },
    { name: 'y', access: 'read' },
    { name: 'out', access: 'read_write' },
  ],
  params: [
    ['groups', 'u32'],
    ['rows', 'u32'],
    ['cols', 'u32'],
    ['group_stride', 'u32'],
    ['x_offset', 'u32'],
    ['block_rows', 'u32'],
    ['blocks', 'u32'],
    ['block_offset', 'u32'],
    ['group_offset', 'u32'],
    ['col_lanes', 'u32'],
    ['col_tiles', 'u32'],
    ['flags', 'u32'],
    ['scale', 'f32'],
  ],
  defines: (v) => ({ F16: v.dtype === 'f16', VEC4: v.vec4 }),
  overrides: (v) => ({ WG: v.wg }),
  variantName: (v) => `${v.dtype}${v.vec4 ? '_v4' : ''}_wg${v.wg}`,
  variants: () =>
    (['f32', 'f16'] as const).flatMap((dtype) =>
      [false, true].flatMap((vec4) => [64, 256].map((wg) => ({ dtype, vec4, wg }))),
    ),
});

/**
 * Tolerances vs the f64 reference, per output: |got − ref| ≤ atol + rtol · Σ_r |x[g, r, c]| (the
 * sum of the terms' magnitudes, not |ref|: a sum of many terms that nearly cancel is only as
 * accurate as its largest partial sums; plus |out_old| with accumulate). f16 inputs are exact in
 * f32, so the same bound holds for them.
 */
export const tolerance = { f32: { atol: 1e-6, rtol: 1e-5 }, f16: { atol: 1e-6, rtol: 1e-5 } } as const;

const nextPow2 = (n: number): number => 2 ** Math.ceil(Math.log2(Math.max(1, n)));

/** How one column sum is split: see kernels/colsum.wgsl. */
export interface ColsumPlan {
  /** Invocations per workgroup. */
  wg: number;
  /** Pass 1 (or the single pass when blocks = 1): columns per workgroup tile. */
  colLanes: number;
  /** Rows per block and blocks per group; blocks = 1 means one pass over x. */
  blockRows: number;
  blocks: number;
  /** Columns per tile of the final pass over the partials [G, blocks, C]. */
  finalColLanes: number;
}

/**
 * The split for x viewed as [G, R, C] (C in kernel columns: vec4s when VEC4) on this adapter.
 * Pass 1 takes column tiles of up to 64 lanes (a row segment of 256 B or 1 KiB: coalesced; on a
 * GPU's 256-invocation workgroup the other lanes are 4 row lanes) and enough row blocks for about
 * `target` workgroups (2048 on GPUs, 64 on software adapters), with at least `minRows` rows per
 * row lane and at most 256 blocks (the final pass reads ≤ 256 partials per column);
 * `maxBlockRows` caps a block at what one binding holds. The final pass trades column lanes for
 * row lanes so each invocation sums ~16 partials. Depends on the shape and the adapter kind only
 * (so results are reproducible).
 */
export function colsumPlan(caps: DeviceCaps, G: number, R: number, C: number, maxBlockRows = Infinity): ColsumPlan {
  const wg = colsumWorkgroup(caps);
  const colLanes = Math.min(nextPow2(C), wg, 64);
  const rowLanes = wg / colLanes;
  const colTiles = ceilDiv(C, colLanes);
  const target = caps.isSoftware ? 64 : 2048;
  const minRows = caps.isSoftware ? 64 : 16;
  let blocks = Math.min(ceilDiv(target, G * colTiles), ceilDiv(R, rowLanes * minRows), 256);
  blocks = Math.max(blocks, ceilDiv(R, maxBlockRows), 1);
  const blockRows = Math.min(ceilDiv(R, blocks), maxBlockRows);
  blocks = ceilDiv(R, blockRows);
  const wantRowLanes = nextPow2(ceilDiv(blocks, 16));
  const finalColLanes = Math.min(nextPow2(C), wg, Math.max(Math.min(32, wg), wg / wantRowLanes));
  return { wg, colLanes, blockRows, blocks, finalColLanes };
}

export interface ColsumOptions {
  /** G: x is viewed as [G, R, C] (default 1). */
  groups?: number;
  /** R: rows per group (default: x's last dimension is C, R = numel / (G·C)). */
  rows?: number;
  /** Factor applied to the sums (default 1; 1/R gives column means). */
  scale?: number;
  /** Sum the products x ⊙ times instead (same shape and dtype as x): Σ_r x·y without a temporary. */
  times?: Tensor;
  /**
   * Where the result goes: a tensor (overwritten), or a GradTarget ({tensor, accumulate}: +=
   * when accumulate). f32 with G·C elements. Absent: a fresh f32 tensor [C] (G = 1) or [G, C].
   */
  out?: GradTarget | Tensor;
  label?: string;
  /** A binding limit below the device's (bytes), so tests reach the chunked paths at small sizes. */
  maxBindingBytes?: number;
  /** Plan as on another adapter kind (tests: the GPU plan and workgroup run on a software adapter). */
  planCaps?: DeviceCaps;
}

/**
 * Grouped column sum, deterministic (two passes, no atomics), f32 accumulation and output:
 *
 *   out[g, c] = scale · Σ_{r<R} x[g, r, c]        (x viewed as [G, R, C], row-major)
 *
 * (or `+=` into a GradTarget with accumulate; `times`: Σ x[g,r,c]·y[g,r,c]). Bias gradient of a
 * linear layer with dY [R, OUT]: `colSum(ctx, dY)` → db [OUT]. Inputs f32 or f16; the result is
 * f32 for both (gradients stay f32). Tensors larger than one storage binding are summed in row
 * or group chunks (views) into the same partials. The summation order depends only on the shape
 * and the adapter kind, so the same sum is bit-identical from run to run.
 *
 * @param x any shape with G·R·C elements (contiguous)
 * @returns out: [C] for G = 1, [G, C] otherwise (or the caller's tensor)
 */
export function colSum(ctx: GpuContext, x: Tensor, opts: ColsumOptions = {}): Tensor {
  const dtype = floatDtypeOf('colSum', x);
  const G = opts.groups ?? 1;
  const last = x.shape[x.shape.length - 1] ?? 1;
  const R = opts.rows ?? x.numel / (G * last);
  const C = x.numel / (G * R);
  for (const [name, v] of [
    ['groups', G],
    ['rows', R],
    ['cols', C],
  ] as const) {
    if (!Number.isInteger(v) || v < 1) {
      throw new ShapeError(
        `colSum: x ${formatShape(x.shape)} (${x.numel} elements) cannot be viewed as [groups ${G}, rows ${opts.rows ?? '?'}, cols] ` +
          `(${name} = ${v}); pass groups and rows that divide the element count`,
      );
    }
  }
  if (opts.times && (opts.times.numel !== x.numel || opts.times.dtype !== x.dtype)) {
    throw new ShapeError(`colSum: times ${opts.times.toString()} must match x ${x.toString()} (shape and dtype)`);
  }
  const target: GradTarget | null = !opts.out
    ? null
    : 'accumulate' in opts.out
      ? opts.out
      : { tensor: opts.out, accumulate: false };
  const outShape = G === 1 ? [C] : [G, C];
  if (target && (target.tensor.numel !== G * C || target.tensor.dtype !== 'f32')) {
    throw new ShapeError(
      `colSum: out ${target.tensor.toString()} must be f32 with ${G * C} elements (${formatShape(outShape)}): the sums are f32 for any input dtype`,
    );
  }
  const out = target?.tensor ?? ctx.empty(outShape, 'f32', opts.label ?? 'colsum');
  const accumulate = target?.accumulate ?? false;
  const lim = ctx.caps.limits;
  const es = bytesPerElement(dtype);
  const align = lim.minStorageBufferOffsetAlignment;
  // The largest x chunk one binding holds (after aligning its start down).
  const maxBinding = Math.min(opts.maxBindingBytes ?? Infinity, lim.maxStorageBufferBindingSize);
  const fitElems = Math.floor((maxBinding - align) / es);
  const whole = Math.ceil(x.byteLength / 4) * 4 <= maxBinding;
  const groupFits = R * C <= fitElems;
  const maxBlockRows = whole || groupFits ? Infinity : Math.floor(fitElems / C);
  if (!(maxBlockRows >= 1)) {
    throw new ShapeError(`colSum: one row of x (${C} elements) does not fit a storage binding`);
  }
  // Kernel columns: vec4 groups of four when C allows (every chunk then starts on a vec4 too).
  const vec4 = C % 4 === 0;
  const w = vec4 ? 4 : 1;
  const KC = C / w;
  const plan = colsumPlan(opts.planCaps ?? ctx.caps, G, R, KC, maxBlockRows);
  const final = plan.blocks === 1;
  const scale = opts.scale ?? 1;
  const flagsOf = (isFinal: boolean): number =>
    (isFinal ? COLSUM_FLAGS.final | (accumulate ? COLSUM_FLAGS.accumulate : 0) : 0) |
    (opts.times ? COLSUM_FLAGS.mul : 0);
  const partials = final ? out : ctx.empty([G * plan.blocks, C], 'f32', `${opts.label ?? 'colsum'}.partials`);
  const label = opts.label ?? 'colsum';

  // Pass 1 over x, in chunks of whole groups or of block-aligned rows when x exceeds a binding.
  const pass1 = (g0: number, groups: number, r0: number, rows: number): void => {
    const e0 = (g0 * R + r0) * C;
    const start = whole ? 0 : Math.floor((e0 * es) / align) * (align / es);
    const len = whole ? x.numel : Math.min(x.numel - start, e0 - start + ((groups - 1) * R + rows) * C);
    const view = (t: Tensor): Tensor => (whole ? t : t.view(start, [len]));
    const xv = view(x);
    const yv = opts.times ? view(opts.times) : ctx.dummy(dtype);
    const colTiles = ceilDiv(KC, plan.colLanes);
    ctx.dispatch(
      colsumFamily,
      { dtype, vec4, wg: plan.wg },
      {
        bindings: { x: xv, y: yv, out: partials },
        params: {
          groups,
          rows,
          cols: KC,
          group_stride: R * KC,
          x_offset: (e0 - start) / w,
          block_rows: plan.blockRows,
          blocks: plan.blocks,
          block_offset: r0 / plan.blockRows,
          group_offset: g0,
          col_lanes: plan.colLanes,
          col_tiles: colTiles,
          flags: flagsOf(final),
          scale,
        },
        workgroups: fold(groups * ceilDiv(rows, plan.blockRows) * colTiles),
        label: final ? label : `${label}.pass1`,
      },
    );
    if (!whole) {
      xv.dispose();
      if (opts.times) {
        yv.dispose();
      }
    }
  };
  if (whole) {
    pass1(0, G, 0, R);
  } else if (groupFits) {
    const per = Math.max(1, Math.floor(fitElems / (R * C)));
    for (let g0 = 0; g0 < G; g0 += per) {
      pass1(g0, Math.min(per, G - g0), 0, R);
    }
  } else {
    const chunkRows = Math.floor(maxBlockRows / plan.blockRows) * plan.blockRows;
    for (let g = 0; g < G; g++) {
      for (let r0 = 0; r0 < R; r0 += chunkRows) {
        pass1(g, 1, r0, Math.min(chunkRows, R - r0));
      }
    }
  }
  if (final) {
    return out;
  }
  // Pass 2: the partials [G, blocks, C] summed in one block per group, scaled, into out.
  const colTiles = ceilDiv(KC, plan.finalColLanes);
  ctx.dispatch(
    colsumFamily,
    { dtype: 'f32', vec4, wg: plan.wg },
    {
      bindings: { x: partials, y: ctx.dummy('f32'), out },
      params: {
        groups: G,
        rows: plan.blocks,
        cols: KC,
        group_stride: plan.blocks * KC,
        x_offset: 0,
        block_rows: plan.blocks,
        blocks: 1,
        block_offset: 0,
        group_offset: 0,
        col_lanes: plan.finalColLanes,
        col_tiles: colTiles,
        flags: COLSUM_FLAGS.final | (accumulate ? COLSUM_FLAGS.accumulate : 0),
        scale,
      },
      workgroups: fold(G * colTiles),
      label: `${label}.pass2`,
    },
  );
  partials.dispose();
  return out;
}

/**
 * Sum over several axes of x (any order of kept and summed axes), as a sequence of colSum calls
 * on contiguous runs of summed axes, the largest run first: each call views the current tensor
 * as [G = Π kept axes before the run, R = Π the run, C = Π axes after it]. Only the last call
 * applies `scale` and writes `out` (+= with a GradTarget that accumulates); the others write f32
 * temporaries, which are released.
 *
 * Positional-embedding gradient of pe [T, C] broadcast over dy [B, T, N, C]:
 * `sumOverAxes(ctx, dy, [0, 2])` → dpe [T, C], dpe[t, c] = Σ_b Σ_n dy[b, t, n, c] (two calls:
 * [B·T, N, C] → [B·T, C], then [1, B, T·C] → [T·C]).
 *
 * @param axes the summed axes of x.shape (distinct, in range)
 * @returns the kept axes' shape (or [1] when every axis is summed), f32
 */
export function sumOverAxes(
  ctx: GpuContext,
  x: Tensor,
  axes: readonly number[],
  opts: Omit<ColsumOptions, 'groups' | 'rows' | 'times' | 'maxBindingBytes' | 'planCaps'> = {},
): Tensor {
  const rank = x.shape.length;
  const summed = new Set(axes);
  if (summed.size !== axes.length || axes.some((a) => !Number.isInteger(a) || a < 0 || a >= rank)) {
    throw new ShapeError(`sumOverAxes: axes [${axes.join(', ')}] must be distinct axes of x ${formatShape(x.shape)}`);
  }
  // Runs of equal summed-ness: { size, summed }.
  let runs: { size: number; summed: boolean }[] = [];
  x.shape.forEach((d, i) => {
    const s = summed.has(i);
    const lastRun = runs[runs.length - 1];
    if (lastRun && lastRun.summed === s) {
      lastRun.size *= d;
    } else {
      runs.push({ size: d, summed: s });
    }
  });
  const keptShape = x.shape.filter((_, i) => !summed.has(i));
  const outShape = keptShape.length ? keptShape : [1];
  const reductions = runs.filter((r) => r.summed).length;
  if (reductions === 0) {
    throw new ShapeError('sumOverAxes: no axes to sum (pass at least one axis)');
  }
  const label = opts.label ?? 'sum-over-axes';
  const out = opts.out ?? ctx.empty(outShape, 'f32', label);
  let cur = x;
  for (let k = 0; k < reductions; k++) {
    const summedRuns = runs.map((r, i) => ({ ...r, i })).filter((r) => r.summed);
    const pick = summedRuns.reduce((a, b) => (b.size > a.size ? b : a));
    const before = runs.slice(0, pick.i).reduce((p, r) => p * r.size, 1);
    const last = k === reductions - 1;
    const next = colSum(ctx, cur, {
      groups: before,
      rows: pick.size,
      ...(last ? { scale: opts.scale ?? 1, out } : {}),
      label,
    });
    if (cur !== x) {
      cur.dispose();
    }
    cur = next;
    // Remove the run and merge its neighbours when both are kept.
    const merged: { size: number; summed: boolean }[] = [];
    runs.forEach((r, i) => {
      if (i === pick.i) {
        return;
      }
      const prev = merged[merged.length - 1];
      if (prev && prev.summed === r.summed) {
        prev.size *= r.size;
      } else {
        merged.push({ ...r });
      }
    });
    runs = merged;
  }
  return cur;
}
