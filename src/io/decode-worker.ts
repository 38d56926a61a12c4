// Worker-thread entry for the decode pool: float conversion and resizing off the main thread.
// Bundled as dist/decode-worker.js next to dist/cli.js; DecodePool loads it when given its URL.

import { parentPort } from 'node:worker_threads';
import { resizeCropBilinear, rgb24ToFloat } from './convert.js';
import type { WorkerRequest, WorkerResponse } from './decode-pool.js';

/** Handles one request (exported for tests; the worker calls it for each message). */
export function handleRequest(m: WorkerRequest): WorkerResponse {
  try {
    const data =
      m.op === 'rgb24'
        ? rgb24ToFloat(m.bytes, m.frameSize, m.frameMap)
        : resizeCropBilinear(m.src, m.shape[0], m.shape[1], m.shape[2], m.shape[3], m.outH, m.outW);
    return { id: m.id, ok: true, data };
  } catch (e) {
    return { id: m.id, ok: false, message: e instanceof Error ? e.message : String(e) };
  }
}

if (parentPort !== null) {
  const port = parentPort;
  port.on('message', (m: WorkerRequest) => {
    const r = handleRequest(m);
    port.postMessage(r, r.ok ? [r.data.buffer as ArrayBuffer] : []);
  });
}
