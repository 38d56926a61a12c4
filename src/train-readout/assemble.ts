// Batch assembly: the features of a list of clips read from their shards (F16 → F32), resampled
// in time as the head reads them (OC25), stacked with the clips' targets into a HostBatch. Runs
// on the batch worker (batch-worker.ts) or, without one, in-process; both give the same bytes.
import { join } from 'node:path';
import { SafetensorsFile } from '../io/safetensors.js';
import type { HostBatch } from '../readout/batch.js';
import type { HeadKind } from '../readout/spec.js';
import { resampleTimeForward } from '../ref/resample.js';
import type { TaskData } from './dataset.js';

/**
 * How a head kind takes a clip's `[T', N, C]` features:
 * - `attention`: as extracted; the runner resamples them to the head's T (OC25);
 * - `camera`: resampled to the clip's frame count, then frames 0 and T−1 (the runner
 *   concatenates them, OC8);
 * - `depth`, `points`, `boxes`: resampled to the clip's frame count (one feature frame per
 *   target frame, §6 step 6).
 */
export function featureFrames(kind: HeadKind, data: Pick<TaskData, 'layout' | 'frames'>): number {
  switch (kind) {
    case 'attention':
      return data.layout.T;
    case 'camera':
      return 2;
    case 'depth':
    case 'points':
    case 'boxes':
      return data.frames;
  }
}

/** Reads clips' features and targets into batches. */
export class BatchAssembler {
  private readonly files = new Map<string, Promise<SafetensorsFile>>();

  constructor(readonly data: TaskData) {}

  /** One clip's features as the head takes them: `[T, N, C]` f32 (see {@link featureFrames}). */
  async clipFeatures(i: number): Promise<Float32Array> {
    const d = this.data;
    const clip = d.clips[i]!;
    let f = this.files.get(clip.feature.shard);
    if (!f) {
      // The promise is cached, so concurrent reads of one shard share one file handle.
      f = SafetensorsFile.open(join(d.featuresDir, clip.feature.shard));
      this.files.set(clip.feature.shard, f);
    }
    const raw = await (await f).readF32(clip.feature.tensor);
    const { T, N, C } = d.layout;
    if (d.kind === 'attention') {
      return raw;
    }
    const full = T === d.frames ? raw : Float32Array.from(resampleTimeForward(raw, T, N, C, d.frames).y);
    if (d.kind !== 'camera') {
      return full;
    }
    const out = new Float32Array(2 * N * C);
    out.set(full.subarray(0, N * C), 0);
    out.set(full.subarray((d.frames - 1) * N * C, d.frames * N * C), N * C);
    return out;
  }

  /**
   * The batch of clips `indices` (repeats allowed). Tracking batches have `M` tracks per clip
   * (default: the set's most), padded with invisible tracks at query (0, …) on frame 0.
   */
  async batch(indices: readonly number[], M = this.data.maxTracks ?? 0): Promise<HostBatch> {
    const d = this.data;
    const { N, C } = d.layout;
    const T = featureFrames(d.kind, d);
    const B = indices.length;
    const per = T * N * C;
    const features = new Float32Array(B * per);
    for (let b = 0; b < B; b++) {
      features.set(await this.clipFeatures(indices[b]!), b * per);
    }
    const batch: HostBatch = { B, T, N, C, features };
    const clips = indices.map((i) => d.clips[i]!.targets);
    switch (d.kind) {
      case 'attention':
        batch.labels = Int32Array.from(clips, (c) => c.label!);
        break;
      case 'camera': {
        const pose = new Float32Array(B * 12);
        clips.forEach((c, b) => pose.set(c.pose!, b * 12));
        batch.pose = pose;
        break;
      }
      case 'depth': {
        const [hq, wq] = d.grid!;
        const depth = new Float32Array(B * T * hq * wq);
        clips.forEach((c, b) => depth.set(c.depth!, b * T * hq * wq));
        batch.depth = { data: depth, H: hq, W: wq };
        break;
      }
      case 'points':
      case 'boxes': {
        const nc = d.kind === 'points' ? 2 : 4;
        const queries = new Float32Array(B * M * nc);
        const queryFrames = new Int32Array(B * M);
        const tracks = new Float32Array(B * T * M * nc);
        const visible = new Float32Array(B * T * M);
        clips.forEach((c, b) => {
          const m = c.M!;
          if (m > M) {
            throw new Error(`clip with ${m} tracks in a batch of ${M} per clip`);
          }
          queries.set(c.queries!, b * M * nc);
          queryFrames.set(c.queryFrames!, b * M);
          for (let t = 0; t < T; t++) {
            tracks.set(c.tracks!.subarray(t * m * nc, (t + 1) * m * nc), (b * T + t) * M * nc);
            visible.set(c.visible!.subarray(t * m, (t + 1) * m), (b * T + t) * M);
          }
        });
        Object.assign(batch, { M, queries, queryFrames, tracks, visible });
        break;
      }
    }
    return batch;
  }

  async close(): Promise<void> {
    for (const f of this.files.values()) {
      await (await f.catch(() => null))?.close();
    }
    this.files.clear();
  }
}

/** The typed arrays of a batch (to transfer between threads). */
export function batchBuffers(b: HostBatch): ArrayBuffer[] {
  const arrays = [b.features, b.labels, b.pose, b.depth?.data, b.queries, b.queryFrames, b.tracks, b.visible];
  return [...new Set(arrays.filter((a) => a !== undefined).map((a) => a.buffer as ArrayBuffer))];
}
