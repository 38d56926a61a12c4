// Batched matmul with transposed operands and a fused epilogue (bias, gelu/silu, residual,
// gated residual, or accumulation into the output: C += A·B for gradients), f32 or f16 storage, f32 accumulation. Tile sizes are override constants
// chosen per adapter by the autotuner (src/gpu/autotune.ts).

import type { GpuContext } from '../gpu/context.js';
import { defineKernelFamily, type DeviceCaps } from '../wgsl/family.js';
import { bytesPerElement, type FloatDType } from '../tensor/dtype.js';
import { formatShape, ShapeError } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';
import { ceilDiv, floatDtypeOf } from './common.js';

export type Activation = 'none' | 'gelu' | 'silu';
export type ResidualMode = 'none' | 'add' | 'gated';

export interface MatmulVariant {
  readonly dtype: FloatDType;
  readonly transA: boolean;
  readonly transB: boolean;
}

/** Epilogue bits of Params.flags (kernels/matmul.wgsl). */
export const EPILOGUE_FLAGS = { bias: 1, gelu: 2, silu: 4, residual: 8, gated: 16, accumulate: 32 } as const;

/**
 * Tile configuration. 'subgroup': a workgroup of WG invocations (a multiple of the adapter's
 * largest subgroup) owns TM rows × WG·CV vec4 columns; A is shared within each subgroup by
 * shuffles over K blocks of the real subgroup size (needs the `subgroups` feature). 'portable':
 * TM rows × 4·TN columns per invocation, WG invocations per workgroup. `opaque` hides loop bounds
 * from the compiler (llvmpipe only: GPU compilers would spill the register tile).
 */
export type MatmulTile =
  | { kind: 'subgroup'; TM: number; CV: number; WG: number; opaque: boolean }
  | { kind: 'portable'; TM: number; TN: number; WG: number };

/** Rows and columns one workgroup covers. */
export function tileSpan(t: MatmulTile): { rows: number; cols: number } {
  return t.kind === 'subgroup' ? { rows: t.TM, cols: t.WG * t.CV * 4 } : { rows: t.TM, cols: t.WG * t.TN * 4 };
}

/**
 * Invocations of a subgroup-tile workgroup on this adapter: `lanes` rounded up to a multiple of
 * the largest subgroup the adapter may run (so every subgroup is full), 0 without subgroups.
 */
export function subgroupWorkgroup(caps: DeviceCaps, lanes: number): number {
  const max = caps.subgroupMaxSize || caps.subgroupMinSize;
  if (!caps.subgroups || max < 4) {
    return 0;
  }
  return Math.ceil(Math.max(lanes, max) / max) * max;
}

/**
 * The tile used before (or without) autotuning. llvmpipe (8-lane subgroups): one subgroup per
 * workgroup, 32 × 2 (measured fastest there), loops kept rolled. GPUs: 64 invocations (2 NVIDIA
 * or Apple subgroups, 8 Intel ones, one AMD wave), 16 × 2. No subgroups: the portable tile.
 */
export function defaultTile(caps: DeviceCaps): MatmulTile {
  const wg = subgroupWorkgroup(caps, caps.isSoftware ? 8 : 64);
  if (wg > 0) {
    return { kind: 'subgroup', TM: caps.isSoftware ? 32 : 16, CV: 2, WG: wg, opaque: caps.isSoftware };
  }
  return { kind: 'portable', TM: 8, TN: 4, WG: caps.isSoftware ? 8 : 64 };
}

/** The autotuner's class for a variant: tiles are tuned per dtype on each adapter. */
export function tuningClass(v: Pick<MatmulVariant, 'dtype'>): string {
  return v.dtype;
}

/** The tuned tile for this adapter (see src/tune/autotune.ts), else the default. */
export function tileFor(v: Pick<MatmulVariant, 'dtype'>, caps: DeviceCaps, family = 'matmul'): MatmulTile {
  const t = caps.tuned(family, tuningClass(v));
  if (t && t.kind === 1 && caps.subgroups) {
    return { kind: 'subgroup', TM: t.TM!, CV: t.CV!, WG: t.WG!, opaque: t.opaque === 1 };
  }
  if (t && t.kind === 0) {
    return { kind: 'portable', TM: t.TM!, TN: t.TN!, WG: t.WG! };
  }
  return defaultTile(caps);
}

/** Encodes a tile as numbers for the tuning cache. */
export function tileToRecord(t: MatmulTile): Record<string, number> {
  return t.kind === 'subgroup'
    ? { kind: 1, TM: t.TM, CV: t.CV, WG: t.WG, opaque: t.opaque ? 1 : 0 }
    : { kind: 0, TM: t.TM, TN: t.TN, WG: t.WG };
}

/**
 * The autotuner's candidates on this adapter, likeliest first (the default among them). The
 * portable tile is 4–5× slower than the subgroup tile on llvmpipe (measured): only tried where
 * there are no subgroups, or on hardware where it may win.
 */
export function candidateTiles(caps: DeviceCaps): MatmulTile[] {
  const out: MatmulTile[] = [];
  const shapes: [number, number, number][] = caps.isSoftware
    ? [
        [24, 2, 8],
        [32, 2, 8],
        [16, 2, 8],
        [32, 1, 8],
      ]
    : [
        [16, 2, 64],
        [8, 4, 64],
        [32, 2, 64],
        [16, 4, 128],
      ];
  for (const [TM, CV, lanes] of shapes) {
    const WG = subgroupWorkgroup(caps, lanes);
    if (WG > 0) {
      out.push({ kind: 'subgroup', TM, CV, WG, opaque: caps.isSoftware });
    }
  }
  if (!caps.subgroups || !caps.isSoftware) {
    out.push({ kind: 'portable', TM: 8, TN: 4, WG: caps.isSoftware ? 8 : 64 });
  }
  return out;
}

export interface MatmulVariantWithTile extends MatmulVariant {
  readonly tile: MatmulTile;
}

/** Defines and overrides for a tile (shared with conv3d, which uses the same mapping). */
export function tileDefines(t: MatmulTile): Record<string, string | boolean> {
  return t.kind === 'subgroup'
    ? { SUBGROUP_TILE: true, TM: `${t.TM}u`, CV: `${t.CV}u`, TILE: `${t.TM * t.CV}u`, OPAQUE_LOOPS: t.opaque }
    : {};
}

export function tileOverrides(t: MatmulTile): Record<string, number> {
  return t.kind === 'subgroup' ? { WG: t.WG } : { TM: t.TM, TN: t.TN, WG: t.WG };
}

export function tileName(t: MatmulTile): string {
  return t.kind === 'subgroup' ? `sg${t.WG}x${t.TM}x${t.CV}${t.opaque ? 'o' : ''}` : `p${t.WG}x${t.TM}x${t.TN}`;
}

/** Small tiles of both mappings, both loop modes: the contract test compiles them (conv3d too). */
export const TEST_TILES: readonly MatmulTile[] = [
  { kind: 'subgroup', TM: 4, CV: 1, WG: 8, opaque: true },
  { kind: 'subgroup', TM: 4, CV: 1, WG: 16, opaque: false },
  { kind: 'portable', TM: 4, TN: 2, WG: 8 },
];

export const matmulFamily = defineKernelFamily<MatmulVariantWithTile>()({
  name: 'matmul',
  file: 'matmul.wgsl',
  bindings: [
    { name: 'a', access: 'read' },
    { name: 'b', access: 'read' },
    { name: 'bias', access: 'read' },
    { name: 'res', access: 'read' },
    { name: 'gate', access: 'read' },
    { name: 'c', access: 'read_write' },
  ],
  params: [
    ['m', 'u32'],
    ['n', 'u32'],
    ['k', 'u32'],
    ['stride_a', 'u32'],
    ['stride_b', 'u32'],
    ['stride_c', 'u32'],
    ['rows_per_gate', 'u32'],
    ['flags', 'u32'],
    ['gate_stride', 'u32'],
    ['gate_offset', 'u32'],
    ['opaque', 'u32'],
  ],
  defines: (v) => ({ F16: v.dtype === 'f16', TRANS_A: v.transA, TRANS_B: v.transB, ...tileDefines(v.tile) }),
  overrides: (v) => tileOverrides(v.tile),
  variantName: (v) => [v.dtype, v.transA ? 'ta' : '', v.transB ? 'tb' : '', tileName(v.tile)].filter(Boolean).join('_'),
  variants: () => {
    const out: MatmulVariantWithTile[] = [];
    for (const dtype of ['f32', 'f16'] as const) {
      for (const transA of [false, true]) {
        for (const transB of [false, true]) {
          for (const tile of TEST_TILES) {
            out.push({ dtype, transA, transB, tile });
          }
        }
      }
    }
    return out;
  },
});

/** Tolerances vs the f64 reference: f32 relative to sqrt(K)-scaled magnitudes; f16 by ratio. */
export const tolerance = { f32: { atol: 1e-5, rtol: 1e-4, nmse: 1e-9 }, f16: { ratioToRef: 2 } } as const;

export interface MatmulOptions {
  transA?: boolean;
  transB?: boolean;
  bias?: Tensor;
  act?: Activation;
  /** RESIDUAL: out = residual + epi(A·B). */
  residual?: Tensor;
  /**
   * GATED: out = residual + g_s ⊙ epi(A·B) with g_s = gate[s·gateStride + gateOffset …+N],
   * s = row / rowsPerGate (defaults: a contiguous (S, N) gate).
   */
  gate?: Tensor;
  rowsPerGate?: number;
  gateStride?: number;
  gateOffset?: number;
  out?: Tensor;
  /**
   * ACCUM: out = out + epi(A·B), read-modify-write of the caller's `out` (required), in f32 with
   * one writer per element (deterministic): accumulation into an existing gradient, e.g. a
   * weight gradient summed over micro-batches or over row chunks that exceed a binding. Not with
   * `residual` or `gate` (add the residual into `out` first instead). False or absent: out = epi(A·B).
   */
  accumulate?: boolean;
  /** A binding limit below the device's (bytes), so tests reach the row-chunked paths at small sizes. */
  maxBindingBytes?: number;
  /** Force a tile (autotuner, bench). */
  tile?: MatmulTile;
  label?: string;
}

function dims(t: Tensor, what: string): [number, number, number] {
  if (t.shape.length === 2) {
    return [1, t.shape[0]!, t.shape[1]!];
  }
  if (t.shape.length === 3) {
    return [t.shape[0]!, t.shape[1]!, t.shape[2]!];
  }
  throw new ShapeError(`matmul: ${what} must be 2-D or 3-D (batch, rows, cols), got ${formatShape(t.shape)}`);
}

/**
 * C = epi(A·B), or C += epi(A·B) with `accumulate`. A (M, K) or (Z, M, K) [transA: (.., K, M)];
 * B (K, N) or (Z, K, N) [transB: (.., N, K)]; a 2-D operand is shared by every batch element.
 * Returns C (Z?, M, N) (`out` when given).
 *
 * Linear backward with a PyTorch weight W [OUT, IN], dY [R, OUT], X [R, IN]:
 * dX = dY·W is `matmul(dY, W)`; dW = dYᵀ·X is `matmul(dY, X, { transA: true })`, with
 * `{ out: dW, accumulate: true }` to add into an existing gradient.
 *
 * 2-D operands larger than one storage binding are split into row chunks (views), one dispatch
 * each: A and C (and the residual) by rows of M when A is not transposed; A and B by rows of K
 * for dW = Aᵀ·B (transA without transB, no epilogue), where every chunk after the first adds
 * into C (so C += Σ_chunks, rounded to C's dtype between chunks).
 */
export function matmul(ctx: GpuContext, a: Tensor, b: Tensor, opts: MatmulOptions = {}): Tensor {
  const limit = Math.min(opts.maxBindingBytes ?? Infinity, ctx.caps.limits.maxStorageBufferBindingSize);
  const big = (t: Tensor | undefined): boolean => t !== undefined && t.byteLength > limit;
  const transA = opts.transA ?? false;
  const transB = opts.transB ?? false;
  const flat = a.shape.length === 2 && b.shape.length === 2;
  if (!flat || !(big(a) || big(b) || big(opts.out) || big(opts.residual))) {
    return matmulOne(ctx, a, b, opts);
  }
  const align = ctx.caps.limits.minStorageBufferOffsetAlignment;
  const es = bytesPerElement(a.dtype);
  // Rows per chunk: a multiple of `step` (so every view starts aligned) of at most `width` elements each.
  const chunkRows = (total: number, widths: number[]): number => {
    const step = widths.reduce((l, w) => lcm(l, align / gcd(align, w * es)), 1);
    const rows = Math.floor(limit / (Math.max(...widths) * es) / step) * step;
    return Math.min(rows, total);
  };
  const rowView = (t: Tensor, r0: number, rows: number): Tensor => {
    const w = t.shape[1]!;
    return t.view(r0 * w, [rows, w]);
  };
  const plain = !opts.bias && (opts.act ?? 'none') === 'none' && !opts.residual && !opts.gate;
  if (transA && !transB && plain && !big(opts.out)) {
    // dW-style: C[M, N] (+)= Σ over K chunks of A[k0:k1, :]ᵀ · B[k0:k1, :].
    const [K, M] = [a.shape[0]!, a.shape[1]!];
    const N = b.shape[1]!;
    const kc = chunkRows(K, [M, N]);
    if (kc > 0 && b.shape[0] === K) {
      const c = opts.out ?? ctx.empty([M, N], floatDtypeOf('matmul', a, b), opts.label ?? 'matmul');
      for (let k0 = 0; k0 < K; k0 += kc) {
        const rows = Math.min(kc, K - k0);
        const av = rowView(a, k0, rows);
        const bv = rowView(b, k0, rows);
        matmulOne(ctx, av, bv, { ...opts, out: c, accumulate: k0 > 0 || (opts.accumulate ?? false) });
        av.dispose();
        bv.dispose();
      }
      return c;
    }
  }
  if (!transA && !opts.gate && !big(b)) {
    // Rows of M: A[m0:m1, :] · B into C[m0:m1, :] (with the residual's rows).
    const [M, K] = [a.shape[0]!, a.shape[1]!];
    const N = transB ? b.shape[0]! : b.shape[1]!;
    const mc = chunkRows(M, [K, N]);
    if (mc > 0 && (!opts.out || opts.out.numel === M * N) && (!opts.residual || opts.residual.numel === M * N)) {
      const c = opts.out ?? ctx.empty([M, N], floatDtypeOf('matmul', a, b), opts.label ?? 'matmul');
      const c2 = c.shape.length === 2 && c.shape[1] === N ? c : c.reshape([M, N]);
      const r2 = opts.residual && opts.residual.shape[1] !== N ? opts.residual.reshape([M, N]) : opts.residual;
      for (let m0 = 0; m0 < M; m0 += mc) {
        const rows = Math.min(mc, M - m0);
        const av = rowView(a, m0, rows);
        const cv = rowView(c2, m0, rows);
        const rv = r2 ? rowView(r2, m0, rows) : undefined;
        matmulOne(ctx, av, b, { ...opts, out: cv, ...(rv ? { residual: rv } : {}) });
        for (const v of [av, cv, rv]) {
          v?.dispose();
        }
      }
      if (c2 !== c) {
        c2.dispose();
      }
      if (r2 && r2 !== opts.residual) {
        r2.dispose();
      }
      return c;
    }
  }
  return matmulOne(ctx, a, b, opts);
}

function gcd(x: number, y: number): number {
  return y === 0 ? x : gcd(y, x % y);
}

function lcm(x: number, y: number): number {
  return (x / gcd(x, y)) * y;
}

/** One dispatch (every operand within a binding). */
function matmulOne(ctx: GpuContext, a: Tensor, b: Tensor, opts: MatmulOptions): Tensor {
  const transA = opts.transA ?? false;
  const transB = opts.transB ?? false;
  const [za, ra, ca] = dims(a, 'A');
  const [zb, rb, cb] = dims(b, 'B');
  const [M, K] = transA ? [ca, ra] : [ra, ca];
  const [Kb, N] = transB ? [cb, rb] : [rb, cb];
  if (K !== Kb) {
    throw new ShapeError(
      `matmul: inner dimensions differ: A ${formatShape(a.shape)}${transA ? 'ᵀ' : ''} · B ${formatShape(b.shape)}${transB ? 'ᵀ' : ''}`,
    );
  }
  if (za !== zb && za !== 1 && zb !== 1) {
    throw new ShapeError(`matmul: batch sizes differ: A ${formatShape(a.shape)}, B ${formatShape(b.shape)}`);
  }
  const Z = Math.max(za, zb);
  const dtype = floatDtypeOf('matmul', a, b);
  const outShape = a.shape.length === 3 || b.shape.length === 3 ? [Z, M, N] : [M, N];
  if (opts.bias && opts.bias.numel !== N) {
    throw new ShapeError(`matmul: bias ${formatShape(opts.bias.shape)} does not have N=${N} elements`);
  }
  const residual: ResidualMode = opts.gate ? 'gated' : opts.residual ? 'add' : 'none';
  const accumulate = opts.accumulate ?? false;
  if (accumulate && !opts.out) {
    throw new ShapeError(
      'matmul: accumulate needs `out`, the tensor to add A·B into (pass out: the existing gradient)',
    );
  }
  if (accumulate && residual !== 'none') {
    throw new ShapeError(
      'matmul: accumulate cannot be combined with residual or gate (out += epi(A·B) already adds into out; add the residual into out first)',
    );
  }
  if (residual !== 'none') {
    if (!opts.residual || opts.residual.numel !== Z * M * N) {
      throw new ShapeError(`matmul: residual must have ${Z}×${M}×${N} elements`);
    }
  }
  const rowsPerGate = opts.rowsPerGate ?? Z * M;
  const gateStride = opts.gateStride ?? N;
  const gateOffset = opts.gateOffset ?? 0;
  if (opts.gate) {
    const samples = (Z * M) / rowsPerGate;
    if (!Number.isInteger(samples) || (samples - 1) * gateStride + gateOffset + N > opts.gate.numel) {
      throw new ShapeError(
        `matmul: gate ${formatShape(opts.gate.shape)} does not hold ${samples} gate vectors of ${N} (stride ${gateStride}, offset ${gateOffset})`,
      );
    }
  }
  const c = opts.out ?? ctx.empty(outShape, dtype, opts.label ?? 'matmul');
  if (c.numel !== Z * M * N) {
    throw new ShapeError(`matmul: out ${formatShape(c.shape)} must have ${Z}×${M}×${N} elements`);
  }
  if (c.dtype !== dtype) {
    throw new ShapeError(`matmul: out ${c.toString()} must be ${dtype} like A and B`);
  }
  const tile = opts.tile ?? tileFor({ dtype }, ctx.caps);
  const variant: MatmulVariantWithTile = { dtype, transA, transB, tile };
  const act = opts.act ?? 'none';
  const flags =
    (opts.bias ? EPILOGUE_FLAGS.bias : 0) |
    (act === 'gelu' ? EPILOGUE_FLAGS.gelu : act === 'silu' ? EPILOGUE_FLAGS.silu : 0) |
    (residual === 'add' ? EPILOGUE_FLAGS.residual : residual === 'gated' ? EPILOGUE_FLAGS.gated : 0) |
    (accumulate ? EPILOGUE_FLAGS.accumulate : 0);
  const span = tileSpan(tile);
  const d = ctx.dummy(dtype);
  ctx.dispatch(matmulFamily, variant, {
    bindings: { a, b, bias: opts.bias ?? d, res: opts.residual ?? d, gate: opts.gate ?? d, c },
    params: {
      m: M,
      n: N,
      k: K,
      stride_a: za === 1 ? 0 : M * K,
      stride_b: zb === 1 ? 0 : K * N,
      stride_c: M * N,
      rows_per_gate: rowsPerGate,
      flags,
      gate_stride: gateStride,
      gate_offset: gateOffset,
      opaque: 0xffffffff,
    },
    workgroups: [ceilDiv(N, span.cols), ceilDiv(M, span.rows), Z],
    ...(opts.label ? { label: opts.label } : {}),
  });
  return c;
}

/** FLOPs of one matmul (2 per multiply-add). */
export function matmulFlops(m: number, n: number, k: number, batch = 1): number {
  return 2 * m * n * k * batch;
}
