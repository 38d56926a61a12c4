// Trainable parameters in four persistent f32 arenas (values, gradients, AdamW m and v): every
// weight is a view at an aligned offset, so zeroing the gradients is one clear, the optimiser is
// one dispatch per binding-sized chunk, and a checkpoint is one readback per arena. The arenas
// are unpooled (ctx.persistent) and mutable; the caller owns them (dispose()).

import type { GpuContext } from '../gpu/context.js';
import { numel } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';
import type { Tape, Var } from './tape.js';

export interface ParamEntry {
  readonly name: string;
  readonly shape: readonly number[];
  /** Element offset in the arenas (a multiple of the storage offset alignment). */
  readonly offset: number;
  readonly numel: number;
}

export class ParamSet {
  readonly entries: readonly ParamEntry[];
  readonly byName: ReadonlyMap<string, ParamEntry>;
  /** Elements per arena, padding included (padding stays zero in every arena). */
  readonly total: number;
  readonly values: Tensor;
  readonly grads: Tensor;
  readonly m: Tensor;
  readonly v: Tensor;
  private readonly views = new Map<string, { value: Tensor; grad: Tensor }>();

  private constructor(
    private readonly ctx: GpuContext,
    entries: ParamEntry[],
    total: number,
  ) {
    this.entries = entries;
    this.byName = new Map(entries.map((e) => [e.name, e]));
    this.total = total;
    this.values = ctx.persistent([total], 'f32', 'params');
    this.grads = ctx.persistent([total], 'f32', 'grads');
    this.m = ctx.persistent([total], 'f32', 'adam-m');
    this.v = ctx.persistent([total], 'f32', 'adam-v');
    for (const e of entries) {
      this.views.set(e.name, {
        value: ctx.detach(this.values.view(e.offset, e.shape)),
        grad: ctx.detach(this.grads.view(e.offset, e.shape)),
      });
    }
  }

  /** Lays out `specs` (in order) and uploads `values` (every name required). */
  static create(
    ctx: GpuContext,
    specs: readonly (readonly [string, readonly number[]])[],
    values: ReadonlyMap<string, Float32Array>,
  ): ParamSet {
    const align = Math.max(1, ctx.caps.limits.minStorageBufferOffsetAlignment / 4);
    let offset = 0;
    const entries: ParamEntry[] = [];
    for (const [name, shape] of specs) {
      const n = numel(shape);
      entries.push({ name, shape, offset, numel: n });
      offset += Math.ceil(n / align) * align;
    }
    const set = new ParamSet(ctx, entries, Math.max(offset, align));
    const host = new Float32Array(set.total);
    for (const e of entries) {
      const v = values.get(e.name);
      if (!v || v.length !== e.numel) {
        throw new Error(`parameter ${e.name}: ${v ? `${v.length} values for ${e.numel}` : 'missing'}`);
      }
      host.set(v, e.offset);
    }
    ctx.writeTensor(set.values, host);
    return set;
  }

  value(name: string): Tensor {
    return this.view(name).value;
  }

  grad(name: string): Tensor {
    return this.view(name).grad;
  }

  private view(name: string): { value: Tensor; grad: Tensor } {
    const v = this.views.get(name);
    if (!v) {
      throw new Error(`no parameter named ${name}`);
    }
    return v;
  }

  /** The parameter as a tape variable (its gradient accumulates into the grad arena). */
  variable(tape: Tape, name: string): Var {
    const v = this.view(name);
    return tape.param(v.value, v.grad, name);
  }

  /** Zeroes every gradient (one clear of the arena). */
  zeroGrads(): void {
    this.ctx.clear(this.grads);
  }

  /** Overwrites the values (e.g. when resuming) from a name → data map. */
  load(values: ReadonlyMap<string, Float32Array>, arena: 'values' | 'm' | 'v' = 'values'): void {
    const host = new Float32Array(this.total);
    for (const e of this.entries) {
      const v = values.get(e.name);
      if (!v || v.length !== e.numel) {
        throw new Error(`parameter ${e.name}: ${v ? `${v.length} values for ${e.numel}` : 'missing'}`);
      }
      host.set(v, e.offset);
    }
    this.ctx.writeTensor(this[arena], host);
  }

  /** One arena read back and split by name (canonical order). */
  async read(arena: 'values' | 'grads' | 'm' | 'v' = 'values'): Promise<Map<string, Float32Array>> {
    const all = await this[arena].read();
    return new Map(this.entries.map((e) => [e.name, all.slice(e.offset, e.offset + e.numel)]));
  }

  dispose(): void {
    for (const v of this.views.values()) {
      v.value.dispose();
      v.grad.dispose();
    }
    this.views.clear();
    for (const t of [this.values, this.grads, this.m, this.v]) {
      t.dispose();
    }
  }
}
