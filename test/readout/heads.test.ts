// The readout heads on the GPU against the independent float64 PyTorch reference
// (tools/reference/readout_ref.py → test/fixtures/readout/<kind>/): forward outputs for every
// clip, the batch loss, the gradient of every weight, and every weight after two AdamW steps
// (lr 1e-2, weight decay 0.5, no warm-up, 10 total steps), each within 1e-4 relative
// (max|a−b| / max|b|). Tensors that are exactly zero in the reference (b_k's gradient: softmax
// ignores a shift shared by all keys; the box logits' gradients: they get no loss) are held to an
// absolute bound instead, and the single-query heads run in both forms.
//
// AdamW's update g/(|g| + 1e-8) turns the f32 noise of a near-zero gradient element (≈ 1e-6 of the
// tensor's largest gradient: the reference's own f32 run shows the same size) into a visible weight
// difference. The step-2 weights are therefore compared at 1e-4 relative plus, per element, that
// first-order sensitivity: Σ_steps lr · |Δg| / (|g| + 1e-8), with Δg this run's step-1 gradient error.
import { readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { GpuContext } from '../../src/gpu/context.js';
import { SafetensorsFile } from '../../src/io/safetensors.js';
import { readBatch } from '../../src/readout/batch.js';
import { ReadoutRunner } from '../../src/readout/runner.js';
import { validateHeadConfig, weightList, type HeadConfig } from '../../src/readout/spec.js';
import { warmupCosineDecaySchedule } from '../../src/ref/adamw.js';
import { compare } from '../helpers/compare.js';

interface Meta {
  lr: number;
  weight_decay: number;
  warmup: number;
  total_steps: number;
  steps: number;
  grid?: [number, number];
}

async function readAll(path: string): Promise<Map<string, Float32Array>> {
  const f = await SafetensorsFile.open(path);
  try {
    const out = new Map<string, Float32Array>();
    for (const k of f.tensors.keys()) {
      out.set(k, await f.readF32(k));
    }
    return out;
  } finally {
    await f.close();
  }
}

/** max|a−b| ≤ 1e-4·max|b|, or ≤ 1e-6 absolute when the reference is all zeros. */
function expectRel(got: ArrayLike<number>, want: ArrayLike<number>, what: string, bound = 1e-4): void {
  expect(got.length, `${what}: length`).toBe(want.length);
  const r = compare(got, want, { atol: Infinity, rtol: 0 });
  const zero = Array.from(want).every((v) => v === 0);
  if (zero) {
    expect(r.maxAbs, `${what}: reference is exactly 0; max|got| = ${r.maxAbs}`).toBeLessThanOrEqual(1e-6);
  } else {
    expect(r.relToMax, `${what}: max|a-b|/max|b| = ${r.relToMax.toExponential(3)}`).toBeLessThanOrEqual(bound);
  }
}

/** Step-2 weights: 1e-4 relative, plus each element's AdamW sensitivity to its gradient noise. */
function expectStep2(
  got: Float32Array,
  want: Float32Array,
  g: Float32Array,
  gRef: Float32Array,
  lrSum: number,
  what: string,
): void {
  let maxW = 0;
  for (const v of want) {
    maxW = Math.max(maxW, Math.abs(v));
  }
  const bad: string[] = [];
  for (let i = 0; i < want.length; i++) {
    const slack = lrSum * Math.min(2, Math.abs(g[i]! - gRef[i]!) / (Math.abs(gRef[i]!) + 1e-8));
    const d = Math.abs(got[i]! - want[i]!);
    if (!(d <= 1e-4 * maxW + slack) && bad.length < 5) {
      bad.push(`[${i}] got ${got[i]} want ${want[i]} (|Δ| ${d.toExponential(2)}, slack ${slack.toExponential(2)})`);
    }
  }
  expect(bad, what).toEqual([]);
}

const CASES = ['attention', 'camera', 'depth', 'points', 'boxes'] as const;

let ctx: GpuContext | null = null;
afterAll(async () => {
  await ctx?.close();
});

for (const name of CASES) {
  const dir = `test/fixtures/readout/${name}`;
  const forms = name === 'attention' || name === 'camera' ? (['fast', 'direct'] as const) : (['fast'] as const);
  for (const form of forms) {
    describe(`${name} head (${form}) vs the float64 reference`, () => {
      it('forward, loss, every gradient, weights after two AdamW steps', async () => {
        ctx ??= await GpuContext.create();
        const cfg: HeadConfig = validateHeadConfig(JSON.parse(readFileSync(`${dir}/head.json`, 'utf8')), dir);
        const meta = JSON.parse(readFileSync(`${dir}/meta.json`, 'utf8')) as Meta;
        const weights = await readAll(`${dir}/weights.safetensors`);
        const expected = await readAll(`${dir}/expected.safetensors`);
        const batch = await readBatch(`${dir}/batch.safetensors`, cfg);
        const r = new ReadoutRunner(ctx, cfg, weights, { form, ...(meta.grid ? { grid: meta.grid } : {}) });
        try {
          for (const [k, v] of await r.forward(batch)) {
            expectRel(v.data, expected.get(`forward/${k}`)!, `forward/${k}`);
          }
          const loss0 = await r.lossAndGrad(batch);
          const grads = await r.params.read('grads');
          const lr = (s: number): number =>
            warmupCosineDecaySchedule(s, {
              initValue: 0,
              peakValue: meta.lr,
              warmupSteps: meta.warmup,
              decaySteps: meta.total_steps,
              endValue: 1e-7,
            });
          expectRel([lr(0), lr(1)], expected.get('lr')!, 'lr');
          r.update(0, { lr: lr(0), weightDecay: meta.weight_decay });
          const loss1 = await r.lossAndGrad(batch);
          r.update(1, { lr: lr(1), weightDecay: meta.weight_decay });
          expectRel([loss0, loss1], expected.get('loss')!, 'loss');
          const after = await r.params.read('values');
          for (const [w] of weightList(cfg)) {
            const g = grads.get(w)!;
            const gRef = expected.get(`grad/${w}`)!;
            expectRel(g, gRef, `grad/${w}`);
            expectStep2(after.get(w)!, expected.get(`step2/${w}`)!, g, gRef, lr(0) + lr(1), `step2/${w}`);
          }
        } finally {
          r.dispose();
        }
      });
    });
  }
}
