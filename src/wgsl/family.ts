// Kernel families: one WGSL file, its binding table, its Params layout, and the functions that
// turn a typed variant into preprocessor defines and override constants. The pipeline cache key
// is derived from the same (file, entry point, defines, overrides) that produce the source and the
// pipeline, so key and source cannot drift apart (tfjs #2669-class bugs).
//
// The binding names and Params fields are literal types: a dispatch passes `{name: Tensor}` and
// `{field: number}` objects, so a missing, extra or misnamed binding or field is a compile error.

import type { Tensor } from '../tensor/tensor.js';
import type { Defines } from './preprocess.js';

export type ParamType = 'u32' | 'i32' | 'f32';

export interface BindingSpec<N extends string = string> {
  /** WGSL variable name (checked by the contract test). */
  readonly name: N;
  /** 'read' inputs first, then 'read_write' outputs. */
  readonly access: 'read' | 'read_write';
}

/** What a family may read about the device when choosing defines and overrides. */
export interface DeviceCaps {
  readonly limits: GPUSupportedLimits;
  readonly f16: boolean;
  readonly subgroups: boolean;
  /** Smallest and largest subgroup the adapter reports (0 when unknown). */
  readonly subgroupMinSize: number;
  readonly subgroupMaxSize: number;
  readonly isSoftware: boolean;
  /** Tuned values per family and tuning class (see src/gpu/autotune.ts). */
  tuned(family: string, tuningClass: string): Readonly<Record<string, number>> | undefined;
}

export interface KernelFamily<V, B extends string = string, P extends string = string> {
  /** Family name; also the label prefix. */
  readonly name: string;
  /** Path under kernels/, e.g. 'matmul.wgsl'. */
  readonly file: string;
  /** Storage bindings in binding order 0..n-1; `params` (uniform) is binding n. */
  readonly bindings: readonly BindingSpec<B>[];
  /** The WGSL `Params` struct, field by field (4-byte scalars, in order). */
  readonly params: readonly (readonly [P, ParamType])[];
  entryPoint?(v: V): string;
  defines(v: V, caps: DeviceCaps): Defines;
  overrides(v: V, caps: DeviceCaps): Readonly<Record<string, number>>;
  /** Short readable variant name for labels, e.g. 'f16_bias_gelu'. */
  variantName(v: V): string;
  /** Every variant the contract test must compile and reflect. */
  variants(): V[];
}

/** A family with any variant type (registries, contract tests). */
export type AnyFamily = KernelFamily<never, string, string>;

/** The tensors of one dispatch, by binding name. */
export type BindingsOf<B extends string> = { readonly [K in B]: Tensor };
/** The Params values of one dispatch, by field name. */
export type ParamsOf<P extends string> = { readonly [K in P]: number };

/**
 * Defines a family with literal binding and field names: `defineKernelFamily<Variant>()({...})`.
 * (Curried so that the variant type is explicit while the names are inferred.)
 */
export function defineKernelFamily<V>() {
  return <const B extends string, const P extends string>(family: KernelFamily<V, B, P>): KernelFamily<V, B, P> =>
    family;
}

/** JSON with sorted keys: equal objects give equal strings. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) {
    return `[${value.map(canonicalJson).join(',')}]`;
  }
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

export interface ResolvedVariant {
  entryPoint: string;
  defines: Defines;
  overrides: Readonly<Record<string, number>>;
  /** file + defines: identifies the preprocessed source (one shader module). */
  sourceKey: string;
  /** sourceKey + entry point + overrides: identifies the pipeline. */
  pipelineKey: string;
  label: string;
}

export function resolveVariant<V>(
  family: KernelFamily<V, string, string>,
  variant: V,
  caps: DeviceCaps,
): ResolvedVariant {
  const defines = family.defines(variant, caps);
  const overrides = family.overrides(variant, caps);
  const entryPoint = family.entryPoint?.(variant) ?? 'main';
  const sourceKey = `${family.file}|${canonicalJson(defines)}`;
  return {
    entryPoint,
    defines,
    overrides,
    sourceKey,
    pipelineKey: `${sourceKey}|${entryPoint}|${canonicalJson(overrides)}`,
    label: `${family.name}:${family.variantName(variant)}`,
  };
}

/** Byte size of the Params struct: 4 bytes per field, rounded up to 16 (WGSL uniform layout). */
export function paramsByteSize(family: { readonly params: readonly unknown[] }): number {
  return Math.max(16, Math.ceil((family.params.length * 4) / 16) * 16);
}
