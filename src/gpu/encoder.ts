// Batched encoding: one open encoder and compute pass; a per-submit uniform arena (256-byte slots,
// dynamic offsets) carries each dispatch's Params; cached bind groups; checks before encoding
// (sizes, offsets, aliasing, workgroups) name the kernel; optional per-dispatch timestamps.

import { ShapeError } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';
import type { BindingsOf, KernelFamily, ParamsOf } from '../wgsl/family.js';
import { paramsByteSize } from '../wgsl/family.js';
import { GpuError } from './device.js';

/** Uniform slots are 256 bytes: the largest minUniformBufferOffsetAlignment in the wild. */
const UNIFORM_SLOT = 256;
const QUERY_CAPACITY = 4096;

export interface DispatchArgs<B extends string, P extends string> {
  bindings: BindingsOf<B>;
  params: ParamsOf<P>;
  workgroups: readonly [number, number?, number?];
  /** Extra detail appended to the label (e.g. the layer). */
  label?: string;
}

/** One dispatch's GPU time: label 'family:variant' (+ detail), tag from ctx.tag (e.g. a layer). */
export interface ProfileRecord {
  label: string;
  family: string;
  tag: string;
  ms: number;
}

type Pending = Omit<ProfileRecord, 'ms'>;
type Family = KernelFamily<unknown, string, string>;

export function bindingSize(t: Tensor): number {
  return Math.max(4, Math.ceil(t.byteLength / 4) * 4);
}

const overlaps = (a: Tensor, b: Tensor): boolean =>
  a.byteOffset < b.byteOffset + bindingSize(b) && b.byteOffset < a.byteOffset + bindingSize(a);

export class CommandRecorder {
  dispatches = 0;
  submits = 0;
  private encoder: GPUCommandEncoder | null = null;
  private pass: GPUComputePassEncoder | null = null;
  private pending: Pending[] = [];
  private readonly arena: GPUBuffer;
  private readonly arenaView: DataView;
  private readonly bindGroups = new Map<string, GPUBindGroup>();
  private querySet: GPUQuerySet | null = null;
  private profiling = false;
  private readonly profileReads: Promise<void>[] = [];
  private readonly records: ProfileRecord[] = [];

  constructor(
    private readonly device: GPUDevice,
    private readonly maxDispatches: number,
    private readonly idOf: (b: GPUBuffer) => number,
    /** Called right after every submit (the pool frees what waited for it). */
    private readonly afterSubmit: () => void,
  ) {
    const [size, usage] = [maxDispatches * UNIFORM_SLOT, GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST];
    this.arena = device.createBuffer({ size, usage, label: 'uniforms' });
    this.arenaView = new DataView(new ArrayBuffer(size));
  }

  /** True while recorded commands wait for a submit. */
  get isOpen(): boolean {
    return this.encoder !== null;
  }

  /** The open encoder, outside any compute pass (copies, clears). */
  commandEncoder(): GPUCommandEncoder {
    this.endPass();
    return this.openEncoder();
  }

  /** Encodes one dispatch of `pipe` (with its bind group layout) after the checks. */
  dispatch(
    family: Family,
    label: string,
    pipe: [GPUComputePipeline, GPUBindGroupLayout],
    args: DispatchArgs<string, string>,
    tag: string,
  ): void {
    const bindings = family.bindings.map((b) => args.bindings[b.name]!);
    this.check(family, label, bindings, args.workgroups);
    if (this.pending.length >= this.maxDispatches || (this.profiling && this.pending.length * 2 + 2 > QUERY_CAPACITY)) {
      this.flush();
    }
    const slot = this.pending.length;
    this.packParams(family, args.params, slot * UNIFORM_SLOT, label);
    const bg = this.bindGroupFor(family, pipe[1], bindings, label);
    if (this.profiling) {
      this.endPass();
      const timestampWrites = {
        querySet: this.querySet!,
        beginningOfPassWriteIndex: 2 * slot,
        endOfPassWriteIndex: 2 * slot + 1,
      };
      this.pass = this.openEncoder().beginComputePass({ label, timestampWrites });
    }
    const pass = (this.pass ??= this.openEncoder().beginComputePass({ label: 'walt' }));
    pass.setPipeline(pipe[0]);
    pass.setBindGroup(0, bg, [slot * UNIFORM_SLOT]);
    const [x, y = 1, z = 1] = args.workgroups;
    if (x > 0 && y > 0 && z > 0) {
      pass.dispatchWorkgroups(x, y, z);
    }
    if (this.profiling) {
      this.endPass();
    }
    this.pending.push({ label, family: family.name, tag });
    this.dispatches++;
  }

  private check(family: Family, label: string, bindings: Tensor[], workgroups: readonly (number | undefined)[]): void {
    const lim = this.device.limits;
    if (bindings.length > lim.maxStorageBuffersPerShaderStage) {
      throw new ShapeError(`${label}: ${bindings.length} storage buffers exceed maxStorageBuffersPerShaderStage`);
    }
    bindings.forEach((t, i) => {
      const what = `${label}: binding '${family.bindings[i]!.name}' ${t.toString()}`;
      t.assertAlive(label);
      if (bindingSize(t) > lim.maxStorageBufferBindingSize) {
        throw new ShapeError(
          `${what} is ${bindingSize(t)} bytes, above this device's maxStorageBufferBindingSize ` +
            `(${lim.maxStorageBufferBindingSize}); process it in chunks or use a smaller batch`,
        );
      }
      if (t.byteOffset % lim.minStorageBufferOffsetAlignment !== 0) {
        throw new ShapeError(
          `${what} starts at byte ${t.byteOffset}, not a multiple of minStorageBufferOffsetAlignment (${lim.minStorageBufferOffsetAlignment})`,
        );
      }
      const j = bindings.findIndex((b, k) => k !== i && b.buffer === t.buffer && overlaps(t, b));
      if (family.bindings[i]!.access === 'read_write' && j >= 0) {
        throw new ShapeError(
          `${what} is writable and overlaps binding '${family.bindings[j]!.name}' ${bindings[j]!.toString()} (aliasing); use a separate output tensor`,
        );
      }
    });
    for (const w of workgroups) {
      if (w !== undefined && !(Number.isInteger(w) && w >= 0 && w <= lim.maxComputeWorkgroupsPerDimension)) {
        throw new ShapeError(
          `${label}: workgroup count ${w} exceeds maxComputeWorkgroupsPerDimension (${lim.maxComputeWorkgroupsPerDimension})`,
        );
      }
    }
  }

  private packParams(family: Family, params: Readonly<Record<string, number>>, offset: number, label: string): void {
    family.params.forEach(([name, type], i) => {
      const v = params[name];
      const at = offset + i * 4;
      const int = Number.isInteger(v) && (type === 'u32' ? v! >= 0 && v! <= 0xffffffff : Math.abs(v!) <= 0x7fffffff);
      if (v === undefined || Number.isNaN(v)) {
        throw new ShapeError(`${label}: param '${name}' is missing`);
      } else if (type !== 'f32' && !int) {
        throw new ShapeError(`${label}: param '${name}' = ${v} is not a ${type}`);
      }
      const set = { f32: 'setFloat32', u32: 'setUint32', i32: 'setInt32' } as const;
      this.arenaView[set[type]](at, v, true);
    });
  }

  private bindGroupFor(family: Family, layout: GPUBindGroupLayout, bindings: Tensor[], label: string): GPUBindGroup {
    const key = bindings.reduce((k, t) => `${k}|${this.idOf(t.buffer)}:${t.byteOffset}:${bindingSize(t)}`, family.name);
    let bg = this.bindGroups.get(key);
    if (!bg) {
      if (this.bindGroups.size > 8192) {
        this.bindGroups.clear();
      }
      const entries: GPUBindGroupEntry[] = bindings.map((t, i) => ({
        binding: i,
        resource: { buffer: t.buffer, offset: t.byteOffset, size: bindingSize(t) },
      }));
      entries.push({
        binding: bindings.length,
        resource: { buffer: this.arena, offset: 0, size: paramsByteSize(family) },
      });
      bg = this.device.createBindGroup({ layout, entries, label });
      this.bindGroups.set(key, bg);
    }
    return bg;
  }

  private openEncoder(): GPUCommandEncoder {
    return (this.encoder ??= this.device.createCommandEncoder({ label: 'walt' }));
  }

  private endPass(): void {
    this.pass?.end();
    this.pass = null;
  }

  /** Submits everything encoded so far (the uniform arena is written just before the submit). */
  flush(): void {
    if (!this.encoder) {
      return;
    }
    this.endPass();
    const n = this.pending.length;
    let timestamps: { buf: GPUBuffer; staging: GPUBuffer; labels: Pending[] } | null = null;
    if (this.profiling && n > 0) {
      const [size, U] = [n * 16, GPUBufferUsage];
      const buf = this.device.createBuffer({ size, usage: U.QUERY_RESOLVE | U.COPY_SRC });
      const staging = this.device.createBuffer({ size, usage: U.MAP_READ | U.COPY_DST });
      this.encoder.resolveQuerySet(this.querySet!, 0, n * 2, buf, 0);
      this.encoder.copyBufferToBuffer(buf, 0, staging, 0, size);
      timestamps = { buf, staging, labels: this.pending };
    }
    if (n > 0) {
      this.device.queue.writeBuffer(this.arena, 0, this.arenaView.buffer, 0, n * UNIFORM_SLOT);
    }
    this.device.queue.submit([this.encoder.finish()]);
    this.submits++;
    this.encoder = null;
    this.pending = [];
    this.afterSubmit();
    if (timestamps) {
      const { buf, staging, labels } = timestamps;
      this.profileReads.push(
        staging.mapAsync(GPUMapMode.READ).then(() => {
          const ts = new BigInt64Array(staging.getMappedRange());
          labels.forEach((p, i) => this.records.push({ ...p, ms: Number(ts[2 * i + 1]! - ts[2 * i]!) / 1e6 }));
          staging.unmap();
          staging.destroy();
          buf.destroy();
        }),
      );
    }
  }

  /** Waits for outstanding timestamp reads. */
  async settle(): Promise<void> {
    await Promise.all(this.profileReads.splice(0));
  }

  setProfiling(on: boolean, adapterName: string): void {
    if (on && !this.device.features.has('timestamp-query')) {
      throw new GpuError(`${adapterName} has no 'timestamp-query' feature: per-kernel GPU times are unavailable`);
    }
    this.flush();
    this.profiling = on;
    if (on && !this.querySet) {
      this.querySet = this.device.createQuerySet({ type: 'timestamp', count: QUERY_CAPACITY, label: 'timestamps' });
    }
  }

  get isProfiling(): boolean {
    return this.profiling;
  }

  takeRecords(): ProfileRecord[] {
    return this.records.splice(0);
  }
}
