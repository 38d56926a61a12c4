import { describe, expect, it } from 'vitest';
import type { GpuContext } from '../../src/gpu/context.js';
import {
  certaintyTarget,
  lossFamily,
  huberLoss,
  l2Loss,
  sigmoidBce,
  softmaxCrossEntropy,
  tolerance,
} from '../../src/kernels/loss.js';
import {
  huberLossBackward,
  huberLossForward,
  l2LossBackward,
  l2LossForward,
  pointDistances,
  pointsLossBackward,
  pointsLossForward,
  sigmoidBceBackward,
  sigmoidBceForward,
  softmaxCrossEntropyBackward,
  softmaxCrossEntropyForward,
} from '../../src/ref/losses.js';
import type { Tensor } from '../../src/tensor/tensor.js';
import { Rng } from '../../src/util/rng.js';
import type { DeviceCaps } from '../../src/wgsl/family.js';
import { adapterKinds, distinct } from '../helpers/adapter-kinds.js';
import { expectClose } from '../helpers/compare.js';
import { gpu } from '../helpers/gpu.js';

const SIZES = [1, 3, 7, 97, 1000, 4097];

/** Gradient tolerance: atol relative to the largest reference value (the scale sets the size). */
function expectGrad(got: ArrayLike<number>, want: ArrayLike<number>, what: string): void {
  let max = 0;
  for (let i = 0; i < want.length; i++) {
    max = Math.max(max, Math.abs(want[i]!));
  }
  expectClose(got, want, { atol: tolerance.f32.atol * Math.max(max, 1e-30), rtol: tolerance.f32.rtol }, what);
}

function expectLoss(got: number, want: number, what: string): void {
  expect(Math.abs(got - want), `${what}: loss ${got} vs ${want}`).toBeLessThanOrEqual(
    tolerance.lossRtol * Math.abs(want) + 1e-7,
  );
}

/** A 0/1 mask with zeros (index 0 kept on so that Σ m ≥ 1 when n ≥ 1 unless `allZero`). */
function mask01(rng: Rng, n: number, allZero = false): Float32Array {
  return Float32Array.from({ length: n }, (_, i) => (allZero ? 0 : i === 0 || rng.uniform() < 0.7 ? 1 : 0));
}

const sum = (a: ArrayLike<number>): number => Array.from(a).reduce((s, v) => s + v, 0);

async function readAll(ts: Tensor[]): Promise<Float32Array[]> {
  return Promise.all(ts.map((t) => t.read()));
}

function bits(a: Float32Array): Buffer {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength);
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

describe('loss: softmax cross-entropy (OC11)', () => {
  const shapes: [number, number][] = [
    [1, 1],
    [3, 7],
    [7, 97],
    [97, 3],
    [5, 1000],
    [2, 4097],
  ];
  for (const [B, K] of shapes) {
    for (const masked of [false, true]) {
      it(`[${B}, ${K}] ${masked ? 'masked' : 'plain'} mean, weight 0.7, accumulate false and true`, async () => {
        const ctx = await gpu();
        const rng = new Rng(B * 131 + K, masked ? 1 : 0);
        const logits = rng.normals(B * K, 4);
        const labels = Int32Array.from({ length: B }, () => Math.floor(rng.uniform() * K));
        const mask = masked ? mask01(rng, B) : null;
        const prior = rng.normals(B * K);
        const weight = 0.7;
        const scale = weight / Math.max(mask ? sum(mask) : B, 1e-8);
        const [loss, grad, lossAcc, gradAcc] = await ctx.scope(async () => {
          const tl = ctx.upload(logits, [B, K]);
          const ty = ctx.upload(labels, [B], 'i32');
          const tm = mask ? ctx.upload(mask, [B]) : undefined;
          const a = softmaxCrossEntropy(ctx, tl, ty, { scale, ...(tm ? { mask: tm } : {}) });
          const lossOut = ctx.upload(new Float32Array([0.25]), [1]);
          const g = ctx.upload(prior, [B, K]);
          const b = softmaxCrossEntropy(ctx, tl, ty, {
            scale,
            grad: { tensor: g, accumulate: true },
            lossOut: { tensor: lossOut, accumulate: true },
            ...(tm ? { mask: tm } : {}),
          });
          expect(b.dlogits).toBe(g);
          expect(b.loss).toBe(lossOut);
          return readAll([a.loss, a.dlogits, b.loss, b.dlogits]);
        });
        const f = softmaxCrossEntropyForward(logits, labels, B, K, mask);
        const want = weight * f.loss;
        const dwant = softmaxCrossEntropyBackward(weight, logits, labels, f.lse, B, K, mask).dlogits;
        expectLoss(loss![0]!, want, 'ce');
        expectGrad(grad!, dwant, 'dlogits');
        expectLoss(lossAcc![0]!, 0.25 + want, 'ce +=');
        expectGrad(
          gradAcc!,
          Float64Array.from(dwant, (v, i) => v + prior[i]!),
          'dlogits +=',
        );
      });
    }
  }

  it('is stable for large logits and NaN for an out-of-range label', async () => {
    const ctx = await gpu();
    const [B, K] = [4, 9];
    const rng = new Rng(5);
    const logits = rng.normals(B * K, 60);
    const labels = Int32Array.from([0, 8, 3, 5]);
    const [loss, grad, bad] = await ctx.scope(async () => {
      const tl = ctx.upload(logits, [B, K]);
      const r = softmaxCrossEntropy(ctx, tl, ctx.upload(labels, [B], 'i32'), { scale: 1 / B });
      const b = softmaxCrossEntropy(ctx, tl, ctx.upload(Int32Array.from([0, 9, 1, 2]), [B], 'i32'), {
        scale: 1 / B,
      });
      return readAll([r.loss, r.dlogits, b.loss]);
    });
    const f = softmaxCrossEntropyForward(logits, labels, B, K);
    expectLoss(loss![0]!, f.loss, 'ce large');
    expectGrad(grad!, softmaxCrossEntropyBackward(1, logits, labels, f.lse, B, K).dlogits, 'dlogits large');
    expect(Number.isNaN(bad![0]!)).toBe(true);
  });
});

describe('loss: L2 without ½ (OC10, OC12, OC13, OC15)', () => {
  for (const P of SIZES) {
    for (const inner of [1, 4, 12]) {
      it(`[${P}, ${inner}] plain and masked (NaN under the mask does not leak), accumulate false and true`, async () => {
        const ctx = await gpu();
        const rng = new Rng(P * 7 + inner, 2);
        const n = P * inner;
        const pred = rng.normals(n);
        const target = rng.normals(n);
        const mask = mask01(rng, P);
        const predNan = Float32Array.from(pred, (v, i) => (mask[Math.floor(i / inner)] === 0 ? NaN : v));
        const prior = rng.normals(n);
        const sPlain = 1 / n;
        const sMask = 1 / Math.max(sum(mask) * inner, 1e-8);
        const [l0, g0, l1, g1] = await ctx.scope(async () => {
          const tp = ctx.upload(pred, [P, inner]);
          const tn = ctx.upload(predNan, [P, inner]);
          const tt = ctx.upload(target, [P, inner]);
          const tm = ctx.upload(mask, [P]);
          const a = l2Loss(ctx, tp, tt, null, { scale: sPlain });
          const b = l2Loss(ctx, tn, tt, tm, {
            scale: sMask,
            grad: { tensor: ctx.upload(prior, [P, inner]), accumulate: true },
          });
          return readAll([a.loss, a.dpred, b.loss, b.dpred]);
        });
        expectLoss(l0![0]!, l2LossForward(pred, target).loss, 'l2');
        expectGrad(g0!, l2LossBackward(1, pred, target).dpred, 'dpred');
        expectLoss(l1![0]!, l2LossForward(pred, target, mask, inner).loss, 'l2 masked');
        const dm = l2LossBackward(1, pred, target, mask, inner).dpred;
        expectGrad(
          g1!,
          Float64Array.from(dm, (v, i) => v + prior[i]!),
          'dpred masked +=',
        );
      });
    }
  }

  it('everything masked out: loss 0 and gradient 0 (scale 1/1e-8)', async () => {
    const ctx = await gpu();
    const [l, g] = await ctx.scope(async () => {
      const r = l2Loss(ctx, ctx.upload(new Float32Array(6).fill(2), [3, 2]), ctx.zeros([3, 2]), ctx.zeros([3]), {
        scale: 1 / 1e-8,
      });
      return readAll([r.loss, r.dpred]);
    });
    expect(l![0]).toBe(0);
    expect(Array.from(g!)).toEqual([0, 0, 0, 0, 0, 0]);
  });

  it('micro-batches pool over the whole batch through the scale and lossOut accumulate', async () => {
    const ctx = await gpu();
    const rng = new Rng(77);
    const [P, inner] = [97, 3];
    const pred = rng.normals(P * inner);
    const target = rng.normals(P * inner);
    const mask = mask01(rng, P);
    const scale = 1 / (sum(mask) * inner);
    const split = 40;
    const got = await ctx.scope(async () => {
      const loss = ctx.zeros([1]);
      for (const [a, b] of [
        [0, split],
        [split, P],
      ] as const) {
        l2Loss(
          ctx,
          ctx.upload(pred.subarray(a * inner, b * inner), [b - a, inner]),
          ctx.upload(target.subarray(a * inner, b * inner), [b - a, inner]),
          ctx.upload(mask.subarray(a, b), [b - a]),
          { scale, lossOut: { tensor: loss, accumulate: a > 0 } },
        );
      }
      return loss.read();
    });
    expectLoss(got[0]!, l2LossForward(pred, target, mask, inner).loss, 'pooled');
  });
});

describe('loss: TAPIR Huber (OC14)', () => {
  for (const P of SIZES) {
    it(`[${P}, 2] masked and plain, points inside and outside δ, accumulate false and true`, async () => {
      const ctx = await gpu();
      const rng = new Rng(P, 3);
      const target = Float32Array.from({ length: 2 * P }, () => rng.uniform());
      const pred = Float32Array.from(target, (t) => t + (rng.uniform() < 0.5 ? 0.01 : 0.05) * rng.normal());
      if (P >= 2) {
        pred[2] = target[2]!;
        pred[3] = target[3]!;
      }
      const mask = mask01(rng, P);
      const prior = rng.normals(2 * P);
      const [l0, g0, l1, g1] = await ctx.scope(async () => {
        const tp = ctx.upload(pred, [P, 2]);
        const tt = ctx.upload(target, [P, 2]);
        const a = huberLoss(ctx, tp, tt, null, { scale: 1 / P });
        const b = huberLoss(ctx, tp, tt, ctx.upload(mask, [P]), {
          scale: 100 / sum(mask),
          grad: { tensor: ctx.upload(prior, [P, 2]), accumulate: true },
        });
        return readAll([a.loss, a.dpred, b.loss, b.dpred]);
      });
      expectLoss(l0![0]!, huberLossForward(pred, target, P).loss, 'huber');
      expectGrad(g0!, huberLossBackward(1, pred, target, P).dpred, 'dpred');
      expectLoss(l1![0]!, 100 * huberLossForward(pred, target, P, 2, mask).loss, 'huber masked');
      const dm = huberLossBackward(100, pred, target, P, 2, mask).dpred;
      expectGrad(
        g1!,
        Float64Array.from(dm, (v, i) => v + prior[i]!),
        'dpred masked +=',
      );
    });
  }
});

describe('loss: stable sigmoid BCE (OC16) and the certainty target', () => {
  for (const P of SIZES) {
    it(`[${P}] contiguous and strided columns of [P, 2], masked, large logits`, async () => {
      const ctx = await gpu();
      const rng = new Rng(P, 4);
      const logits = rng.normals(2 * P, 5);
      logits[0] = 60;
      if (P > 1) {
        logits[3] = -80;
      }
      const col = (c: number): Float32Array => Float32Array.from({ length: P }, (_, p) => logits[2 * p + c]!);
      const z = Float32Array.from({ length: P }, (_, p) => (p % 3 === 0 ? rng.uniform() : p % 2));
      const mask = mask01(rng, P);
      const [l0, g0, l1, g1] = await ctx.scope(async () => {
        const tl = ctx.upload(logits, [P, 2]);
        const tz = ctx.upload(z, [P]);
        const a = sigmoidBce(ctx, ctx.upload(col(0), [P]), tz, null, { scale: 1 / P });
        const b = sigmoidBce(ctx, tl, tz, ctx.upload(mask, [P]), { scale: 1 / sum(mask), stride: 2, offset: 1 });
        return readAll([a.loss, a.dlogits, b.loss, b.dlogits]);
      });
      expectLoss(l0![0]!, sigmoidBceForward(col(0), z).loss, 'bce');
      expectGrad(g0!, sigmoidBceBackward(1, col(0), z).dlogits, 'dlogits');
      expectLoss(l1![0]!, sigmoidBceForward(col(1), z, mask).loss, 'bce strided');
      const d1 = sigmoidBceBackward(1, col(1), z, mask).dlogits;
      expectGrad(
        g1!,
        Float64Array.from({ length: 2 * P }, (_, i) => (i % 2 === 1 ? d1[(i - 1) / 2]! : 0)),
        'dlogits strided (zero in the other column)',
      );
    });
  }

  it('column option (= stride, offset) and grad: null (the value only)', async () => {
    const ctx = await gpu();
    const P = 97;
    const rng = new Rng(6);
    const logits = rng.normals(3 * P, 3);
    const z = Float32Array.from({ length: P }, () => (rng.uniform() < 0.5 ? 1 : 0));
    const col = Float32Array.from({ length: P }, (_, p) => logits[3 * p + 2]!);
    const [la, ga, lb] = await ctx.scope(async () => {
      const tl = ctx.upload(logits, [P, 3]);
      const tz = ctx.upload(z, [P]);
      const a = sigmoidBce(ctx, tl, tz, null, { scale: 1 / P, column: 2 });
      const b = sigmoidBce(ctx, tl, tz, null, { scale: 1 / P, column: 2, grad: null });
      expect(b.dlogits).toBeNull();
      const c = l2Loss(ctx, tl, tl, null, { scale: 1, grad: null });
      expect(c.dpred).toBeNull();
      return readAll([a.loss, a.dlogits, b.loss]);
    });
    expectLoss(la![0]!, sigmoidBceForward(col, z).loss, 'bce column 2');
    const d = sigmoidBceBackward(1, col, z).dlogits;
    expectGrad(
      ga!,
      Float64Array.from({ length: 3 * P }, (_, i) => (i % 3 === 2 ? d[(i - 2) / 3]! : 0)),
      'dlogits column 2',
    );
    expect(lb![0]).toBe(la![0]);
    ctx.scope(() => {
      const tl = ctx.zeros([4, 2]);
      expect(() => sigmoidBce(ctx, tl, ctx.zeros([4]), null, { scale: 1, column: 2 })).toThrow(/must be a column/);
    });
  });

  it('certainty target = 1[d ≤ 6/256] on odd sizes', async () => {
    const ctx = await gpu();
    for (const P of SIZES) {
      const rng = new Rng(P, 5);
      const target = Float32Array.from({ length: 2 * P }, () => rng.uniform());
      const pred = Float32Array.from(target, (t) => t + 0.03 * rng.normal());
      const z = await ctx.scope(() =>
        certaintyTarget(ctx, ctx.upload(pred, [P, 2]), ctx.upload(target, [P, 2])).read(),
      );
      const want = Array.from(pointDistances(pred, target, P, 2), (d) => (d <= 6 / 256 ? 1 : 0));
      expect(Array.from(z), `P=${P}`).toEqual(want);
    }
  });

  it('assembles the point loss (100·Huber + 0.1·BCE_vis + 0.1·BCE_cert) into one loss and one dlogits', async () => {
    const ctx = await gpu();
    const P = 97;
    const rng = new Rng(11);
    const tracks = Float32Array.from({ length: 2 * P }, () => rng.uniform());
    const values = Float32Array.from(tracks, (t) => t + 0.02 * rng.normal());
    const logits = rng.normals(2 * P, 2);
    const visible = mask01(rng, P);
    const nv = sum(visible);
    const [loss, dvalues, dlogits] = await ctx.scope(async () => {
      const tv = ctx.upload(values, [P, 2]);
      const tt = ctx.upload(tracks, [P, 2]);
      const tl = ctx.upload(logits, [P, 2]);
      const tvis = ctx.upload(visible, [P]);
      const lossT = ctx.empty([1]);
      const dl = ctx.empty([P, 2]);
      const h = huberLoss(ctx, tv, tt, tvis, { scale: 100 / nv, lossOut: { tensor: lossT, accumulate: false } });
      sigmoidBce(ctx, tl, tvis, null, {
        scale: 0.1 / P,
        stride: 2,
        offset: 0,
        grad: { tensor: dl, accumulate: false },
        lossOut: { tensor: lossT, accumulate: true },
      });
      const zc = certaintyTarget(ctx, tv, tt);
      sigmoidBce(ctx, tl, zc, tvis, {
        scale: 0.1 / nv,
        stride: 2,
        offset: 1,
        grad: { tensor: dl, accumulate: false },
        lossOut: { tensor: lossT, accumulate: true },
      });
      return readAll([lossT, h.dpred, dl]);
    });
    const f = pointsLossForward(values, logits, tracks, visible, P);
    const b = pointsLossBackward(1, values, logits, tracks, visible, P);
    expectLoss(loss![0]!, f.loss, 'points loss');
    expectGrad(dvalues!, b.dvalues, 'dvalues');
    expectGrad(dlogits!, b.dlogits, 'dlogits');
  });
});

describe('loss: determinism and errors', () => {
  it('loss and gradients are bit-identical across runs', async () => {
    const ctx = await gpu();
    const rng = new Rng(99);
    const [B, K] = [97, 1000];
    const logits = rng.normals(B * K, 3);
    const labels = Int32Array.from({ length: B }, () => Math.floor(rng.uniform() * K));
    const pred = rng.normals(4097 * 3);
    const target = rng.normals(4097 * 3);
    const run = (c: GpuContext): Promise<Float32Array[]> =>
      c.scope(async () => {
        const a = softmaxCrossEntropy(c, c.upload(logits, [B, K]), c.upload(labels, [B], 'i32'), { scale: 1 / B });
        const b = l2Loss(c, c.upload(pred, [4097, 3]), c.upload(target, [4097, 3]), null, { scale: 1 / 12291 });
        return readAll([a.loss, a.dlogits, b.loss, b.dpred]);
      });
    const first = await run(ctx);
    const second = await run(ctx);
    first.forEach((a, i) => expect(bits(second[i]!).equals(bits(a)), `output ${i}`).toBe(true));
  });

  it("every adapter kind's workgroup size: the same elementwise gradients, close losses and dlogits", async () => {
    const ctx = await gpu();
    const rng = new Rng(98);
    const [B, K, P] = [7, 1000, 4097];
    const logits = rng.normals(B * K, 3);
    const labels = Int32Array.from({ length: B }, () => Math.floor(rng.uniform() * K));
    const pred = rng.normals(2 * P);
    const target = rng.normals(2 * P);
    const mask = mask01(rng, P);
    const run = (c: GpuContext): Promise<Float32Array[]> =>
      c.scope(async () => {
        const a = softmaxCrossEntropy(c, c.upload(logits, [B, K]), c.upload(labels, [B], 'i32'), { scale: 1 / B });
        const tp = c.upload(pred, [P, 2]);
        const tt = c.upload(target, [P, 2]);
        const tm = c.upload(mask, [P]);
        const b = l2Loss(c, tp, tt, tm, { scale: 0.5 / sum(mask) });
        const h = huberLoss(c, tp, tt, tm, { scale: 1 / sum(mask), delta: 0.5 });
        const e = sigmoidBce(c, tp, tm, null, { scale: 1 / P, column: 1 });
        const z = certaintyTarget(c, tp, tt, { threshold: 1 });
        return readAll([a.loss, a.dlogits, b.loss, b.dpred, h.loss, h.dpred, e.loss, e.dlogits, z]);
      });
    const base = await run(ctx);
    for (const k of kindContexts(ctx, (caps) => JSON.stringify(lossFamily.overrides({ entry: 'ce_rows' }, caps)))) {
      const got = await run(k.ctx);
      got.forEach((g, i) => {
        if (i % 2 === 0 && i < 8) {
          expectLoss(g[0]!, base[i]![0]!, `loss ${i} on ${k.what}`);
        } else if (i === 1) {
          expectGrad(g, base[i]!, `dlogits on ${k.what} (the log-sum-exp tree depends on WG)`);
        } else {
          expect(bits(g).equals(bits(base[i]!)), `output ${i} on ${k.what}`).toBe(true);
        }
      });
    }
  });

  it('rejects bad shapes, dtypes and scales with the expected shape', async () => {
    const ctx = await gpu();
    ctx.scope(() => {
      const logits = ctx.zeros([3, 5]);
      expect(() => softmaxCrossEntropy(ctx, logits, ctx.zeros([3]), { scale: 1 })).toThrow(/i32 tensor/);
      expect(() => softmaxCrossEntropy(ctx, logits, ctx.zeros([4], 'i32'), { scale: 1 })).toThrow(/\[B\] = \[3\]/);
      expect(() => l2Loss(ctx, logits, ctx.zeros([15]), ctx.zeros([4]), { scale: 1 })).toThrow(/must cover pred/);
      expect(() => l2Loss(ctx, logits, ctx.zeros([3, 5]), null, { scale: NaN })).toThrow(/scale must be/);
      expect(() => huberLoss(ctx, ctx.zeros([4, 2]), ctx.zeros([4, 2]), ctx.zeros([3]), { scale: 1 })).toThrow(
        /\[P\] = \[4\]/,
      );
      expect(() => sigmoidBce(ctx, ctx.zeros([4, 2]), ctx.zeros([5]), null, { scale: 1, stride: 2 })).toThrow(
        /reach past logits/,
      );
      expect(() =>
        l2Loss(ctx, logits, logits, null, { scale: 1, grad: { tensor: ctx.zeros([5, 3]), accumulate: false } }),
      ).toThrow(/must be \[3, 5\] f32/);
    });
  });
});
