// The first phase of walt extract: validation reads and checks everything (options, inputs or the
// latents folder, the weights' header against the config, the output folder's options and manifest)
// and writes nothing, so a failed run never leaves a folder that later runs refuse. Also what
// defines a run (its RunSpec), the shard of an item and an item's key inside a shard.

import { existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { scanInputs, type InputItem } from '../io/inputs.js';
import { SafetensorsFile } from '../io/safetensors.js';
import { validateWeights } from '../model/weights.js';
import { hashString } from '../util/rng.js';
import { readManifest, type ManifestLine, type ManifestOk } from './manifest.js';
import type { ExtractOptions } from './run-options.js';
import {
  INFO_KEYS,
  OptionsError,
  readSpec,
  showValue,
  SPEC_FILE,
  specDifferences,
  weightsDigest,
  type RunSpec,
} from './spec.js';

/** Deterministic shard of an item: hash of its source path. */
export function shardOf(source: string, count: number): number {
  return hashString(source) % count;
}

/** Tensor group name of an item inside a shard. */
export function itemKey(source: string): string {
  const h1 = hashString(source).toString(16).padStart(8, '0');
  const h2 = hashString(`walt:${source}`).toString(16).padStart(8, '0');
  return `item-${h1}${h2}`;
}

/** What defines the features; stored in DIR/extract.json; a rerun must match it. */
export function runSpec(o: ExtractOptions, weightsId: string): RunSpec {
  return {
    config: o.config.name,
    pixels: o.config.pixels,
    weights: weightsId,
    t: o.ts,
    blocks: o.blocks,
    noise_seed: o.noiseSeed,
    pool: o.pool,
    dtype: o.dtype,
    compute: o.compute,
    resample: o.resample ?? null,
    stride: o.stride,
    start: o.start,
    start_seed: o.startSeed,
    image_mode: o.imageMode,
    frames: o.config.denoiser.imageModel ? o.frames : null,
    class: o.classIndex ?? null,
    keep_latents: o.keepLatents ?? false,
    shard: `${o.shard.index}/${o.shard.count}`,
    ...(o.weights ? { weights_path: resolve(o.weights) } : {}),
    ...(o.fromLatents ? { latents_from: resolve(o.fromLatents) } : {}),
  };
}

/** What validation found: everything the loop needs, nothing written. */
export interface Plan {
  spec: RunSpec;
  all: number;
  mine: InputItem[];
  unknownFiles: string[];
  /** `--from-latents`: the cached items by source, and lines of that folder to copy (errors). */
  cache?: { dir: string; bySource: Map<string, ManifestOk>; errors: Map<string, ManifestLine> };
  existing: ManifestLine[];
  folderExists: boolean;
}

/** Pixel-side options a `--from-latents` run takes from the latents' folder. */
export const LATENT_SOURCE_KEYS = [
  'config',
  'pixels',
  'noise_seed',
  'compute',
  'stride',
  'start',
  'start_seed',
  'image_mode',
  'frames',
] as const;

/** Checks everything the run needs and returns its plan; throws OptionsError naming the input and the fix. */
export async function validate(o: ExtractOptions, log: (s: string) => void): Promise<Plan> {
  const cfg = o.config;
  const layers = cfg.denoiser.layers;
  for (const l of o.blocks) {
    if (!Number.isInteger(l) || l < 1 || l > layers) {
      throw new OptionsError(`--blocks: ${l} is not a block of '${cfg.name}' (1…${layers})`);
    }
  }
  for (const t of o.ts) {
    if (!Number.isInteger(t) || t < 0 || t > 999) {
      throw new OptionsError(`--t: ${t} is not a diffusion step (0…999)`);
    }
  }
  if (o.classIndex !== undefined && (o.classIndex < 0 || o.classIndex > cfg.denoiser.numClasses)) {
    throw new OptionsError(
      `--class ${o.classIndex}: '${cfg.name}' has classes 0…${cfg.denoiser.numClasses - 1} and the null class ${cfg.denoiser.numClasses}`,
    );
  }
  if (existsSync(o.out) && !statSync(o.out).isDirectory()) {
    throw new OptionsError(`--out ${o.out} is a file, not a folder; give a folder`);
  }

  // Inputs.
  let items: InputItem[];
  let unknownFiles: string[] = [];
  let cache: Plan['cache'];
  if (o.fromLatents) {
    if (o.inputs.length > 0) {
      throw new OptionsError('--from-latents DIR takes its items from DIR: give no inputs with it');
    }
    const dir = o.fromLatents;
    const src = readSpec(dir);
    if (src === null) {
      throw new OptionsError(`--from-latents ${dir}: no ${SPEC_FILE} there (is it a walt extract folder?)`);
    }
    if (src.keep_latents !== true) {
      throw new OptionsError(`--from-latents ${dir}: that run did not keep latents (extract it with --keep-latents)`);
    }
    const lines = readManifest(dir);
    const bySource = new Map<string, ManifestOk>();
    const errors = new Map<string, ManifestLine>();
    items = [];
    for (const l of lines) {
      if (l.status === 'ok' && !l.latents) {
        throw new OptionsError(`--from-latents ${dir}: '${l.source}' has no latents in the manifest`);
      }
      if (l.status === 'ok') {
        bySource.set(l.source, l);
      } else {
        errors.set(l.source, l);
      }
      items.push({ source: l.source, path: resolve(l.source), kind: l.kind ?? 'unknown' });
      if (l.label !== undefined) {
        items[items.length - 1]!.label = l.label;
      }
    }
    cache = { dir, bySource, errors };
  } else {
    const missing = o.inputs.filter((p) => !existsSync(p));
    if (missing.length > 0) {
      throw new OptionsError(
        `${missing.map((p) => `'${p}'`).join(', ')}: no such file or folder; check the path${missing.length > 1 ? 's' : ''}`,
      );
    }
    const scan = await scanInputs(o.inputs);
    items = scan.items;
    unknownFiles = scan.skipped;
  }

  // Weights: header and tensor list against the config, digest.
  let weightsId = `random:${o.weightsSeed}`;
  if (o.weights) {
    if (!existsSync(o.weights)) {
      throw new OptionsError(
        `--weights ${o.weights}: no such file (make one with: walt init --config ${cfg.name} --out ${o.weights})`,
      );
    }
    let file: SafetensorsFile | undefined;
    try {
      file = await SafetensorsFile.open(o.weights);
      validateWeights(file, cfg, !o.fromLatents);
    } catch (e) {
      throw new OptionsError(`--weights: ${e instanceof Error ? e.message : String(e)}`);
    } finally {
      await file?.close();
    }
    weightsId = await weightsDigest(o.weights);
    log(`weights ${o.weights}: ${weightsId}`);
  }

  // The folder's options.
  const spec = runSpec(o, weightsId);
  const old = readSpec(o.out);
  if (old !== null) {
    // Folders from before `keep_latents` existed kept no latents.
    const diff = specDifferences(spec, { keep_latents: false, ...old }, INFO_KEYS);
    if (diff.length > 0) {
      throw new OptionsError(
        `${o.out} holds features extracted with other options:\n` +
          diff.map((d) => `  ${d.key}: ${showValue(d.a)} here, ${showValue(d.b)} in the folder`).join('\n') +
          `\nUse the folder's options, or another --out folder.`,
      );
    }
  }
  const existing = readManifest(o.out);
  const mine = items.filter((it) => shardOf(it.source, o.shard.count) === o.shard.index);
  return {
    spec,
    all: items.length,
    mine,
    unknownFiles,
    ...(cache ? { cache } : {}),
    existing,
    folderExists: old !== null || existing.length > 0,
  };
}
