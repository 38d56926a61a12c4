// Bench cases of the loss family (GB/s: inputs read and the gradient written once; the loss
// value and its partials are negligible). `full`: the study's heads over a batch — ImageNet
// logits [64, 1000], Places365 [512, 365], depth L2 over 32 clips × 16 frames × 128² query
// pixels with a validity mask, the point loss over 32 × 16 × 256 tracks (Huber + two strided
// BCE); small otherwise.
import type { GpuContext } from '../../src/gpu/context.js';
import { huberLoss, l2Loss, sigmoidBce, softmaxCrossEntropy } from '../../src/kernels/loss.js';
import type { Tensor } from '../../src/tensor/tensor.js';
import { Rng } from '../../src/util/rng.js';

type TrainBenchCase = { family: string; name: string; flops?: number; bytes?: number; run: () => Tensor };

export function trainBenchCases(ctx: GpuContext, full: boolean): TrainBenchCase[] {
  const rng = new Rng(25);
  const up = (n: number, shape: number[], f: () => number): Tensor =>
    ctx.upload(Float32Array.from({ length: n }, f), shape);
  const lossT = ctx.persistent([1], 'f32', 'bench-loss');
  const cases: TrainBenchCase[] = [];
  for (const [B, K] of full
    ? [
        [64, 1000],
        [512, 365],
      ]
    : [[16, 100]]) {
    const logits = up(B! * K!, [B!, K!], () => 3 * rng.normal());
    const labels = ctx.upload(
      Int32Array.from({ length: B! }, () => Math.floor(rng.uniform() * K!)),
      [B!],
      'i32',
    );
    const grad = ctx.persistent([B!, K!], 'f32', 'bench-dlogits');
    cases.push({
      family: 'loss',
      name: `softmax CE [${B}, ${K}]`,
      bytes: 2 * B! * K! * 4,
      run: () => {
        softmaxCrossEntropy(ctx, logits, labels, {
          scale: 1 / B!,
          grad: { tensor: grad, accumulate: false },
          lossOut: { tensor: lossT, accumulate: false },
        });
        return lossT.view(0, [1]);
      },
    });
  }
  {
    const [F, Q] = full ? [32 * 16, 128 * 128] : [8, 32 * 32];
    const n = F * Q;
    const pred = up(n, [F, Q], () => rng.uniform() * 10);
    const target = up(n, [F, Q], () => rng.uniform() * 10);
    const mask = up(n, [F, Q], () => (rng.uniform() < 0.9 ? 1 : 0));
    const grad = ctx.persistent([F, Q], 'f32', 'bench-dpred');
    cases.push({
      family: 'loss',
      name: `depth L2 masked [${F}, ${Q}]`,
      bytes: 4 * n * 4,
      run: () => {
        l2Loss(ctx, pred, target, mask, {
          scale: 1 / n,
          grad: { tensor: grad, accumulate: false },
          lossOut: { tensor: lossT, accumulate: false },
        });
        return lossT.view(0, [1]);
      },
    });
  }
  {
    const P = full ? 32 * 16 * 256 : 4 * 8 * 32;
    const values = up(2 * P, [P, 2], () => rng.uniform());
    const tracks = up(2 * P, [P, 2], () => rng.uniform());
    const logits = up(2 * P, [P, 2], () => rng.normal());
    const visible = up(P, [P], () => (rng.uniform() < 0.8 ? 1 : 0));
    const dvalues = ctx.persistent([P, 2], 'f32', 'bench-dvalues');
    const dlogits = ctx.persistent([P, 2], 'f32', 'bench-dlogits');
    cases.push({
      family: 'loss',
      name: `points Huber + 2 BCE [${P}, 2]`,
      bytes: (6 * P + 2 * P + P + 4 * P) * 4,
      run: () => {
        huberLoss(ctx, values, tracks, visible, {
          scale: 100 / P,
          grad: { tensor: dvalues, accumulate: false },
          lossOut: { tensor: lossT, accumulate: false },
        });
        for (const offset of [0, 1]) {
          sigmoidBce(ctx, logits, visible, offset === 1 ? visible : null, {
            scale: 0.1 / P,
            stride: 2,
            offset,
            grad: { tensor: dlogits, accumulate: false },
            lossOut: { tensor: lossT, accumulate: true },
          });
        }
        return lossT.view(0, [1]);
      },
    });
  }
  return cases;
}
