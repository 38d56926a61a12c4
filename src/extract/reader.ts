// Reading extracted features: the manifest plus lazy per-tensor reads from the shards. This is the
// package's library entry (`import { FeatureSet } from 'walt-webgpu'`): it needs no GPU.
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { SafetensorsFile } from '../io/safetensors.js';
import { MANIFEST, readManifest, type ManifestLine, type ManifestOk } from './manifest.js';
import { readSpec, type RunSpec } from './spec.js';

/** One tensor read from a shard, as f32. */
export interface FeatureArray {
  /** PyTorch order, outermost first, e.g. [T', h, w, D] for `t200/block.16` unpooled. */
  shape: number[];
  data: Float32Array;
}

/** A folder of extracted features (one run, or a `walt merge` of several). */
export class FeatureSet {
  private readonly files = new Map<string, SafetensorsFile>();
  private readonly bySource: Map<string, ManifestLine>;

  private constructor(
    /** Absolute path of the folder. */
    readonly dir: string,
    /** Every manifest line, in the manifest's order (input order; merged: folder by folder). */
    readonly lines: readonly ManifestLine[],
    /** The options the features were extracted with (DIR/extract.json), or null when absent. */
    readonly spec: RunSpec | null,
  ) {
    this.bySource = new Map(lines.map((l) => [l.source, l]));
  }

  /**
   * Opens DIR (a folder with manifest.jsonl, or the manifest path itself).
   *
   * @throws Error when the folder has no manifest.jsonl (the message names the folder).
   */
  static open(dirOrManifest: string): FeatureSet {
    const dir = dirOrManifest.endsWith(MANIFEST) ? dirname(dirOrManifest) : dirOrManifest;
    if (!existsSync(join(dir, MANIFEST))) {
      throw new Error(`${dir}: no ${MANIFEST} (not a walt extract folder, or the run has not written anything yet)`);
    }
    return new FeatureSet(resolve(dir), readManifest(dir), readSpec(dir));
  }

  /** The extracted items, in manifest order. */
  get ok(): ManifestOk[] {
    return this.lines.filter((l): l is ManifestOk => l.status === 'ok');
  }

  /** The feature names of the folder (those of its first item), e.g. ['t200/block.16']. */
  get featureNames(): string[] {
    const first = this.ok[0];
    return first ? Object.keys(first.tensors) : [];
  }

  /** The manifest line of an extracted item. */
  item(source: string): ManifestOk {
    const l = this.bySource.get(source);
    if (!l) {
      throw new Error(`${this.dir}: no item '${source}' in the manifest`);
    }
    if (l.status !== 'ok') {
      throw new Error(`${this.dir}: item '${source}' failed: ${l.error}`);
    }
    return l;
  }

  /** One feature tensor of an item, e.g. read('clip.mp4', 't200/block.16'), as f32. */
  async read(source: string, name: string): Promise<FeatureArray> {
    const it = this.item(source);
    const info = it.tensors[name];
    if (!info) {
      throw new Error(`${source}: no feature '${name}' (has ${Object.keys(it.tensors).join(', ')})`);
    }
    return { shape: info.shape, data: await this.tensor(it, `${it.key}/${name}`) };
  }

  /**
   * The latents an item was extracted from (runs with `--keep-latents`): z₀ and ε, each
   * (n, T', h, w, c) as f32.
   */
  async readLatents(source: string): Promise<{ z0: FeatureArray; eps: FeatureArray }> {
    const it = this.item(source);
    if (!it.latents) {
      throw new Error(`${source}: no latents (extract with --keep-latents)`);
    }
    return {
      z0: { shape: it.latents.z0.shape, data: await this.tensor(it, `${it.key}/latent/z0`) },
      eps: { shape: it.latents.eps.shape, data: await this.tensor(it, `${it.key}/latent/eps`) },
    };
  }

  private async tensor(it: ManifestOk, name: string): Promise<Float32Array> {
    let f = this.files.get(it.shard);
    if (!f) {
      f = await SafetensorsFile.open(join(this.dir, it.shard));
      this.files.set(it.shard, f);
    }
    return f.readF32(name);
  }

  /** Closes the shard files opened so far. */
  async close(): Promise<void> {
    for (const f of this.files.values()) {
      await f.close();
    }
    this.files.clear();
  }
}
