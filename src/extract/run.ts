// walt extract: features over a collection, resumable and shardable (see README "Feature extraction").
//
// A run has two phases. Validation reads and checks everything (inputs, config, weights, classes,
// the folder's options) and writes nothing, so a failed run never leaves a folder that later runs
// refuse. Then the device starts and the loop runs: decode ahead (or read cached latents), batch,
// submit, and write shards; the folder, its extract.json and extract.log appear with the first
// result. SIGINT and SIGTERM finish the current batch and shard within a grace period; a second
// signal, or the end of the grace period, stops at once.
//
// This module holds runExtract (the folder, the manifest's lines, the batch loop) and is the import
// point of the extraction run. The parts: run-options.ts (options, summary), run-validate.ts
// (validation, RunSpec, shards and item keys), run-device.ts (device, weights, batch size, GPU
// time), run-source.ts (decoded clips or cached latents), run-batch.ts (a batch's GPU work and
// host post-processing), run-output.ts (shards and manifest writes), run-signals.ts (SIGINT and
// SIGTERM), run-summary.ts (time split, closing log line).
import { appendFileSync, existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { writeBytesAtomic } from '../util/atomic.js';
import { progress } from '../util/progress.js';
import { featureName } from './features.js';
import { damagedItems, writeManifest, type ManifestLine } from './manifest.js';
import { batchStarter } from './run-batch.js';
import { startDevice, type RunResources } from './run-device.js';
import type { ExtractOptions, ExtractSummary } from './run-options.js';
import { RunOutput } from './run-output.js';
import { RunStopper, StopNow } from './run-signals.js';
import { decodePoolFor, workSource, type Next, type Work } from './run-source.js';
import { doneLine, Stopwatch } from './run-summary.js';
import { validate } from './run-validate.js';
import { SPEC_FILE, specText } from './spec.js';

export { autoBatch } from './run-device.js';
export type { ExtractOptions, ExtractSummary, ShardSpec, TimeSplit } from './run-options.js';
export { itemKey, LATENT_SOURCE_KEYS, runSpec, shardOf } from './run-validate.js';

export async function runExtract(o: ExtractOptions): Promise<ExtractSummary> {
  const t0 = performance.now();
  const clock = new Stopwatch();
  const logPath = join(o.out, 'extract.log');
  // Log lines wait in memory until the folder exists (it is created with the first result).
  const logBuffer: string[] = [];
  let folderReady = false;
  const log = (s: string): void => {
    const line = `${new Date().toISOString()} ${s}\n`;
    if (folderReady) {
      appendFileSync(logPath, line);
    } else {
      logBuffer.push(line);
    }
  };
  const say = (s: string): void => {
    o.log(s);
    log(s);
  };
  log(`walt extract ${process.argv.slice(2).join(' ')}`);

  const plan = await validate(o, log);
  const { spec, mine } = plan;
  /** Creates the folder, extract.json and extract.log: called just before the first result is written. */
  const ensureFolder = async (): Promise<void> => {
    if (folderReady) {
      return;
    }
    mkdirSync(o.out, { recursive: true });
    if (!existsSync(join(o.out, SPEC_FILE))) {
      await writeBytesAtomic(join(o.out, SPEC_FILE), specText(spec));
    }
    folderReady = true;
    appendFileSync(logPath, logBuffer.splice(0).join(''));
  };
  if (plan.folderExists) {
    await ensureFolder();
  }

  const order = new Map(mine.map((it, i) => [it.source, i]));
  const lines = new Map<string, ManifestLine>();
  for (const l of plan.existing) {
    lines.set(l.source, l);
  }
  const damaged = await damagedItems(o.out, [...lines.values()]);
  for (const p of damaged.problems) {
    say(`damaged shard: ${p}`);
  }
  // --from-latents: the latents folder's failed inputs are failed here too (same manifest as a full run).
  if (plan.cache) {
    for (const it of mine) {
      const e = plan.cache.errors.get(it.source);
      if (e && !lines.has(it.source)) {
        lines.set(it.source, e);
      }
    }
  }
  const todo = mine.filter((it) => {
    const l = lines.get(it.source);
    return !l || (l.status === 'error' && o.retryErrors && !plan.cache) || damaged.sources.has(it.source);
  });
  const sortedLines = (): ManifestLine[] =>
    [...lines.values()].sort((a, b) => (order.get(a.source) ?? Infinity) - (order.get(b.source) ?? Infinity));
  const summary: ExtractSummary = {
    inputs: plan.all,
    assigned: mine.length,
    skipped: mine.length - todo.length,
    ok: 0,
    errors: 0,
    errorsInManifest: 0,
    failed: [],
    unknownFiles: plan.unknownFiles,
    interrupted: false,
    stoppedAtOnce: false,
    seconds: 0,
    clipsPerSecond: 0,
    framesPerSecond: 0,
    time: { wall: clock.wall },
    batches: 0,
    out: o.out,
  };
  say(
    `${plan.all} inputs, ${mine.length} in shard ${o.shard.index}/${o.shard.count}, ${summary.skipped} already in the manifest, ${todo.length} to do`,
  );
  if (plan.unknownFiles.length > 0) {
    log(`skipped ${plan.unknownFiles.length} files with unknown extensions:\n  ${plan.unknownFiles.join('\n  ')}`);
  }
  // Items being redone lose their old lines until they are written again.
  for (const it of todo) {
    lines.delete(it.source);
  }
  const writeLines = async (): Promise<void> => {
    await ensureFolder();
    await writeManifest(o.out, sortedLines());
  };
  const finishSummary = (): ExtractSummary => {
    summary.errorsInManifest = sortedLines().filter((l) => l.status === 'error' && order.has(l.source)).length;
    clock.enter('other');
    summary.seconds = (performance.now() - t0) / 1000;
    summary.clipsPerSecond = summary.ok / Math.max(summary.seconds, 1e-9);
    return summary;
  };
  if (todo.length === 0) {
    await writeLines();
    return finishSummary();
  }

  // Signals: the first finishes the current batch and shard within the grace period; a second one,
  // or the end of the grace period, stops at once.
  const stop = new RunStopper(o.graceSeconds ?? 25, say, o.handleSignals !== false);

  const res: RunResources = { ctx: null, weights: null, cacheFiles: new Map() };
  const output = new RunOutput({
    out: o.out,
    shardBytes: o.shardBytes,
    config: o.config.name,
    clock,
    lines,
    sortedLines,
    ensureFolder,
    summary,
  });
  try {
    const device = await startDevice(o, plan, log, res);
    const { batchSize, busy } = device;
    say(
      `device ${device.ctx.adapter.name}; batch ${batchSize}; shards of ~${Math.round(o.shardBytes / 2 ** 20)} MiB` +
        (plan.cache ? `; from the latents in ${plan.cache.dir}` : ''),
    );
    const bar = progress('extract', todo.length, 'clips');
    let done = 0;

    const startBatch = batchStarter({
      o,
      ctx: device.ctx,
      weights: device.weights,
      batchSize,
      clock,
      stop,
      output,
      counted: async (batch: Work[]): Promise<void> => {
        done += batch.length;
        summary.batches++;
        bar.update(done + summary.errors);
        await busy.drain(false);
      },
    });

    let finishPrevious: (() => Promise<void>) | null = null;
    const runBatch = async (batch: Work[]): Promise<void> => {
      const finishThis = startBatch(batch);
      if (finishPrevious) {
        await finishPrevious();
      }
      finishPrevious = finishThis;
    };

    // The work: decoded clips, or cached latents read from the latents' shards.
    const pool = plan.cache ? null : decodePoolFor(o);
    const shapeOf = (w: Work): string => (w.clip ? w.clip.shape.join() : w.cached!.z0.shape.join());

    let batch: Work[] = [];
    const it = workSource(pool, todo, stop.feeding, plan.cache, res.cacheFiles);
    try {
      clock.enter('decode');
      for (;;) {
        if (stop.signal !== null) {
          break;
        }
        let n: IteratorResult<Next>;
        try {
          n = await it.next();
        } catch (e) {
          if (stop.feeding.signal.aborted) {
            break; // the decoders were stopped by a signal
          }
          throw e;
        }
        if (n.done === true) {
          break;
        }
        clock.enter('other');
        const r = n.value;
        if ('error' in r) {
          const line: ManifestLine = {
            source: r.error.item.source,
            status: 'error',
            kind: r.error.item.kind,
            error: r.error.message,
            reason: r.error.reason,
            ...(r.error.item.label !== undefined ? { label: r.error.item.label } : {}),
          };
          lines.set(line.source, line);
          summary.errors++;
          summary.failed.push({ source: line.source, error: line.error });
          log(`error: ${line.error}`);
          bar.update(done + summary.errors);
        } else if (stop.signal === null) {
          if (batch.length > 0 && shapeOf(batch[0]!) !== shapeOf(r.work)) {
            await runBatch(batch);
            batch = [];
          }
          batch.push(r.work);
          if (batch.length >= batchSize && stop.signal === null) {
            await runBatch(batch);
            batch = [];
          }
        }
        clock.enter('decode');
      }
      clock.enter('other');
      if (batch.length > 0 && stop.signal === null) {
        await runBatch(batch);
      }
      batch = [];
      if (finishPrevious) {
        await (finishPrevious as () => Promise<void>)();
      }
    } catch (e) {
      if (!(e instanceof StopNow)) {
        throw e;
      }
      summary.stoppedAtOnce = true;
    } finally {
      await it.return(undefined);
      bar.stop();
      await pool?.close();
    }
    if (summary.stoppedAtOnce) {
      const n = output.writer.discard();
      summary.ok -= output.pendingLines.length;
      output.pendingLines.length = 0;
      say(`stopped: discarded the unfinished shard (${n} items are recomputed by the next run)`);
      await clock.time('write', writeLines);
    } else {
      await output.flush();
    }
    summary.interrupted = stop.signal !== null;
    if (stop.signal !== null) {
      summary.signal = stop.signal;
    }
    if (!summary.stoppedAtOnce) {
      await busy.drain(true);
      summary.time.gpu = busy.enabled ? busy.busy : undefined;
    }
  } finally {
    stop.close();
    for (const f of res.cacheFiles.values()) {
      await f.close();
    }
    res.weights?.dispose();
    await res.ctx?.close();
  }
  if (summary.time.gpu === undefined) {
    delete summary.time.gpu;
  }
  finishSummary();
  summary.framesPerSecond = output.frames / Math.max(summary.seconds, 1e-9);
  log(doneLine(summary));
  return summary;
}

export { featureName };
