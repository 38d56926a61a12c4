// Worker-thread entry of the batch feeder: holds the task data sets and assembles batches
// (shard reads, F16 → F32, temporal resampling, stacking targets) off the main thread, so the
// next step's batch is ready while the GPU computes this one. Bundled as dist/train-worker.js
// next to dist/cli.js; BatchFeeder loads it when given its URL.
import { parentPort } from 'node:worker_threads';
import { BatchAssembler, batchBuffers } from './assemble.js';
import type { FeederRequest, FeederResponse } from './feeder.js';

if (parentPort !== null) {
  const port = parentPort;
  const sets = new Map<string, BatchAssembler>();
  port.on('message', (m: FeederRequest) => {
    if (m.op === 'init') {
      for (const [name, data] of Object.entries(m.sets)) {
        sets.set(name, new BatchAssembler(data));
      }
      port.postMessage({ id: m.id, ok: true } satisfies FeederResponse);
      return;
    }
    if (m.op === 'close') {
      void Promise.all([...sets.values()].map((s) => s.close())).then(() => {
        port.postMessage({ id: m.id, ok: true } satisfies FeederResponse);
      });
      return;
    }
    const set = sets.get(m.set);
    if (!set) {
      port.postMessage({ id: m.id, ok: false, message: `no data set '${m.set}'` } satisfies FeederResponse);
      return;
    }
    set.batch(m.indices, m.M).then(
      (batch) => port.postMessage({ id: m.id, ok: true, batch } satisfies FeederResponse, batchBuffers(batch)),
      (e: unknown) =>
        port.postMessage({
          id: m.id,
          ok: false,
          message: e instanceof Error ? e.message : String(e),
        } satisfies FeederResponse),
    );
  });
}
