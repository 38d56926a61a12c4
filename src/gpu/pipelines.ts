// Shader modules, explicit bind group layouts and compute pipelines, cached by the resolved
// variant's keys. prepare() creates them ahead, in parallel; one first needed at a dispatch is
// compiled there and counted (stats.syncCompiles: a test catches a prepare that misses one).
// WALT_DEBUG=1 re-derives the source on every hit and throws if a key maps to a second source.

import { kernelFiles } from '../wgsl/kernel-files.js';
import { preprocess } from '../wgsl/preprocess.js';
import type { ErrorChannel } from './device.js';
import { GpuError } from './device.js';
import {
  type DeviceCaps,
  type KernelFamily,
  paramsByteSize,
  type ResolvedVariant,
  resolveVariant,
} from '../wgsl/family.js';

type Family = KernelFamily<unknown, string, string>;

export class PipelineCache {
  /** Pipelines made; wall time creating them; those compiled at a dispatch (nothing prepared them). */
  readonly stats = { pipelines: 0, compileMs: 0, syncCompiles: 0 };
  private readonly modules = new Map<string, { module: GPUShaderModule; code: string }>();
  private readonly pipelines = new Map<string, GPUComputePipeline>();
  private readonly creating = new Map<string, Promise<GPUComputePipeline>>();
  private readonly layouts = new Map<string, { bgl: GPUBindGroupLayout; pl: GPUPipelineLayout }>();

  constructor(
    private readonly device: GPUDevice,
    private readonly errors: ErrorChannel,
    private readonly caps: DeviceCaps,
    private readonly debug: boolean,
    /** The kernel sources (tests may pass their own). */
    private readonly files: Readonly<Record<string, string>> = kernelFiles,
  ) {}

  layoutFor(family: Family): { bgl: GPUBindGroupLayout; pl: GPUPipelineLayout } {
    let l = this.layouts.get(family.name);
    if (!l) {
      const entries: GPUBindGroupLayoutEntry[] = family.bindings.map((b, i) => ({
        binding: i,
        visibility: GPUShaderStage.COMPUTE,
        buffer: { type: b.access === 'read' ? 'read-only-storage' : 'storage' },
      }));
      entries.push({
        binding: family.bindings.length,
        visibility: GPUShaderStage.COMPUTE,
        buffer: { type: 'uniform', hasDynamicOffset: true, minBindingSize: paramsByteSize(family) },
      });
      const bgl = this.device.createBindGroupLayout({ entries, label: family.name });
      l = { bgl, pl: this.device.createPipelineLayout({ bindGroupLayouts: [bgl], label: family.name }) };
      this.layouts.set(family.name, l);
    }
    return l;
  }

  private moduleFor(family: Family, r: ResolvedVariant): GPUShaderModule {
    const have = this.modules.get(r.sourceKey);
    if (have) {
      if (this.debug && preprocess(family.file, this.files, r.defines).code !== have.code) {
        throw new GpuError(`pipeline key collision: ${r.sourceKey} maps to two sources (${r.label})`);
      }
      return have.module;
    }
    const pre = preprocess(family.file, this.files, r.defines);
    const module = this.device.createShaderModule({ code: pre.code, label: r.label });
    this.modules.set(r.sourceKey, { module, code: pre.code });
    void module.getCompilationInfo().then((info) => {
      for (const msg of info.messages) {
        if (msg.type === 'error') {
          const src = pre.lineMap[msg.lineNum - 1];
          const where = src ? `kernels/${src.file}:${src.line}` : `line ${msg.lineNum}`;
          this.errors.push(`${where}: ${msg.message} (${r.label})`);
        }
      }
    });
    return module;
  }

  private descriptor(family: Family, r: ResolvedVariant): GPUComputePipelineDescriptor {
    return {
      label: r.label,
      layout: this.layoutFor(family).pl,
      compute: { module: this.moduleFor(family, r), entryPoint: r.entryPoint, constants: { ...r.overrides } },
    };
  }

  /** The pipeline of a variant, compiled now (and counted) when nothing prepared it. */
  get(family: Family, r: ResolvedVariant): GPUComputePipeline {
    let pipe = this.pipelines.get(r.pipelineKey);
    if (pipe) {
      if (this.debug) {
        this.moduleFor(family, r);
      }
      return pipe;
    }
    const t0 = performance.now();
    pipe = this.device.createComputePipeline(this.descriptor(family, r));
    this.stats.compileMs += performance.now() - t0;
    this.stats.pipelines++;
    this.stats.syncCompiles++;
    this.pipelines.set(r.pipelineKey, pipe);
    return pipe;
  }

  /** Creates the pipelines of these variants ahead of use, in parallel (createComputePipelineAsync). */
  async prepare<V>(family: KernelFamily<V, string, string>, variants: readonly V[]): Promise<void> {
    await Promise.all(variants.map((v) => this.prepareOne(family as Family, resolveVariant(family, v, this.caps))));
  }

  private prepareOne(family: Family, r: ResolvedVariant): Promise<GPUComputePipeline> {
    const have = this.pipelines.get(r.pipelineKey);
    if (have) {
      return Promise.resolve(have);
    }
    let p = this.creating.get(r.pipelineKey);
    if (!p) {
      const t0 = performance.now();
      p = this.device
        .createComputePipelineAsync(this.descriptor(family, r))
        .then((pipe) => {
          this.stats.compileMs += performance.now() - t0;
          this.stats.pipelines++;
          this.pipelines.set(r.pipelineKey, pipe);
          this.creating.delete(r.pipelineKey);
          return pipe;
        })
        .catch((e: unknown) => {
          this.creating.delete(r.pipelineKey);
          this.errors.throwIfAny();
          throw new GpuError(`pipeline ${r.label}: ${e instanceof Error ? e.message : String(e)}`);
        });
      this.creating.set(r.pipelineKey, p);
    }
    return p;
  }
}
