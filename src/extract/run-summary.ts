// Where a run's time went, and the line that closes its log: a stopwatch of disjoint wall-time
// phases (setup, decode, submit, gpu-wait, host, write, other) that sum to the run's length.

import { formatDuration } from '../util/progress.js';
import type { ExtractSummary } from './run-options.js';

/** Disjoint wall-time stretches of the run, by phase. */
export class Stopwatch {
  readonly wall: Record<string, number> = {
    setup: 0,
    decode: 0,
    submit: 0,
    'gpu-wait': 0,
    host: 0,
    write: 0,
  };
  private current = 'setup';
  private since = performance.now();

  /** Ends the current stretch and starts one of `phase`; returns the previous phase. */
  enter(phase: string): string {
    const now = performance.now();
    this.wall[this.current] = (this.wall[this.current] ?? 0) + (now - this.since) / 1000;
    const prev = this.current;
    this.current = phase;
    this.since = now;
    return prev;
  }

  /** Runs the synchronous `fn` as `phase`, then returns to the phase before. */
  sync<T>(phase: string, fn: () => T): T {
    const prev = this.enter(phase);
    try {
      return fn();
    } finally {
      this.enter(prev);
    }
  }

  /** Runs `fn` as `phase`, then returns to the phase before. */
  async time<T>(phase: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.enter(phase);
    try {
      return await fn();
    } finally {
      this.enter(prev);
    }
  }
}

/** The `done:` line of extract.log: counts, throughput, the wall-time split and GPU-busy time. */
export function doneLine(summary: ExtractSummary): string {
  const wall = Object.entries(summary.time.wall)
    .map(([k, v]) => `${k} ${v.toFixed(2)} s`)
    .join(', ');
  const gpuText = summary.time.gpu
    ? `; GPU busy (timestamps): encoder ${summary.time.gpu.encoder.toFixed(2)} s, denoiser ${summary.time.gpu.denoiser.toFixed(2)} s`
    : '';
  return (
    `done: ${summary.ok} ok, ${summary.errors} errors, ${summary.batches} batches, ${summary.seconds.toFixed(1)} s (${formatDuration(summary.seconds)}), ` +
    `${summary.clipsPerSecond.toFixed(3)} clips/s, ${summary.framesPerSecond.toFixed(2)} frames/s; wall: ${wall}${gpuText}` +
    (summary.interrupted
      ? `; interrupted by ${summary.signal}${summary.stoppedAtOnce ? ' (stopped at once)' : ''}`
      : '')
  );
}
