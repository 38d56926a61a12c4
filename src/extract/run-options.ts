// walt extract's options and its summary: what a run is asked to do (ExtractOptions, from the CLI
// or a caller of runExtract) and what it reports when it ends (ExtractSummary, with the time split).

import type { ClipStart } from '../io/media.js';
import type { WaltConfig } from '../model/config.js';
import type { FloatDType } from '../tensor/dtype.js';
import type { Pool } from './features.js';

/** This run's part of the inputs: shard `index` of `count` (by a hash of each source). */
export interface ShardSpec {
  index: number;
  count: number;
}

/** What {@link runExtract} is asked to do. */
export interface ExtractOptions {
  /** Files, folders and list files. Empty with `fromLatents`. */
  inputs: string[];
  out: string;
  config: WaltConfig;
  weights?: string;
  weightsSeed: number;
  ts: number[];
  blocks: number[];
  shard: ShardSpec;
  noiseSeed: number;
  pool: Pool;
  /** Storage dtype of the features. */
  dtype: FloatDType;
  /** Compute dtype of the model. */
  compute: FloatDType;
  resample?: number;
  stride: number;
  start: ClipStart;
  startSeed: number;
  /** Video models: images replicated to the clip length ('replicate') or one frame ('single'). */
  imageMode: 'replicate' | 'single';
  /** Image models: each frame its own image ('independent') or the clip as one input ('joint'). */
  frames: 'independent' | 'joint';
  classIndex?: number;
  batch?: number;
  retryErrors: boolean;
  shardBytes: number;
  concurrency?: number;
  workerUrl?: URL;
  adapter?: string;
  /** Store each item's z₀ and ε in the shards (`--keep-latents`). */
  keepLatents?: boolean;
  /**
   * Run from the latents a `--keep-latents` run stored in this folder: only the noising and the
   * denoiser (`--from-latents DIR`). The pixel-side options are that folder's.
   */
  fromLatents?: string;
  /** After the first SIGINT/SIGTERM: seconds to finish the current batch and shard (default 25). */
  graceSeconds?: number;
  /** GPU-busy time from timestamps, when the adapter has 'timestamp-query' (default true). */
  gpuTimes?: boolean;
  /** Bench: GPU timestamps on (same as gpuTimes). */
  profile?: boolean;
  /** Handle SIGINT/SIGTERM (default true). */
  handleSignals?: boolean;
  log: (s: string) => void;
}

/** Where the time went. `wall` phases are disjoint stretches of the run and sum to its length. */
export interface TimeSplit {
  /** Seconds: setup (validation, device, weights), decode (waiting for clips or latents), submit
   * (encoding GPU work), gpu-wait (waiting for results), host (conversion, pooling on the host),
   * write (shards and manifest), other. */
  wall: Record<string, number>;
  /** GPU-busy seconds from timestamps (encoder, denoiser), when the adapter has them. */
  gpu?: { encoder: number; denoiser: number };
}

/** What {@link runExtract} reports. */
export interface ExtractSummary {
  inputs: number;
  assigned: number;
  skipped: number;
  ok: number;
  errors: number;
  /** Error lines for this shard's inputs in the manifest after the run (old and new). */
  errorsInManifest: number;
  /** This run's failures: source and message, in input order. */
  failed: { source: string; error: string }[];
  /** Files the folder scan did not take (unknown extensions), as found. */
  unknownFiles: string[];
  interrupted: boolean;
  /** The signal that interrupted the run. */
  signal?: 'SIGINT' | 'SIGTERM';
  /** True when the run stopped at once (second signal, or the grace period ran out). */
  stoppedAtOnce: boolean;
  seconds: number;
  clipsPerSecond: number;
  framesPerSecond: number;
  time: TimeSplit;
  /** Batches sent to the GPU and finished (written or held for the next shard). */
  batches: number;
  out: string;
}
