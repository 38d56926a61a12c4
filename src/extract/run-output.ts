// The output side of a walt extract run: each item's tensors go into the shard being filled and its
// manifest line waits until that shard is on disk; a flush writes the shard, then the manifest with
// the lines of the items it holds (so the manifest never names a shard that is not there).

import type { ClipLatents, FeatureTensor } from './features.js';
import { writeManifest, type ManifestLine, type ManifestOk, type TensorInfo } from './manifest.js';
import type { ExtractSummary } from './run-options.js';
import type { Work } from './run-source.js';
import type { Stopwatch } from './run-summary.js';
import { itemKey } from './run-validate.js';
import { ShardWriter } from './shards.js';

/** What {@link RunOutput} writes into and reports to. */
export interface RunOutputEnv {
  out: string;
  shardBytes: number;
  /** Config name, for the shards' metadata. */
  config: string;
  clock: Stopwatch;
  /** The manifest lines by source (this output adds the lines of written items). */
  lines: Map<string, ManifestLine>;
  /** The manifest lines in input order. */
  sortedLines: () => ManifestLine[];
  /** Creates the folder, extract.json and extract.log before the first write. */
  ensureFolder: () => Promise<void>;
  summary: ExtractSummary;
}

/** The shard being filled, the manifest lines waiting for it, and the frames written. */
export class RunOutput {
  readonly writer: ShardWriter;
  /** Lines of the items in the unwritten shard: they enter the manifest with it. */
  readonly pendingLines: ManifestOk[] = [];
  /** Frames of the items emitted so far. */
  frames = 0;
  private readonly out: string;
  private readonly meta: Record<string, string>;
  private readonly clock: Stopwatch;
  private readonly lines: Map<string, ManifestLine>;
  private readonly sortedLines: () => ManifestLine[];
  private readonly ensureFolder: () => Promise<void>;
  private readonly summary: ExtractSummary;

  constructor(env: RunOutputEnv) {
    this.writer = new ShardWriter(env.out, env.shardBytes);
    this.out = env.out;
    this.meta = { config: env.config, generator: 'walt extract' };
    this.clock = env.clock;
    this.lines = env.lines;
    this.sortedLines = env.sortedLines;
    this.ensureFolder = env.ensureFolder;
    this.summary = env.summary;
  }

  /** Writes the shard being filled (if any), then the manifest. */
  async flush(): Promise<void> {
    await this.clock.time('write', async () => {
      await this.ensureFolder();
      const name = await this.writer.flush(this.meta);
      if (name) {
        for (const l of this.pendingLines.splice(0)) {
          this.lines.set(l.source, l);
        }
      }
      await writeManifest(this.out, this.sortedLines());
    });
  }

  /** Adds an item's features (and latents) to the shard; flushes it when full. */
  async emit(w: Work, feats: Map<string, FeatureTensor>, latents?: ClipLatents): Promise<void> {
    const key = itemKey(w.item.source);
    const all = new Map(feats);
    if (latents) {
      all.set('latent/z0', latents.z0);
      all.set('latent/eps', latents.eps);
    }
    const { shard, tensors } = this.writer.add({ key, tensors: all });
    const featureInfo: Record<string, TensorInfo> = {};
    for (const n of feats.keys()) {
      featureInfo[n] = tensors[n]!;
    }
    this.pendingLines.push({
      source: w.item.source,
      status: 'ok',
      kind: w.meta.kind,
      key,
      shard,
      tensors: featureInfo,
      ...(latents ? { latents: { z0: tensors['latent/z0']!, eps: tensors['latent/eps']! } } : {}),
      frame_indices: w.meta.frame_indices,
      ...(w.meta.pts ? { pts: w.meta.pts } : {}),
      ...(w.meta.warnings ? { warnings: w.meta.warnings } : {}),
      ...(w.item.label !== undefined ? { label: w.item.label } : {}),
    });
    this.summary.ok++;
    this.frames += w.meta.frame_indices.length;
    if (this.writer.full) {
      await this.flush();
    }
  }
}
