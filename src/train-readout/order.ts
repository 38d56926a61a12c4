// The data order of a training run: epoch e visits the n clips in a seeded permutation
// π_e = shuffle(Rng(hash("walt train-readout order <seed> <e>"))), and step s (0-based) takes
// the B consecutive positions k = s·B … s·B + B − 1 of the endless sequence π_0 ‖ π_1 ‖ …,
// i.e. clip π_⌊k/n⌋[k mod n]. The order is a pure function of (n, B, seed, s), so the state a
// checkpoint records — the epoch and position of the next sample — is checked, not replayed.
import { hashString, Rng } from '../util/rng.js';

/** The clips of epoch `epoch` in visiting order (Fisher–Yates). */
export function epochOrder(n: number, seed: number, epoch: number): Int32Array {
  const rng = new Rng(hashString(`walt train-readout order ${seed} ${epoch}`));
  const p = Int32Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    const t = p[i]!;
    p[i] = p[j]!;
    p[j] = t;
  }
  return p;
}

/** Where the data order stands before step `step` (0-based): the next sample's epoch and position. */
export interface OrderState {
  epoch: number;
  position: number;
}

export function orderState(n: number, batch: number, step: number): OrderState {
  const k = step * batch;
  return { epoch: Math.floor(k / n), position: k % n };
}

/** Step-by-step batch indices, caching the current epoch's permutation. */
export class DataOrder {
  private epoch = -1;
  private perm: Int32Array = new Int32Array(0);

  constructor(
    readonly n: number,
    readonly batch: number,
    readonly seed: number,
  ) {
    if (n < 1 || batch < 1) {
      throw new RangeError(`DataOrder: need n ≥ 1 and batch ≥ 1, got ${n}, ${batch}`);
    }
  }

  /** The clip indices of step `step` (0-based). */
  indices(step: number): number[] {
    const out: number[] = [];
    for (let j = 0; j < this.batch; j++) {
      const k = step * this.batch + j;
      const e = Math.floor(k / this.n);
      if (e !== this.epoch) {
        this.perm = epochOrder(this.n, this.seed, e);
        this.epoch = e;
      }
      out.push(this.perm[k % this.n]!);
    }
    return out;
  }
}
