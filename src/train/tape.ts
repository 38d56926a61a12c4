// A small tape for reverse-mode autograd over GPU tensors (readout heads now; the W.A.L.T
// denoiser later: it needs new ops, not a new design).
//
// The accumulation rule (llm.c): a backward writes `+=` into parameter gradients (they live in
// a persistent arena, zeroed once per optimiser step, so micro-batches accumulate) and `=` into
// an activation's gradient for its first contribution, `+=` for later ones (an activation used
// by several ops). Ops either write into `target(v)` with their kernels' accumulate flag
// (matmul's C += A·B, colsum, norm backward), or hand over a fresh tensor with `contribute(v, g)`
// (adopted as the gradient when it is the first, added otherwise).
//
// Ownership: every tensor an op creates through the tape (outputs, saved values, activation
// gradients) belongs to the tape and is disposed by dispose(); parameters, their gradients and
// constants (the frozen backbone features) belong to the caller. No float atomics anywhere: each
// gradient element has one writer per kernel, so gradients are bit-identical across runs.

import type { GpuContext } from '../gpu/context.js';
import { add } from '../kernels/elementwise.js';
import type { GradTarget } from '../kernels/common.js';
import { ShapeError } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';

/** A value on the tape: its tensor and whether gradients flow to it. */
export class Var {
  /** The gradient's tensor once something wrote it (activation) or always (parameter). */
  grad: Tensor | null;
  /** True once the gradient holds a contribution (the next one accumulates). */
  written: boolean;

  constructor(
    readonly value: Tensor,
    readonly requiresGrad: boolean,
    /** Parameter gradient (persistent, caller-owned); null for activations and constants. */
    paramGrad: Tensor | null = null,
    readonly name = '',
  ) {
    this.grad = paramGrad;
    this.written = paramGrad !== null;
  }

  get shape(): readonly number[] {
    return this.value.shape;
  }
}

interface Node {
  op: string;
  out: Var;
  backward: (gOut: Tensor) => void;
}

export class Tape {
  private readonly nodes: Node[] = [];
  private readonly owned = new Set<Tensor>();
  private done = false;

  constructor(readonly ctx: GpuContext) {}

  /** A frozen input (features, targets): no gradient. */
  constant(t: Tensor, name = ''): Var {
    return new Var(t, false, null, name);
  }

  /** A trainable parameter with its persistent gradient (zeroed by the optimiser, then +=). */
  param(value: Tensor, grad: Tensor, name = ''): Var {
    if (grad.numel !== value.numel) {
      throw new ShapeError(`param ${name}: gradient ${grad.toString()} does not match ${value.toString()}`);
    }
    return new Var(value, true, grad, name);
  }

  /** Registers a tensor the tape owns (an op's output or a saved value). */
  keep(t: Tensor): Tensor {
    this.owned.add(t);
    return t;
  }

  /** An op's output: owned by the tape; requires grad when any input does. */
  output(t: Tensor, inputs: readonly Var[], name = ''): Var {
    this.keep(t);
    return new Var(
      t,
      inputs.some((v) => v.requiresGrad),
      null,
      name,
    );
  }

  /** Records the backward of the op that produced `out` (skipped when `out` needs no gradient). */
  record(op: string, out: Var, backward: (gOut: Tensor) => void): void {
    if (this.done) {
      throw new Error(`tape: ${op} recorded after backward(); use a new tape per step`);
    }
    if (out.requiresGrad) {
      this.nodes.push({ op, out, backward });
    }
  }

  /**
   * Where a kernel writes v's gradient: null when v needs none; an activation's gradient is
   * allocated at its first contribution (accumulate false), later ones accumulate.
   */
  target(v: Var): GradTarget | null {
    if (!v.requiresGrad) {
      return null;
    }
    if (!v.grad) {
      v.grad = this.keep(this.ctx.empty(v.value.shape, 'f32', `d(${v.name || v.value.label})`));
    }
    const t = { tensor: v.grad, accumulate: v.written };
    v.written = true;
    return t;
  }

  /**
   * Like target(), but a new activation gradient starts zeroed and the target always
   * accumulates: for kernels that write only part of the gradient (one column of logits).
   */
  accumulator(v: Var): GradTarget | null {
    if (!v.requiresGrad) {
      return null;
    }
    if (!v.grad) {
      v.grad = this.keep(this.ctx.zeros(v.value.shape, 'f32', `d(${v.name || v.value.label})`));
    } else if (!v.written) {
      this.ctx.clear(v.grad);
    }
    v.written = true;
    return { tensor: v.grad, accumulate: true };
  }

  /** Adds a fresh gradient tensor `g` to v's gradient (adopting it when it is the first). */
  contribute(v: Var, g: Tensor): void {
    if (!v.requiresGrad) {
      g.dispose();
      return;
    }
    if (g.numel !== v.value.numel) {
      throw new ShapeError(`tape: gradient ${g.toString()} for ${v.value.toString()}`);
    }
    if (!v.written) {
      v.grad = this.keep(g.shape === v.value.shape ? g : g.reshape(v.value.shape));
      if (v.grad !== g) {
        g.dispose();
      }
      v.written = true;
      return;
    }
    const sum = add(this.ctx, v.grad!, g.reshape(v.grad!.shape));
    this.ctx.copy(sum, v.grad!);
    sum.dispose();
    g.dispose();
  }

  /**
   * Walks the tape in reverse. Loss ops (src/train/ops.ts) write their inputs' gradients in the
   * same kernel as their value, at forward time, and add their value into a caller-owned
   * objective scalar; so backward needs no seed. With `loss` (a Var that is not a loss op's
   * input), it is seeded with `seed` (default ones) first.
   */
  backward(loss?: Var, seed?: Tensor): void {
    if (this.done) {
      throw new Error('tape: backward() called twice');
    }
    this.done = true;
    if (loss && !loss.written) {
      const ones = seed ?? this.ctx.upload(new Float32Array(loss.value.numel).fill(1), loss.value.shape);
      this.contribute(loss, ones);
    }
    for (let i = this.nodes.length - 1; i >= 0; i--) {
      const n = this.nodes[i]!;
      if (n.out.written && n.out.grad) {
        n.backward(n.out.grad);
      }
    }
  }

  /** Number of recorded ops (for reports). */
  get length(): number {
    return this.nodes.length;
  }

  /** Disposes every tensor the tape owns (outputs, saved values, activation gradients). */
  dispose(): void {
    for (const t of this.owned) {
      t.dispose();
    }
    this.owned.clear();
    this.nodes.length = 0;
  }
}
