// The batch feeder: batches of named data sets assembled on a worker thread (batch-worker.ts),
// or in-process when no worker script is given or it cannot run. Both give the same bytes; a
// worker that fails mid-run hands its work back to the in-process assembler.
import { Worker } from 'node:worker_threads';
import type { HostBatch } from '../readout/batch.js';
import { BatchAssembler } from './assemble.js';
import type { TaskData } from './dataset.js';

/** Messages to the batch worker. */
export type FeederRequest =
  | { op: 'init'; id: number; sets: Record<string, TaskData> }
  | { op: 'batch'; id: number; set: string; indices: number[]; M?: number }
  | { op: 'close'; id: number };

/** Replies from the batch worker. */
export type FeederResponse = { id: number; ok: true; batch?: HostBatch } | { id: number; ok: false; message: string };

/** A request without its id (distributed over the union's members). */
type FeederCall = FeederRequest extends infer R ? (R extends FeederRequest ? Omit<R, 'id'> : never) : never;

type Pending = { resolve: (b: HostBatch | undefined) => void; reject: (e: Error) => void };

/** Assembles batches of named task data sets. */
export class BatchFeeder {
  private readonly local = new Map<string, BatchAssembler>();
  private worker: Worker | null = null;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  /** Why the worker is not in use (null while it is). */
  fallbackReason: string | null = null;

  private constructor(private readonly sets: Record<string, TaskData>) {
    for (const [name, data] of Object.entries(sets)) {
      this.local.set(name, new BatchAssembler(data));
    }
  }

  /** 'worker' while batches come from the worker thread, else 'in-process'. */
  get mode(): 'worker' | 'in-process' {
    return this.worker ? 'worker' : 'in-process';
  }

  /**
   * A feeder for `sets`; with `workerUrl` (the built batch-worker.js) batches are assembled on a
   * worker thread, else in-process.
   */
  static async create(sets: Record<string, TaskData>, workerUrl?: URL | string): Promise<BatchFeeder> {
    const f = new BatchFeeder(sets);
    if (workerUrl === undefined) {
      f.fallbackReason = 'no batch worker script';
      return f;
    }
    try {
      const w = new Worker(workerUrl);
      f.worker = w;
      w.on('message', (r: FeederResponse) => {
        const p = f.pending.get(r.id);
        if (!p) {
          return;
        }
        f.pending.delete(r.id);
        if (r.ok) {
          p.resolve(r.batch);
        } else {
          p.reject(new Error(r.message));
        }
      });
      const broken = (why: string): void => {
        if (f.worker === w) {
          f.worker = null;
          f.fallbackReason = why;
        }
        for (const p of f.pending.values()) {
          p.reject(new WorkerGone(why));
        }
        f.pending.clear();
      };
      w.on('error', (e) => broken(`batch worker failed: ${e.message}`));
      w.on('exit', (code) => broken(`batch worker exited (code ${code})`));
      await f.call({ op: 'init', sets });
    } catch (e) {
      await f.worker?.terminate();
      f.worker = null;
      f.fallbackReason = `batch worker unavailable: ${e instanceof Error ? e.message : String(e)}`;
    }
    return f;
  }

  private call(req: FeederCall): Promise<HostBatch | undefined> {
    const w = this.worker;
    if (!w) {
      return Promise.reject(new WorkerGone(this.fallbackReason ?? 'no worker'));
    }
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      w.postMessage({ ...req, id });
    });
  }

  /** The batch of clips `indices` of set `set` (tracking: `M` tracks per clip). */
  async batch(set: string, indices: readonly number[], M?: number): Promise<HostBatch> {
    if (!Object.hasOwn(this.sets, set)) {
      throw new Error(`BatchFeeder: no data set '${set}'`);
    }
    if (this.worker) {
      try {
        const b = await this.call({ op: 'batch', set, indices: [...indices], ...(M === undefined ? {} : { M }) });
        return b!;
      } catch (e) {
        if (!(e instanceof WorkerGone)) {
          throw e;
        }
      }
    }
    return this.local.get(set)!.batch(indices, M);
  }

  async close(): Promise<void> {
    const w = this.worker;
    if (w) {
      await this.call({ op: 'close' }).catch(() => undefined);
      this.worker = null;
      await w.terminate();
    }
    for (const a of this.local.values()) {
      await a.close();
    }
  }
}

class WorkerGone extends Error {
  override name = 'WorkerGone';
}
