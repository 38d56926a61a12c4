// Reading extracted features: the manifest plus lazy per-tensor reads from the shards.
import { dirname, join, resolve } from 'node:path';
import { SafetensorsFile } from '../io/safetensors.js';
import { MANIFEST, readManifest, type ManifestLine, type ManifestOk } from './manifest.js';

export class FeatureSet {
  private readonly files = new Map<string, SafetensorsFile>();

  private constructor(
    readonly dir: string,
    readonly lines: readonly ManifestLine[],
  ) {}

  /** Opens DIR (a folder with manifest.jsonl, or the manifest path itself). */
  static open(dirOrManifest: string): FeatureSet {
    const dir = dirOrManifest.endsWith(MANIFEST) ? dirname(dirOrManifest) : dirOrManifest;
    return new FeatureSet(resolve(dir), readManifest(dir));
  }

  get ok(): ManifestOk[] {
    return this.lines.filter((l): l is ManifestOk => l.status === 'ok');
  }

  item(source: string): ManifestOk {
    const l = this.lines.find((x) => x.source === source);
    if (!l) {
      throw new Error(`${this.dir}: no item '${source}' in the manifest`);
    }
    if (l.status !== 'ok') {
      throw new Error(`${this.dir}: item '${source}' failed: ${l.error}`);
    }
    return l;
  }

  /** One feature tensor of an item, e.g. read('clip.mp4', 't200/block.16'), as f32. */
  async read(source: string, name: string): Promise<{ shape: number[]; data: Float32Array }> {
    const it = this.item(source);
    const info = it.tensors[name];
    if (!info) {
      throw new Error(`${source}: no feature '${name}' (has ${Object.keys(it.tensors).join(', ')})`);
    }
    let f = this.files.get(it.shard);
    if (!f) {
      f = await SafetensorsFile.open(join(this.dir, it.shard));
      this.files.set(it.shard, f);
    }
    return { shape: info.shape, data: await f.readF32(`${it.key}/${name}`) };
  }

  async close(): Promise<void> {
    for (const f of this.files.values()) {
      await f.close();
    }
    this.files.clear();
  }
}
