// Where a run's work comes from: decoded clips from the decode pool (ahead of the GPU, in input
// order; interrupted decodes are left for the next run), or, with --from-latents, the latents that
// a --keep-latents run stored in its shards. Failed inputs come through as errors.

import { join } from 'node:path';
import { DecodePool } from '../io/decode-pool.js';
import type { InputItem } from '../io/inputs.js';
import type { Clip } from '../io/media.js';
import { SafetensorsFile } from '../io/safetensors.js';
import type { FeatureTensor } from './features.js';
import type { ItemKind } from './manifest.js';
import type { ExtractOptions } from './run-options.js';
import type { Plan } from './run-validate.js';

/** One unit of work: an input and either its decoded clip or its cached latents. */
export interface Work {
  item: InputItem;
  meta: ItemMeta;
  clip?: Clip;
  /** Cached z₀ (n, T', h, w, c) and ε for `--from-latents`. */
  cached?: { z0: FeatureTensor; eps: FeatureTensor };
}

/** What the manifest records about an item besides its tensors. */
export interface ItemMeta {
  kind: ItemKind;
  frame_indices: number[];
  pts?: (number | null)[];
  warnings?: string[];
}

export const metaOf = (item: InputItem, clip: Clip): ItemMeta => ({
  kind: item.kind,
  frame_indices: clip.framesUsed,
  ...(clip.pts ? { pts: clip.pts } : {}),
  ...(clip.warnings.length ? { warnings: clip.warnings } : {}),
});

/** The decode pool of a run from pixels: clips of the config's frames and size. */
export function decodePoolFor(o: ExtractOptions): DecodePool {
  const cfg = o.config;
  const imageModel = cfg.denoiser.imageModel;
  return new DecodePool({
    ...(o.concurrency ? { concurrency: o.concurrency } : {}),
    ...(o.workerUrl ? { workerUrl: o.workerUrl } : {}),
    clip: {
      frames: cfg.pixels[0],
      stride: o.stride,
      start: o.start,
      seed: o.startSeed,
      size: [cfg.pixels[1], cfg.pixels[2]],
      imageFrames: o.imageMode === 'single' && !imageModel ? 1 : cfg.pixels[0],
    },
  });
}

/** One result of the source: work for the GPU, or an input that failed to decode. */
export type Next = { work: Work } | { error: { item: InputItem; message: string; reason: string } };

/**
 * The run's work in input order: from `pool` (decoding `todo`), or else from the latents folder
 * `cache` (its shards opened into `cacheFiles`, which the caller closes). Stops when `feeding` aborts.
 */
export async function* workSource(
  pool: DecodePool | null,
  todo: readonly InputItem[],
  feeding: AbortController,
  cache: Plan['cache'],
  cacheFiles: Map<string, SafetensorsFile>,
): AsyncGenerator<Next> {
  if (pool) {
    for await (const r of pool.decode(todo, feeding.signal)) {
      if (r.error) {
        if (r.error.reason === 'interrupted') {
          continue; // not the file's fault: the next run decodes it again
        }
        yield { error: { item: r.item, message: r.error.message, reason: r.error.reason } };
      } else {
        yield { work: { item: r.item, meta: metaOf(r.item, r.ok), clip: r.ok } };
      }
    }
    return;
  }
  for (const item of todo) {
    if (feeding.signal.aborted) {
      return;
    }
    const l = cache!.bySource.get(item.source);
    if (!l) {
      continue; // a failed input: its line was copied above
    }
    let f = cacheFiles.get(l.shard);
    if (!f) {
      f = await SafetensorsFile.open(join(cache!.dir, l.shard));
      cacheFiles.set(l.shard, f);
    }
    const z0Bytes = await f.readBytes(`${l.key}/latent/z0`);
    const eps = await f.readF32(`${l.key}/latent/eps`);
    const z0Info = l.latents!.z0;
    const z0: FeatureTensor = {
      shape: z0Info.shape,
      dtype: z0Info.dtype === 'F16' ? 'f16' : 'f32',
      data:
        z0Info.dtype === 'F16'
          ? new Uint16Array(z0Bytes.buffer.slice(z0Bytes.byteOffset, z0Bytes.byteOffset + z0Bytes.byteLength))
          : new Float32Array(z0Bytes.buffer.slice(z0Bytes.byteOffset, z0Bytes.byteOffset + z0Bytes.byteLength)),
    };
    const meta: ItemMeta = {
      kind: l.kind,
      frame_indices: l.frame_indices,
      ...(l.pts ? { pts: l.pts } : {}),
      ...(l.warnings ? { warnings: l.warnings } : {}),
    };
    yield { work: { item, meta, cached: { z0, eps: { shape: l.latents!.eps.shape, data: eps, dtype: 'f32' } } } };
  }
}
