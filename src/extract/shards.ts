// Feature shards: safetensors files of about `targetBytes`, written whole to a temporary name
// and renamed, so a shard on disk is always complete.
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { writeSafetensors, type TensorToWrite } from '../io/safetensors.js';
import { fromF16Array } from '../tensor/f16.js';
import type { FeatureTensor } from './features.js';
import type { TensorInfo } from './manifest.js';

export interface PendingItem {
  key: string;
  tensors: Map<string, FeatureTensor>;
}

const SHARD_RE = /^features-(\d{5})\.safetensors$/;

export class ShardWriter {
  private items: PendingItem[] = [];
  private bytes = 0;
  private next: number;

  constructor(
    private readonly dir: string,
    private readonly targetBytes: number,
  ) {
    // Continue numbering after the shards already in the folder (none yet: it is made with the first shard).
    let max = -1;
    for (const f of existsSync(dir) ? readdirSync(dir) : []) {
      const m = SHARD_RE.exec(f);
      if (m) {
        max = Math.max(max, Number(m[1]));
      }
    }
    this.next = max + 1;
  }

  /** The file the pending items will be written to. */
  get currentName(): string {
    return `features-${String(this.next).padStart(5, '0')}.safetensors`;
  }

  get pendingCount(): number {
    return this.items.length;
  }

  get full(): boolean {
    return this.bytes >= this.targetBytes;
  }

  add(item: PendingItem): { shard: string; tensors: Record<string, TensorInfo> } {
    this.items.push(item);
    const tensors: Record<string, TensorInfo> = {};
    for (const [name, t] of item.tensors) {
      this.bytes += t.data.byteLength;
      tensors[name] = { shape: t.shape, dtype: t.dtype === 'f16' ? 'F16' : 'F32' };
    }
    return { shard: this.currentName, tensors };
  }

  /** Writes the pending items as one shard (atomic), returns its file name, starts a new one. */
  async flush(meta: Record<string, string>): Promise<string | null> {
    if (this.items.length === 0) {
      return null;
    }
    const name = this.currentName;
    const tensors = this.items.flatMap((it) =>
      [...it.tensors].map(([n, t]): TensorToWrite => ({
        name: `${it.key}/${n}`,
        shape: t.shape,
        // F16 features are stored as F16: the writer converts f32 values, so widen the bits first.
        data: t.dtype === 'f16' ? fromF16Array(t.data as Uint16Array) : (t.data as Float32Array),
        dtype: t.dtype === 'f16' ? 'F16' : 'F32',
      })),
    );
    await writeSafetensors(join(this.dir, name), tensors, meta);
    this.items = [];
    this.bytes = 0;
    this.next++;
    return name;
  }

  /** Drops the pending items (Ctrl-C twice): they are recomputed by the next run. */
  discard(): number {
    const n = this.items.length;
    this.items = [];
    this.bytes = 0;
    return n;
  }
}
