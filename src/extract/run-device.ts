// The device side of walt extract's setup, after validation: the GPU context and its limits
// (shader-f16, the binding limit against the batch), the kernel tuning, the weights (a file, or
// seeded random ones with a notice), the batch size, and GPU-busy time from timestamps.

import { GpuContext } from '../gpu/context.js';
import type { SafetensorsFile } from '../io/safetensors.js';
import { loadOrTune } from '../kernels/tuning.js';
import { tokenGrid, type WaltConfig } from '../model/config.js';
import { loadWeights, randomWeightValues, uploadWeights, type ModelWeights } from '../model/weights.js';
import type { FloatDType } from '../tensor/dtype.js';
import type { ExtractOptions } from './run-options.js';
import type { Plan } from './run-validate.js';
import { OptionsError } from './spec.js';

/** Bytes of the largest activation one clip needs in the denoiser (the MLP's hidden layer). */
function bytesPerClip(cfg: WaltConfig, dtype: FloatDType): number {
  const d = cfg.denoiser;
  const g = tokenGrid(d);
  return g[0] * g[1] * g[2] * d.width * d.mlpRatio * (dtype === 'f16' ? 2 : 4);
}

/** Denoiser batch size from the device's binding limit (the MLP hidden layer is the largest). */
export function autoBatch(ctx: GpuContext, cfg: WaltConfig, dtype: FloatDType): number {
  return Math.max(1, Math.min(8, Math.floor(ctx.caps.limits.maxStorageBufferBindingSize / bytesPerClip(cfg, dtype))));
}

/** What a run must release however it ends; filled in as the setup and the loop acquire them. */
export interface RunResources {
  ctx: GpuContext | null;
  weights: ModelWeights | null;
  /** `--from-latents`: the latents folder's shards opened so far, by name. */
  cacheFiles: Map<string, SafetensorsFile>;
}

/** GPU-busy seconds from timestamps, added up per model part (the records are kept until taken). */
export class GpuBusy {
  /** Seconds in the encoder and in the denoiser. */
  readonly busy = { encoder: 0, denoiser: 0 };
  private dispatchesAtDrain: number;
  private readonly ctx: GpuContext;
  /** Whether timestamps are recorded. */
  readonly enabled: boolean;

  constructor(ctx: GpuContext, enabled: boolean) {
    this.ctx = ctx;
    this.enabled = enabled;
    this.dispatchesAtDrain = ctx.stats.dispatches;
  }

  /** Adds up the timestamps recorded so far: every 20 000 dispatches, or now with `force`. */
  async drain(force: boolean): Promise<void> {
    const C = this.ctx;
    if (!this.enabled || (!force && C.stats.dispatches - this.dispatchesAtDrain < 20_000)) {
      return;
    }
    this.dispatchesAtDrain = C.stats.dispatches;
    for (const r of await C.takeProfile()) {
      if (r.tag === 'encoder') {
        this.busy.encoder += r.ms / 1000;
      } else {
        this.busy.denoiser += r.ms / 1000;
      }
    }
  }
}

/** The started device of a run. */
export interface RunDevice {
  ctx: GpuContext;
  weights: ModelWeights;
  batchSize: number;
  busy: GpuBusy;
}

/**
 * Creates the GPU context and loads the weights (into `res` as soon as each exists, so the caller
 * releases them whatever happens), checking the device's limits before anything is written.
 * @param log the run's log (extract.log)
 */
export async function startDevice(
  o: ExtractOptions,
  plan: Plan,
  log: (s: string) => void,
  res: RunResources,
): Promise<RunDevice> {
  res.ctx = await GpuContext.create(o.adapter ? { adapter: o.adapter } : {});
  const C = res.ctx;
  // Device limits, before anything is written.
  if (o.compute === 'f16' && !C.caps.f16) {
    throw new OptionsError(`--compute f16: ${C.adapter.name} has no shader-f16; use --compute f32`);
  }
  const maxBatch = Math.floor(C.caps.limits.maxStorageBufferBindingSize / bytesPerClip(o.config, o.compute));
  if (maxBatch < 1) {
    throw new OptionsError(
      `'${o.config.name}' needs ${bytesPerClip(o.config, o.compute)} bytes per clip in one binding; ${C.adapter.name} allows ${C.caps.limits.maxStorageBufferBindingSize} (try --compute f16)`,
    );
  }
  if (o.batch !== undefined && o.batch > maxBatch) {
    throw new OptionsError(
      `--batch ${o.batch}: ${C.adapter.name}'s binding limit allows at most ${maxBatch} clips of '${o.config.name}' per batch`,
    );
  }
  await loadOrTune(C, { log: (s) => log(`tune: ${s}`) });
  const needEncoder = !plan.cache;
  if (o.weights) {
    res.weights = await loadWeights(C, o.weights, o.config, { needEncoder, dtype: o.compute });
  } else {
    o.log(
      `\n  *** NOTICE: no --weights given: extracting with SEEDED RANDOM weights (seed ${o.weightsSeed}) for '${o.config.name}'. ***\n` +
        `  *** These features are for testing the pipeline only.                                              ***\n`,
    );
    res.weights = uploadWeights(C, o.config, randomWeightValues(o.config, o.weightsSeed), {
      needEncoder,
      dtype: o.compute,
      source: `random:${o.weightsSeed}`,
    });
  }
  const W = res.weights;
  const batchSize = o.batch ?? autoBatch(C, o.config, o.compute);
  let timestamps = (o.gpuTimes ?? true) || o.profile === true;
  if (timestamps && !C.device.features.has('timestamp-query')) {
    timestamps = false;
    log('no timestamp-query on this adapter: GPU-busy time is not measured');
  }
  if (timestamps) {
    C.setProfiling(true);
  }
  return { ctx: C, weights: W, batchSize, busy: new GpuBusy(C, timestamps) };
}
