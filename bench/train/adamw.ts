// Bench cases of the adamw family (GB/s: g, p, m, v read and p, m, v written once = 28 bytes per
// parameter). `full`: the largest study head (`points`, 12,897,668 parameters); small otherwise.
import type { GpuContext } from '../../src/gpu/context.js';
import { adamwStep, createAdamwHyper, gradNormSquared, writeAdamwHyper } from '../../src/kernels/adamw.js';
import type { Tensor } from '../../src/tensor/tensor.js';
import { Rng } from '../../src/util/rng.js';

type TrainBenchCase = { family: string; name: string; flops?: number; bytes?: number; run: () => Tensor };

export function trainBenchCases(ctx: GpuContext, full: boolean): TrainBenchCase[] {
  const n = full ? 12_897_668 : 100_003;
  const rng = new Rng(22);
  const arena = (std: number, label: string): Tensor => {
    const t = ctx.persistent([n], 'f32', label);
    ctx.writeTensor(t, rng.normals(n, std));
    return t;
  };
  const param = arena(0.05, 'bench-params');
  const grad = arena(1e-3, 'bench-grads');
  const m = ctx.persistent([n], 'f32', 'bench-m');
  const v = ctx.persistent([n], 'f32', 'bench-v');
  const hyper = createAdamwHyper(ctx);
  writeAdamwHyper(ctx, hyper, { lr: 3e-4, step: 10 });
  return [
    {
      family: 'adamw',
      name: `step ${n} params`,
      bytes: 28 * n,
      run: () => {
        adamwStep(ctx, { param, grad, m, v }, hyper);
        return param.view(0, [1]);
      },
    },
    {
      family: 'adamw',
      name: `grad norm² ${n}`,
      bytes: 4 * n,
      run: () => gradNormSquared(ctx, grad),
    },
  ];
}
