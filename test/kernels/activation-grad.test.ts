import { describe, expect, it } from 'vitest';
import {
  activationGradFamily,
  geluBackward,
  sigmoidBackward,
  sigmoidForward,
  siluBackward,
  tolerance,
} from '../../src/kernels/activation-grad.js';
import type { GpuContext } from '../../src/gpu/context.js';
import {
  geluTanhBackward,
  sigmoidBackward as sigmoidBackwardRef,
  sigmoidForward as sigmoidForwardRef,
  siluBackward as siluBackwardRef,
} from '../../src/ref/activations.js';
import type { FloatDType } from '../../src/tensor/dtype.js';
import { roundToF16 } from '../../src/tensor/f16.js';
import type { Tensor } from '../../src/tensor/tensor.js';
import { Rng } from '../../src/util/rng.js';
import type { DeviceCaps } from '../../src/wgsl/family.js';
import { adapterKinds, distinct } from '../helpers/adapter-kinds.js';
import { expectClose, expectRatio } from '../helpers/compare.js';
import { gpu } from '../helpers/gpu.js';

const SIZES = [1, 3, 7, 97, 1000, 4097];
const SPECIAL = [0, 1e-8, -1e-8, 0.5, -0.5, 3, -3, 5, -5, 10, -10, 30, -30, 40, -40, 100, -100, 1e4, -1e4];
const SPECIAL_F32 = [...SPECIAL, 1e20, -1e20];

type Op = 'gelu' | 'silu' | 'sigmoid';

const RUN = {
  gelu: geluBackward,
  silu: siluBackward,
  sigmoid: sigmoidBackward,
} as const;

/** f64 reference of the backward, from the saved tensor (x for gelu/silu, y for sigmoid). */
function ref(op: Op, dy: ArrayLike<number>, saved: ArrayLike<number>): Float64Array {
  switch (op) {
    case 'gelu':
      return geluTanhBackward(dy, saved).dx;
    case 'silu':
      return siluBackwardRef(dy, saved).dx;
    case 'sigmoid':
      return sigmoidBackwardRef(dy, saved).dx;
  }
}

/** Inputs of one case: dy, the saved tensor and a prior dx (for accumulate), rounded to storage. */
function inputs(
  op: Op,
  n: number,
  x: FloatDType,
  grad: FloatDType,
): { dy: Float32Array; saved: Float32Array; prior: Float32Array } {
  const rng = new Rng(n, op.length);
  const q = (d: FloatDType, a: Float32Array): Float32Array => (d === 'f16' ? roundToF16(a) : a);
  const xs = rng.normals(n, 3);
  const special = x === 'f16' ? SPECIAL : SPECIAL_F32;
  special.slice(0, n).forEach((v, i) => (xs[i] = v));
  const saved = op === 'sigmoid' ? Float32Array.from(sigmoidForwardRef(xs).y) : xs;
  return { dy: q(grad, rng.normals(n)), saved: q(x, saved), prior: q(grad, rng.normals(n)) };
}

function check(got: Float32Array, want: Float64Array, grad: FloatDType, what: string): void {
  if (grad === 'f32') {
    expectClose(got, want, tolerance.f32, what);
  } else {
    expectRatio(got, want, roundToF16(want), tolerance.f16.ratioToRef, what);
  }
}

async function runOnce(
  ctx: GpuContext,
  op: Op,
  d: { dy: Float32Array; saved: Float32Array; prior: Float32Array },
  x: FloatDType,
  grad: FloatDType,
  accumulate: boolean,
  chunk?: number,
): Promise<Float32Array> {
  return ctx.scope(async () => {
    const n = d.dy.length;
    const tdy = ctx.upload(d.dy, [n], grad);
    const ts = ctx.upload(d.saved, [n], x);
    const dx = accumulate ? ctx.upload(d.prior, [n], grad) : undefined;
    const out = RUN[op](ctx, tdy, ts, {
      ...(dx ? { dx: { tensor: dx, accumulate: true } } : {}),
      ...(chunk ? { chunk } : {}),
    });
    expect(out.dtype).toBe(grad);
    return out.read();
  });
}

/** The context as each adapter kind would run it (its caps pick the launch overrides). */
function kindContexts(ctx: GpuContext, key: (caps: DeviceCaps) => string): { what: string; ctx: GpuContext }[] {
  const kinds = distinct(
    adapterKinds(ctx).map((k) => ({ what: k.name, value: k.caps })),
    key,
  ).map(({ what, value }) => ({ what, ctx: Object.create(ctx, { caps: { value } }) as GpuContext }));
  expect(kinds.length, 'distinct launch configurations').toBeGreaterThan(1);
  return kinds;
}

describe('activation-grad', () => {
  for (const [x, grad] of [
    ['f32', 'f32'],
    ['f16', 'f32'],
    ['f16', 'f16'],
  ] as const) {
    for (const op of ['gelu', 'silu', 'sigmoid'] as const) {
      it(`${op} backward, x ${x}, grad ${grad}, sizes ${SIZES.join('/')}, accumulate false and true`, async () => {
        const ctx = await gpu();
        for (const n of SIZES) {
          const d = inputs(op, n, x, grad);
          const want = ref(op, d.dy, d.saved);
          check(await runOnce(ctx, op, d, x, grad, false), want, grad, `${op} n=${n}`);
          const wantAcc = Float64Array.from(want, (v, i) => v + d.prior[i]!);
          check(await runOnce(ctx, op, d, x, grad, true), wantAcc, grad, `${op} += n=${n}`);
        }
      });
    }
  }

  for (const dtype of ['f32', 'f16'] as const) {
    it(`stable sigmoid forward ${dtype}`, async () => {
      const ctx = await gpu();
      for (const n of SIZES) {
        const d = inputs('gelu', n, dtype, dtype);
        const got = await ctx.scope(() => sigmoidForward(ctx, ctx.upload(d.saved, [n], dtype)).read());
        const want = sigmoidForwardRef(d.saved).y;
        check(got, want, dtype, `sigmoid n=${n}`);
      }
    });
  }

  it('gelu gradient is finite and exact in the tails (|x| up to 1e20)', async () => {
    const ctx = await gpu();
    const xs = Float32Array.from(SPECIAL_F32);
    const ones = new Float32Array(xs.length).fill(1);
    const got = await ctx.scope(() =>
      geluBackward(ctx, ctx.upload(ones, [xs.length]), ctx.upload(xs, [xs.length])).read(),
    );
    expect(got.every(Number.isFinite)).toBe(true);
    expectClose(got, geluTanhBackward(ones, xs).dx, tolerance.f32, 'gelu tails');
  });

  it("every adapter kind's launch overrides (WG, PER) give the same bits", async () => {
    const ctx = await gpu();
    const n = 4097;
    for (const op of ['gelu', 'silu', 'sigmoid'] as const) {
      const d = inputs(op, n, 'f16', 'f32');
      const base = await runOnce(ctx, op, d, 'f16', 'f32', true);
      for (const k of kindContexts(ctx, (caps) =>
        JSON.stringify(activationGradFamily.overrides({ op: 'gelu_bwd', x: 'f32', grad: 'f32' }, caps)),
      )) {
        const got = await runOnce(k.ctx, op, d, 'f16', 'f32', true);
        expect(Buffer.from(got.buffer).equals(Buffer.from(base.buffer)), `${op} on ${k.what}`).toBe(true);
      }
    }
  });

  it('is bit-identical across runs and across chunkings', async () => {
    const ctx = await gpu();
    const n = 4097;
    for (const op of ['gelu', 'silu', 'sigmoid'] as const) {
      const d = inputs(op, n, 'f32', 'f32');
      const a = await runOnce(ctx, op, d, 'f32', 'f32', true);
      const b = await runOnce(ctx, op, d, 'f32', 'f32', true);
      const unit = ctx.caps.limits.minStorageBufferOffsetAlignment / 2;
      const c = await runOnce(ctx, op, d, 'f32', 'f32', true, 3 * unit);
      expect(Buffer.from(b.buffer).equals(Buffer.from(a.buffer)), `${op} rerun`).toBe(true);
      expect(Buffer.from(c.buffer).equals(Buffer.from(a.buffer)), `${op} chunked`).toBe(true);
    }
  });

  it('rejects mismatched shapes, dtypes and outputs with the expected shape', async () => {
    const ctx = await gpu();
    ctx.scope(() => {
      const x: Tensor = ctx.zeros([3, 5]);
      expect(() => geluBackward(ctx, ctx.zeros([14]), x)).toThrow(/dy \[14\] must have the forward's shape \[3,5\]/);
      expect(() =>
        geluBackward(ctx, ctx.zeros([15]), x, { dx: { tensor: ctx.zeros([5, 3]), accumulate: false } }),
      ).toThrow(/must be \[3, 5\] f32/);
      expect(() => siluBackward(ctx, ctx.zeros([3, 5], 'f16'), x)).toThrow(/pass dy in f32/);
      expect(() => sigmoidForward(ctx, ctx.zeros([3], 'i32'))).toThrow(/expected f32 or f16/);
    });
  });
});
