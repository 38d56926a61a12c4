// Batched command encoding: one open encoder and compute pass; a per-submit uniform arena
// (256-byte slots, dynamic offsets) carries each dispatch's Params; bind groups are cached;
// checks before encoding (binding sizes, offsets, aliasing, workgroup counts) name the kernel;
// optional per-dispatch GPU timestamps (each dispatch then gets its own pass).

import { ShapeError } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';
import { GpuError } from './device.js';
import type { BindingsOf, KernelFamily, ParamsOf } from '../wgsl/family.js';
import { paramsByteSize } from '../wgsl/family.js';

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

export interface ProfileRecord {
  /** 'family:variant' (+ ' detail'). */
  label: string;
  family: string;
  /** Free-form grouping tag set with ctx.tag (e.g. 'blocks.3/spatiotemporal'). */
  tag: string;
  ms: number;
}

interface Pending {
  label: string;
  family: string;
  tag: string;
}

type Family = KernelFamily<unknown, string, string>;

export function bindingSize(t: Tensor): number {
  return Math.max(4, Math.ceil(t.byteLength / 4) * 4);
}

export class CommandRecorder {
  dispatches = 0;
  submits = 0;
  private encoder: GPUCommandEncoder | null = null;
  private pass: GPUComputePassEncoder | null = null;
  private pending: Pending[] = [];
  private readonly arena: GPUBuffer;
  private readonly arenaCpu: ArrayBuffer;
  private readonly arenaView: DataView;
  private readonly bindGroups = new Map<string, GPUBindGroup>();
  private querySet: GPUQuerySet | null = null;
  private profiling = false;
  private readonly profileReads: Promise<void>[] = [];
  private readonly records: ProfileRecord[] = [];

  constructor(
    private readonly device: GPUDevice,
    private readonly limits: GPUSupportedLimits,
    private readonly maxDispatches: number,
    private readonly idOf: (b: GPUBuffer) => number,
    /** Called right after every submit (the pool frees what waited for it). */
    private readonly afterSubmit: () => void,
  ) {
    this.arena = device.createBuffer({
      size: maxDispatches * UNIFORM_SLOT,
      usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
      label: 'uniform-arena',
    });
    this.arenaCpu = new ArrayBuffer(maxDispatches * UNIFORM_SLOT);
    this.arenaView = new DataView(this.arenaCpu);
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

  dispatch(
    family: Family,
    label: string,
    pipe: GPUComputePipeline,
    layout: GPUBindGroupLayout,
    args: DispatchArgs<string, string>,
    tag: string,
  ): void {
    const bindings = family.bindings.map((b) => {
      const t = args.bindings[b.name];
      if (!t) {
        throw new ShapeError(`${label}: binding '${b.name}' is missing`);
      }
      return t;
    });
    this.check(family, label, bindings, args.workgroups);
    if (this.pending.length >= this.maxDispatches || (this.profiling && this.pending.length * 2 + 2 > QUERY_CAPACITY)) {
      this.flush();
    }
    const slot = this.pending.length;
    this.packParams(family, args.params, slot * UNIFORM_SLOT, label);
    const bg = this.bindGroupFor(family, layout, bindings, label);
    let pass: GPUComputePassEncoder;
    if (this.profiling) {
      this.endPass();
      pass = this.openEncoder().beginComputePass({
        label,
        timestampWrites: {
          querySet: this.querySet!,
          beginningOfPassWriteIndex: slot * 2,
          endOfPassWriteIndex: slot * 2 + 1,
        },
      });
      this.pass = pass;
    } else {
      pass = this.pass ?? (this.pass = this.openEncoder().beginComputePass({ label: 'walt' }));
    }
    pass.setPipeline(pipe);
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
    const lim = this.limits;
    if (bindings.length > lim.maxStorageBuffersPerShaderStage) {
      throw new ShapeError(`${label}: ${bindings.length} storage buffers exceed maxStorageBuffersPerShaderStage`);
    }
    bindings.forEach((t, i) => {
      const name = family.bindings[i]!.name;
      t.assertAlive(label);
      if (bindingSize(t) > lim.maxStorageBufferBindingSize) {
        throw new ShapeError(
          `${label}: binding '${name}' ${t.toString()} is ${bindingSize(t)} bytes, above this device's ` +
            `maxStorageBufferBindingSize (${lim.maxStorageBufferBindingSize}); process it in chunks or use a smaller batch`,
        );
      }
      if (t.byteOffset % lim.minStorageBufferOffsetAlignment !== 0) {
        throw new ShapeError(
          `${label}: binding '${name}' ${t.toString()} starts at byte ${t.byteOffset}, not a multiple ` +
            `of minStorageBufferOffsetAlignment (${lim.minStorageBufferOffsetAlignment})`,
        );
      }
      if (family.bindings[i]!.access === 'read_write') {
        bindings.forEach((b, j) => {
          if (j !== i && t.buffer === b.buffer && overlaps(t, b)) {
            throw new ShapeError(
              `${label}: writable binding '${name}' ${t.toString()} overlaps binding ` +
                `'${family.bindings[j]!.name}' ${b.toString()} (aliasing); use a separate output tensor`,
            );
          }
        });
      }
    });
    for (const w of workgroups) {
      if (w !== undefined && (w > lim.maxComputeWorkgroupsPerDimension || !Number.isInteger(w) || w < 0)) {
        throw new ShapeError(
          `${label}: workgroup count ${w} exceeds maxComputeWorkgroupsPerDimension (${lim.maxComputeWorkgroupsPerDimension})`,
        );
      }
    }
  }

  private packParams(family: Family, params: Readonly<Record<string, number>>, offset: number, label: string): void {
    const view = this.arenaView;
    family.params.forEach(([name, type], i) => {
      const v = params[name];
      const at = offset + i * 4;
      if (v === undefined || Number.isNaN(v)) {
        throw new ShapeError(`${label}: param '${name}' is missing`);
      } else if (type === 'f32') {
        view.setFloat32(at, v, true);
      } else if (
        type === 'u32'
          ? !Number.isInteger(v) || v < 0 || v > 0xffffffff
          : !Number.isInteger(v) || Math.abs(v) > 0x7fffffff
      ) {
        throw new ShapeError(`${label}: param '${name}' = ${v} is not a ${type}`);
      } else if (type === 'u32') {
        view.setUint32(at, v, true);
      } else {
        view.setInt32(at, v, true);
      }
    });
  }

  private bindGroupFor(family: Family, layout: GPUBindGroupLayout, bindings: Tensor[], label: string): GPUBindGroup {
    let key = family.name;
    for (const t of bindings) {
      key += `|${this.idOf(t.buffer)}:${t.byteOffset}:${bindingSize(t)}`;
    }
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
    return this.encoder ?? (this.encoder = this.device.createCommandEncoder({ label: 'walt' }));
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
    let resolve: { buf: GPUBuffer; staging: GPUBuffer; labels: Pending[] } | null = null;
    if (this.profiling && n > 0) {
      const bytes = n * 16;
      const buf = this.device.createBuffer({
        size: bytes,
        usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC,
      });
      const staging = this.device.createBuffer({
        size: bytes,
        usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
      });
      this.encoder.resolveQuerySet(this.querySet!, 0, n * 2, buf, 0);
      this.encoder.copyBufferToBuffer(buf, 0, staging, 0, bytes);
      resolve = { buf, staging, labels: this.pending.slice() };
    }
    if (n > 0) {
      this.device.queue.writeBuffer(this.arena, 0, this.arenaCpu, 0, n * UNIFORM_SLOT);
    }
    this.device.queue.submit([this.encoder.finish()]);
    this.submits++;
    this.encoder = null;
    this.pending = [];
    this.afterSubmit();
    if (resolve) {
      const { buf, staging, labels } = resolve;
      this.profileReads.push(
        staging.mapAsync(GPUMapMode.READ).then(() => {
          const ts = new BigInt64Array(staging.getMappedRange());
          labels.forEach((p, i) => {
            const ns = Number(ts[2 * i + 1]! - ts[2 * i]!);
            this.records.push({ label: p.label, family: p.family, tag: p.tag, ms: ns / 1e6 });
          });
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

function overlaps(a: Tensor, b: Tensor): boolean {
  return a.byteOffset < b.byteOffset + bindingSize(b) && b.byteOffset < a.byteOffset + bindingSize(a);
}
