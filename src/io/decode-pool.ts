// DecodePool: decodes inputs ahead of the consumer with bounded concurrency, yielding results in input order.

import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { InputItem } from './inputs.js';
import { inProcessConverter, loadClip, type Clip, type ClipConverter, type LoadClipOptions } from './media.js';
import { isMediaError, MediaError } from './media-error.js';

/** One decoded input: either a clip or the error that explains why it could not be decoded. */
export type DecodeResult =
  | { index: number; item: InputItem; ok: Clip; error?: undefined }
  | { index: number; item: InputItem; ok?: undefined; error: MediaError };

/** Options for {@link DecodePool}. */
export interface DecodePoolOptions {
  /** Items decoded at the same time (ffmpeg processes); default min(4, available cores). */
  concurrency?: number;
  /** Results decoded ahead of the consumer, finished or in flight (bounds memory); default 2 * concurrency. */
  lookahead?: number;
  /** Per-item decode options (`converter` and `signal` are supplied by the pool). */
  clip?: Omit<LoadClipOptions, 'converter' | 'signal'>;
  /**
   * URL (or path) of the built worker script (`dist/decode-worker.js`). When given, float conversion and .npy
   * resizing run in worker threads; when omitted, or if the worker cannot start, they run in-process.
   */
  workerUrl?: URL | string;
  /** Worker threads when `workerUrl` is given (default 1). */
  workers?: number;
}

/** Message to the decode worker. */
export type WorkerRequest =
  | { id: number; op: 'rgb24'; bytes: Uint8Array; frameSize: number; frameMap: readonly number[] }
  | {
      id: number;
      op: 'resize';
      src: Float32Array;
      shape: readonly [number, number, number, number];
      outH: number;
      outW: number;
    };

/** Reply from the decode worker. */
export type WorkerResponse = { id: number; ok: true; data: Float32Array } | { id: number; ok: false; message: string };

type WorkerCall = WorkerRequest extends infer R ? (R extends WorkerRequest ? Omit<R, 'id'> : never) : never;

class WorkerUnavailableError extends Error {}

interface Pending {
  resolve: (d: Float32Array) => void;
  reject: (e: Error) => void;
}

interface Slot {
  worker: Worker;
  pending: Map<number, Pending>;
  broken: boolean;
}

/** A {@link ClipConverter} backed by worker threads, falling back to in-process conversion if a worker fails. */
export class WorkerConverter implements ClipConverter {
  private readonly slots: Slot[] = [];
  private nextId = 1;
  private turn = 0;
  /** Set once any worker failed to start or crashed (conversions then run in-process). */
  fallbackReason: string | undefined;

  /** Starts `count` workers running the script at `url`. */
  constructor(url: URL | string, count = 1) {
    for (let i = 0; i < count; i++) {
      let worker: Worker;
      try {
        worker = new Worker(url);
      } catch (e) {
        this.fallbackReason = e instanceof Error ? e.message : String(e);
        break;
      }
      const slot: Slot = { worker, pending: new Map(), broken: false };
      worker.unref();
      worker.on('message', (r: WorkerResponse) => {
        const p = slot.pending.get(r.id);
        if (p === undefined) {
          return;
        }
        slot.pending.delete(r.id);
        if (slot.pending.size === 0) {
          worker.unref();
        }
        if (r.ok) {
          p.resolve(r.data);
        } else {
          p.reject(new Error(r.message));
        }
      });
      const breakSlot = (why: string): void => {
        slot.broken = true;
        this.fallbackReason ??= why;
        for (const p of slot.pending.values()) {
          p.reject(new WorkerUnavailableError(why));
        }
        slot.pending.clear();
      };
      worker.on('error', (e) => breakSlot(`decode worker failed: ${e.message}`));
      worker.on('exit', (code) => breakSlot(`decode worker exited (code ${code})`));
      this.slots.push(slot);
    }
  }

  private call(req: WorkerCall): Promise<Float32Array> {
    const live = this.slots.filter((s) => !s.broken);
    if (live.length === 0) {
      return Promise.reject(new WorkerUnavailableError(this.fallbackReason ?? 'no decode worker'));
    }
    const slot = live[this.turn++ % live.length]!;
    const id = this.nextId++;
    return new Promise<Float32Array>((resolve, reject) => {
      slot.pending.set(id, { resolve, reject });
      slot.worker.ref();
      // Inputs are copied (not transferred) so that a worker crash can fall back to in-process conversion.
      slot.worker.postMessage({ ...req, id });
    });
  }

  private async withFallback(req: WorkerCall, local: () => Promise<Float32Array>): Promise<Float32Array> {
    try {
      return await this.call(req);
    } catch (e) {
      if (e instanceof WorkerUnavailableError) {
        return local();
      }
      throw e;
    }
  }

  /** {@inheritDoc ClipConverter.rgb24ToFloat} */
  rgb24ToFloat(bytes: Uint8Array, frameSize: number, frameMap: readonly number[]): Promise<Float32Array> {
    return this.withFallback({ op: 'rgb24', bytes, frameSize, frameMap }, () =>
      inProcessConverter.rgb24ToFloat(bytes, frameSize, frameMap),
    );
  }

  /** {@inheritDoc ClipConverter.resizeCrop} */
  resizeCrop(
    src: Float32Array,
    shape: readonly [number, number, number, number],
    outH: number,
    outW: number,
  ): Promise<Float32Array> {
    return this.withFallback({ op: 'resize', src, shape, outH, outW }, () =>
      inProcessConverter.resizeCrop(src, shape, outH, outW),
    );
  }

  /** True while at least one worker is usable. */
  get active(): boolean {
    return this.slots.some((s) => !s.broken);
  }

  /** Terminates the workers. */
  async close(): Promise<void> {
    const slots = this.slots.splice(0);
    for (const s of slots) {
      s.broken = true;
    }
    await Promise.all(slots.map((s) => s.worker.terminate()));
  }
}

/** FIFO counting semaphore. */
class Semaphore {
  private waiters: (() => void)[] = [];
  constructor(private free: number) {}

  acquire(signal: AbortSignal): Promise<void> {
    if (signal.aborted) {
      return Promise.reject(abortReason(signal));
    }
    if (this.free > 0) {
      this.free--;
      return Promise.resolve();
    }
    return new Promise<void>((resolve, reject) => {
      const grant = (): void => {
        signal.removeEventListener('abort', onAbort);
        resolve();
      };
      const onAbort = (): void => {
        this.waiters = this.waiters.filter((w) => w !== grant);
        reject(abortReason(signal));
      };
      signal.addEventListener('abort', onAbort, { once: true });
      this.waiters.push(grant);
    });
  }

  release(): void {
    const next = this.waiters.shift();
    if (next !== undefined) {
      next();
    } else {
      this.free++;
    }
  }
}

function abortReason(signal: AbortSignal): Error {
  const r: unknown = signal.reason;
  if (r instanceof Error) {
    return r;
  }
  const e = new Error('the operation was aborted');
  e.name = 'AbortError';
  return e;
}

/**
 * Decodes inputs ahead of the consumer. At most `concurrency` items decode at once (each in its own ffmpeg
 * process) and at most `lookahead` results are held ahead of the consumer; results come out in input order,
 * each either `{ ok: clip }` or `{ error: MediaError }` (a bad file never ends the run).
 *
 * @example
 * const pool = new DecodePool({ clip: { frames: 17, size: [128, 128] } });
 * for await (const r of pool.decode(await expandInputs(args))) { if (r.error) warn(r.error.message); else use(r.ok); }
 * await pool.close();
 */
export class DecodePool {
  /** Items decoded at the same time. */
  readonly concurrency: number;
  /** Results held ahead of the consumer. */
  readonly lookahead: number;
  private readonly clipOptions: Omit<LoadClipOptions, 'converter' | 'signal'>;
  private readonly converter: ClipConverter;
  private readonly workerConverter: WorkerConverter | undefined;
  private readonly sem: Semaphore;

  /** Creates a pool; workers (if `workerUrl` is given) start now. */
  constructor(opts: DecodePoolOptions = {}) {
    const cores = availableParallelism();
    this.concurrency = Math.max(1, Math.floor(opts.concurrency ?? Math.min(4, cores)));
    this.lookahead = Math.max(this.concurrency, Math.floor(opts.lookahead ?? 2 * this.concurrency));
    this.clipOptions = opts.clip ?? {};
    this.sem = new Semaphore(this.concurrency);
    if (opts.workerUrl !== undefined) {
      this.workerConverter = new WorkerConverter(opts.workerUrl, Math.max(1, opts.workers ?? 1));
      this.converter = this.workerConverter;
    } else {
      this.converter = inProcessConverter;
    }
  }

  /** Whether conversions run in worker threads (false: in-process, never configured or the worker failed). */
  get usesWorkers(): boolean {
    return this.workerConverter?.active ?? false;
  }

  /**
   * Decodes `items` and yields one result per item, in input order. Breaking out of the loop (or aborting
   * `signal`) kills the ffmpeg processes still running for this call; an abort makes the iterator throw.
   */
  async *decode(
    items: Iterable<InputItem> | AsyncIterable<InputItem>,
    signal?: AbortSignal,
  ): AsyncGenerator<DecodeResult, void, undefined> {
    const ac = new AbortController();
    const onAbort = (): void => ac.abort(signal?.reason);
    if (signal?.aborted) {
      onAbort();
    }
    signal?.addEventListener('abort', onAbort, { once: true });
    const iter: Iterator<InputItem> | AsyncIterator<InputItem> =
      Symbol.asyncIterator in items ? items[Symbol.asyncIterator]() : items[Symbol.iterator]();
    const window: Promise<DecodeResult>[] = [];
    let index = 0;
    let exhausted = false;
    const fill = async (): Promise<void> => {
      while (!exhausted && window.length < this.lookahead) {
        const n = await iter.next();
        if (n.done === true) {
          exhausted = true;
          break;
        }
        const p = this.task(n.value, index++, ac.signal);
        p.catch(() => undefined); // handled when awaited; avoid unhandled-rejection noise on early exit
        window.push(p);
      }
    };
    try {
      await fill();
      while (window.length > 0) {
        const next = window.shift()!;
        await fill();
        const r = await next;
        // Results decoded ahead are not handed out once the caller has aborted.
        if (signal?.aborted) {
          throw signal.reason instanceof Error ? signal.reason : new Error('aborted');
        }
        yield r;
      }
    } finally {
      signal?.removeEventListener('abort', onAbort);
      if (!ac.signal.aborted) {
        ac.abort();
      }
      await Promise.allSettled(window);
      if (!exhausted) {
        await iter.return?.();
      }
    }
  }

  private async task(item: InputItem, index: number, signal: AbortSignal): Promise<DecodeResult> {
    await this.sem.acquire(signal);
    try {
      const clip = await loadClip(item, { ...this.clipOptions, converter: this.converter, signal });
      return { index, item, ok: clip };
    } catch (e) {
      if (signal.aborted) {
        throw e;
      }
      if (isMediaError(e)) {
        return { index, item, error: e };
      }
      const msg = e instanceof Error ? e.message : String(e);
      const error = new MediaError({
        path: item.path,
        source: item.source,
        reason: 'internal',
        problem: `decoding failed unexpectedly (${msg})`,
        action: 'report this with the file attached, or remove it',
      });
      return { index, item, error };
    } finally {
      this.sem.release();
    }
  }

  /** Stops the worker threads (if any). The pool must not be used afterwards. */
  async close(): Promise<void> {
    await this.workerConverter?.close();
  }
}
