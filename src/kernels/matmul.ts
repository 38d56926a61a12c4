// Batched matmul with transposed operands and a fused epilogue (bias, gelu/silu, residual,
// gated residual), f32 or f16 storage, f32 accumulation. Tile sizes are override constants
// chosen per adapter by the autotuner (src/gpu/autotune.ts).

import type { GpuContext } from '../gpu/context.js';
import { defineKernelFamily, type DeviceCaps } from '../gpu/family.js';
import type { FloatDType } from '../tensor/dtype.js';
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
export const EPILOGUE_FLAGS = { bias: 1, gelu: 2, silu: 4, residual: 8, gated: 16 } as const;

/**
 * Tile configuration. 'subgroup': a workgroup is one subgroup of SG lanes owning TM rows × SG·CV
 * vec4 columns (needs the `subgroups` feature). 'portable': TM rows × 4·TN columns per
 * invocation, WG invocations per workgroup.
 */
export type MatmulTile =
  { kind: 'subgroup'; TM: number; CV: number; SG: number } | { kind: 'portable'; TM: number; TN: number; WG: number };

/** Rows and columns one workgroup covers. */
export function tileSpan(t: MatmulTile): { rows: number; cols: number } {
  return t.kind === 'subgroup' ? { rows: t.TM, cols: t.SG * t.CV * 4 } : { rows: t.TM, cols: t.WG * t.TN * 4 };
}

/** The tile used before (or without) autotuning. */
export function defaultTile(caps: DeviceCaps): MatmulTile {
  if (caps.subgroups && caps.subgroupSize >= 4) {
    return { kind: 'subgroup', TM: caps.isSoftware ? 32 : 16, CV: 2, SG: Math.min(caps.subgroupSize, 32) };
  }
  return { kind: 'portable', TM: 8, TN: 4, WG: 8 };
}

/** The autotuner's class for a variant: tiles are tuned per dtype on each adapter. */
export function tuningClass(v: Pick<MatmulVariant, 'dtype'>): string {
  return v.dtype;
}

/** The tuned tile for this adapter (see src/gpu/autotune.ts), else the default. */
export function tileFor(v: Pick<MatmulVariant, 'dtype'>, caps: DeviceCaps, family = 'matmul'): MatmulTile {
  const t = caps.tuned(family, tuningClass(v));
  if (t && t.kind === 1 && caps.subgroups) {
    return { kind: 'subgroup', TM: t.TM!, CV: t.CV!, SG: t.SG! };
  }
  if (t && t.kind === 0) {
    return { kind: 'portable', TM: t.TM!, TN: t.TN!, WG: t.WG! };
  }
  return defaultTile(caps);
}

/** Encodes a tile as numbers for the tuning cache. */
export function tileToRecord(t: MatmulTile): Record<string, number> {
  return t.kind === 'subgroup' ? { kind: 1, TM: t.TM, CV: t.CV, SG: t.SG } : { kind: 0, TM: t.TM, TN: t.TN, WG: t.WG };
}

export interface MatmulVariantWithTile extends MatmulVariant {
  readonly tile: MatmulTile;
}

/** Defines and overrides for a tile (shared with conv3d, which uses the same mapping). */
export function tileDefines(t: MatmulTile): Record<string, string | boolean> {
  return t.kind === 'subgroup' ? { SUBGROUP_TILE: true, TM: `${t.TM}u`, CV: `${t.CV}u`, TILE: `${t.TM * t.CV}u` } : {};
}

export function tileOverrides(t: MatmulTile): Record<string, number> {
  return t.kind === 'subgroup' ? { SG: t.SG } : { TM: t.TM, TN: t.TN, WG: t.WG };
}

export function tileName(t: MatmulTile): string {
  return t.kind === 'subgroup' ? `sg${t.SG}x${t.TM}x${t.CV}` : `p${t.WG}x${t.TM}x${t.TN}`;
}

/** Small tiles of both mappings: the contract test compiles them (also used by conv3d). */
export const TEST_TILES: readonly MatmulTile[] = [
  { kind: 'subgroup', TM: 4, CV: 1, SG: 8 },
  { kind: 'portable', TM: 4, TN: 2, WG: 8 },
];

export const matmulFamily = defineKernelFamily<MatmulVariantWithTile>({
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
 * C = epi(A·B). A (M, K) or (Z, M, K) [transA: (.., K, M)]; B (K, N) or (Z, K, N)
 * [transB: (.., N, K)]; a 2-D operand is shared by every batch element. Returns C (Z?, M, N).
 */
export function matmul(ctx: GpuContext, a: Tensor, b: Tensor, opts: MatmulOptions = {}): Tensor {
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
  const tile = opts.tile ?? tileFor({ dtype }, ctx.caps);
  const variant: MatmulVariantWithTile = { dtype, transA, transB, tile };
  const act = opts.act ?? 'none';
  const flags =
    (opts.bias ? EPILOGUE_FLAGS.bias : 0) |
    (act === 'gelu' ? EPILOGUE_FLAGS.gelu : act === 'silu' ? EPILOGUE_FLAGS.silu : 0) |
    (residual === 'add' ? EPILOGUE_FLAGS.residual : residual === 'gated' ? EPILOGUE_FLAGS.gated : 0);
  const span = tileSpan(tile);
  const d = ctx.dummy(dtype);
  ctx.dispatch(matmulFamily, variant, {
    bindings: [a, b, opts.bias ?? d, opts.residual ?? d, opts.gate ?? d, c],
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
