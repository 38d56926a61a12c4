// Runs a readout head on the GPU: forward over a host batch (outputs by name, leading B), and
// training steps (forward, backward, AdamW) over micro-batches that fit the device's binding
// limit, with the OC10 denominators of the whole batch so the result does not depend on the
// split. Parameters and optimiser state stay on the GPU in a ParamSet between steps.
import type { GpuContext } from '../gpu/context.js';
import { adamwStep, writeAdamwHyper } from '../kernels/adamw.js';
import { certaintyTarget } from '../kernels/loss.js';
import { resampleTimeForward } from '../ref/resample.js';
import type { Tensor } from '../tensor/tensor.js';
import * as op from '../train/ops.js';
import { ParamSet } from '../train/params.js';
import { Tape, type Var } from '../train/tape.js';
import { depthTargets, type HostBatch, ReadoutInputError, sliceBatch } from './batch.js';
import { attentionReadout, type AttentionForm, depthReadout, trackReadout } from './heads.js';
import { type HeadConfig, type TrackHeadConfig, weightList } from './spec.js';

export interface RunnerOptions {
  /** Single-query heads: the fast form (default) or the direct one (the baseline). */
  form?: AttentionForm;
  /** Depth query grid (default 128 × 128). */
  grid?: readonly [number, number];
  /** Bytes one binding may hold (default: the device's maxStorageBufferBindingSize). */
  bindingLimit?: number;
}

export interface HostOutput {
  shape: number[];
  data: Float32Array;
}

export interface AdamwOptions {
  lr: number;
  weightDecay: number;
  b1?: number;
  b2?: number;
  eps?: number;
}

/** Camera input (OC8): concat(F[0], F[T−1]) on channels → [B, 1, N, 2C]. */
export function cameraInput(b: HostBatch): Float32Array {
  const { B, T, N, C } = b;
  const out = new Float32Array(B * N * 2 * C);
  for (let i = 0; i < B; i++) {
    for (let n = 0; n < N; n++) {
      const first = b.features.subarray(((i * T + 0) * N + n) * C, ((i * T + 0) * N + n + 1) * C);
      const lastF = b.features.subarray(((i * T + T - 1) * N + n) * C, ((i * T + T - 1) * N + n + 1) * C);
      out.set(first, (i * N + n) * 2 * C);
      out.set(lastF, (i * N + n) * 2 * C + C);
    }
  }
  return out;
}

/** [B, T, N, C] → [T, B, N, C] (frame-major, so frame s of every clip is one slice). */
function frameMajor(b: HostBatch): Float32Array {
  const { B, T, N, C } = b;
  const per = N * C;
  const out = new Float32Array(b.features.length);
  for (let i = 0; i < B; i++) {
    for (let t = 0; t < T; t++) {
      out.set(b.features.subarray((i * T + t) * per, (i * T + t + 1) * per), (t * B + i) * per);
    }
  }
  return out;
}

export class ReadoutRunner {
  readonly params: ParamSet;
  private readonly hyper: Tensor;
  private readonly limit: number;
  private readonly form: AttentionForm;
  readonly grid: readonly [number, number];

  constructor(
    private readonly ctx: GpuContext,
    readonly cfg: HeadConfig,
    values: ReadonlyMap<string, Float32Array>,
    opts: RunnerOptions = {},
  ) {
    this.params = ParamSet.create(ctx, weightList(cfg), values);
    this.hyper = ctx.persistent([16], 'f32', 'adamw-hyper');
    this.limit = opts.bindingLimit ?? ctx.caps.limits.maxStorageBufferBindingSize;
    this.form = opts.form ?? 'fast';
    this.grid = opts.grid ?? [128, 128];
  }

  dispose(): void {
    this.params.dispose();
    this.hyper.dispose();
  }

  /** Features of a (micro-)batch as the head reads them (resampled to the head's T, OC25). */
  private attentionFeatures(b: HostBatch): { data: Float32Array; shape: [number, number, number, number] } {
    const cfg = this.cfg;
    if (cfg.kind === 'camera') {
      return { data: cameraInput(b), shape: [b.B, 1, b.N, 2 * b.C] };
    }
    if (cfg.kind !== 'attention') {
      throw new Error('attentionFeatures: not an attention head');
    }
    if (b.T === cfg.T) {
      return { data: b.features, shape: [b.B, b.T, b.N, b.C] };
    }
    const y = resampleTimeForward(b.features, b.T, b.N, b.C, cfg.T, b.B).y;
    return { data: Float32Array.from(y), shape: [b.B, cfg.T, b.N, b.C] };
  }

  /** Clips per micro-batch so that the largest tensor fits one binding. */
  private clipsPerMicroBatch(b: HostBatch): number {
    const cfg = this.cfg;
    let perClip: number;
    switch (cfg.kind) {
      case 'attention':
      case 'camera': {
        const T = cfg.kind === 'camera' ? 1 : cfg.T;
        const width = Math.max(cfg.C, this.form === 'direct' ? cfg.P : 0);
        perClip = T * b.N * width * 4;
        break;
      }
      case 'points':
      case 'boxes':
        perClip = b.T * b.N * b.C * 4 + b.T * (b.M ?? 1) * Math.max(cfg.width, cfg.mlp) * 4;
        break;
      case 'depth':
        perClip = b.T * this.frameBytes();
        break;
    }
    return Math.max(1, Math.min(b.B, Math.floor(this.limit / perClip)));
  }

  /** Largest per-frame activation of the depth head. */
  private frameBytes(): number {
    const c = this.cfg;
    if (c.kind !== 'depth') {
      return 0;
    }
    const q = this.grid[0] * this.grid[1];
    const bytes = q * Math.max(c.C + 4 * c.nfb, c.mlp, c.qkv) * 4;
    if (bytes > this.limit) {
      throw new ReadoutInputError(
        `--grid ${this.grid.join('x')}: one frame's activations need ${bytes} bytes, above this device's binding limit ` +
          `(${this.limit}); use a smaller --grid`,
      );
    }
    return bytes;
  }

  /**
   * Runs the head on the micro-batch `mb` inside `tape`; with `losses`, adds the loss terms
   * (scaled by the whole batch's denominators) to `objective`. Returns the output Vars.
   */
  private run(tape: Tape, mb: HostBatch, losses: { objective: Tensor; scales: LossScales } | null): Map<string, Var[]> {
    const ctx = this.ctx;
    const cfg = this.cfg;
    const P = this.params;
    switch (cfg.kind) {
      case 'attention':
      case 'camera': {
        const f = this.attentionFeatures(mb);
        const F = tape.keep(ctx.upload(f.data, f.shape));
        const logits = attentionReadout(tape, P, cfg, F, this.form);
        if (losses) {
          const a = { objective: losses.objective, scale: losses.scales.main };
          if (cfg.kind === 'attention') {
            op.crossEntropyLoss(tape, logits, tape.keep(ctx.upload(mb.labels!, [mb.B], 'i32')), a);
          } else {
            op.l2(tape, logits, tape.keep(ctx.upload(mb.pose!, [mb.B, 12])), null, a);
          }
        }
        return new Map([[cfg.kind === 'attention' ? 'logits' : 'pose', [logits]]]);
      }
      case 'depth': {
        const Z = mb.B * mb.T;
        const F = tape.keep(ctx.upload(mb.features, [Z, mb.N, mb.C]));
        const depth = depthReadout(tape, P, cfg, F, this.grid);
        if (losses) {
          const t = depthTargets(mb.depth!, mb.B, mb.T, this.grid);
          const Q = this.grid[0] * this.grid[1];
          op.l2(
            tape,
            op.reshape(tape, depth, [Z * Q, 1]),
            tape.keep(ctx.upload(t.target, [Z * Q, 1])),
            tape.keep(ctx.upload(t.mask, [Z * Q])),
            {
              objective: losses.objective,
              scale: losses.scales.main,
            },
          );
        }
        return new Map([['depth', [depth]]]);
      }
      case 'points':
      case 'boxes': {
        const M = mb.M!;
        const { B, T, N, C } = mb;
        const fm = frameMajor(mb);
        const F = Array.from({ length: T }, (_, s) =>
          tape.keep(ctx.upload(fm.subarray(s * B * N * C, (s + 1) * B * N * C), [B * N, C])),
        );
        const nc = cfg.n_coords;
        const queries = tape.keep(ctx.upload(mb.queries!, [B * M, nc]));
        const masks: (Tensor | null)[] = [];
        for (let s = 0; s < T; s++) {
          const m = new Float32Array(B * M);
          let any = false;
          for (let i = 0; i < B * M; i++) {
            if (mb.queryFrames![i] === s && s > 0) {
              m[i] = 1;
              any = true;
            }
          }
          masks.push(any ? tape.keep(ctx.upload(m, [B * M])) : null);
        }
        const frames = trackReadout(tape, P, cfg, F, B, queries, masks);
        if (losses) {
          frames.forEach((fr, s) => this.trackLosses(tape, cfg, mb, s, fr.values, fr.logits, losses));
        }
        return new Map([
          ['values', frames.map((f) => f.values)],
          ['logits', frames.map((f) => f.logits)],
        ]);
      }
    }
  }

  /** Frame s's loss terms of a tracking head (OC14 points, OC15 boxes). */
  private trackLosses(
    tape: Tape,
    cfg: TrackHeadConfig,
    mb: HostBatch,
    s: number,
    values: Var,
    logits: Var,
    losses: { objective: Tensor; scales: LossScales },
  ): void {
    const ctx = this.ctx;
    const { B, T } = mb;
    const M = mb.M!;
    const nv = cfg.n_values;
    const tgt = new Float32Array(B * M * nv);
    const vis = new Float32Array(B * M);
    for (let i = 0; i < B; i++) {
      for (let m = 0; m < M; m++) {
        const src = ((i * T + s) * M + m) * nv;
        tgt.set(mb.tracks!.subarray(src, src + nv), (i * M + m) * nv);
        vis[i * M + m] = mb.visible![(i * T + s) * M + m]!;
      }
    }
    const target = tape.keep(ctx.upload(tgt, [B * M, nv]));
    const mask = tape.keep(ctx.upload(vis, [B * M]));
    const o = losses.objective;
    if (cfg.kind === 'boxes') {
      op.l2(tape, values, target, mask, { objective: o, scale: losses.scales.main });
      return;
    }
    op.huber(tape, values, target, mask, { objective: o, scale: losses.scales.main });
    op.bce(tape, logits, 0, mask, null, { objective: o, scale: losses.scales.visibility! });
    const cert = tape.keep(certaintyTarget(ctx, values.value, target));
    op.bce(tape, logits, 1, cert, mask, { objective: o, scale: losses.scales.certainty! });
  }

  /** Every output for every clip of the batch, with a leading batch dimension. */
  async forward(batch: HostBatch): Promise<Map<string, HostOutput>> {
    const parts = new Map<string, Float32Array[]>();
    const shapes = new Map<string, number[]>();
    const step = this.clipsPerMicroBatch(batch);
    for (let b0 = 0; b0 < batch.B; b0 += step) {
      const mb = sliceBatch(batch, b0, Math.min(batch.B, b0 + step), this.cfg);
      const tape = new Tape(this.ctx);
      try {
        const outs = this.run(tape, mb, null);
        for (const [name, vars] of outs) {
          const host = await Promise.all(vars.map((v) => v.value.read()));
          const arranged = this.arrange(name, host, mb);
          shapes.set(name, arranged.shape.slice(1));
          parts.set(name, [...(parts.get(name) ?? []), arranged.data]);
        }
      } finally {
        tape.dispose();
      }
    }
    const out = new Map<string, HostOutput>();
    for (const [name, list] of parts) {
      const total = list.reduce((s, a) => s + a.length, 0);
      const data = new Float32Array(total);
      let at = 0;
      for (const a of list) {
        data.set(a, at);
        at += a.length;
      }
      out.set(name, { shape: [batch.B, ...shapes.get(name)!], data });
    }
    return out;
  }

  /** Host outputs of one micro-batch in [b, …] order. */
  private arrange(name: string, host: Float32Array[], mb: HostBatch): HostOutput {
    const cfg = this.cfg;
    if (cfg.kind === 'points' || cfg.kind === 'boxes') {
      const M = mb.M!;
      const w = name === 'values' ? cfg.n_values : cfg.n_logits;
      const T = host.length;
      const data = new Float32Array(mb.B * T * M * w);
      host.forEach((frame, s) => {
        for (let i = 0; i < mb.B; i++) {
          data.set(frame.subarray(i * M * w, (i + 1) * M * w), (i * T + s) * M * w);
        }
      });
      return { shape: [mb.B, T, M, w], data };
    }
    const only = host[0]!;
    if (cfg.kind === 'depth') {
      return { shape: [mb.B, mb.T, this.grid[0] * this.grid[1]], data: only };
    }
    return { shape: [mb.B, only.length / mb.B], data: only };
  }

  /**
   * The batch loss (OC10 over the whole batch) and its gradient for every weight, accumulated
   * into the gradient arena (zeroed first).
   */
  async lossAndGrad(batch: HostBatch): Promise<number> {
    const scales = lossScales(this.cfg, batch, this.grid);
    this.params.zeroGrads();
    const objective = this.ctx.zeros([1], 'f32', 'objective');
    try {
      const step = this.clipsPerMicroBatch(batch);
      for (let b0 = 0; b0 < batch.B; b0 += step) {
        const mb = sliceBatch(batch, b0, Math.min(batch.B, b0 + step), this.cfg);
        const tape = new Tape(this.ctx);
        try {
          this.run(tape, mb, { objective, scales });
          tape.backward();
        } finally {
          tape.dispose();
        }
      }
      return (await objective.read())[0]!;
    } finally {
      objective.dispose();
    }
  }

  /** One AdamW update (OC22) with learning rate `lr`; `updates` = updates applied before it. */
  update(updates: number, o: AdamwOptions): void {
    writeAdamwHyper(this.ctx, this.hyper, {
      lr: o.lr,
      step: updates,
      b1: o.b1 ?? 0.9,
      b2: o.b2 ?? 0.999,
      eps: o.eps ?? 1e-8,
      weightDecay: o.weightDecay,
    });
    const P = this.params;
    adamwStep(this.ctx, { param: P.values, grad: P.grads, m: P.m, v: P.v }, this.hyper);
  }
}

/** The loss weights divided by the whole batch's unmasked-element counts (OC10, OC14). */
export interface LossScales {
  main: number;
  visibility?: number;
  certainty?: number;
}

export function lossScales(cfg: HeadConfig, b: HostBatch, grid: readonly [number, number]): LossScales {
  const count = (m: Float32Array | undefined): number => (m ? m.reduce((s, v) => s + v, 0) : 0);
  switch (cfg.kind) {
    case 'attention':
      return { main: 1 / b.B };
    case 'camera':
      return { main: 1 / (12 * b.B) };
    case 'depth':
      return { main: 1 / Math.max(depthTargets(b.depth!, b.B, b.T, grid).valid, 1e-8) };
    case 'points': {
      const vis = count(b.visible);
      return {
        main: 100 / Math.max(vis, 1e-8),
        visibility: 0.1 / (b.B * b.T * b.M!),
        certainty: 0.1 / Math.max(vis, 1e-8),
      };
    }
    case 'boxes':
      return { main: 1 / Math.max(cfg.n_values * count(b.visible), 1e-8) };
  }
}
