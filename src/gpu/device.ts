// Opening the device on the chosen adapter, and the device's error channel: uncaptured errors
// are collected with kernel labels and thrown at the next sync; device loss is reported.

import { type AdapterReport, type AdapterRequest, releaseInstance, requestAdapter } from './adapter.js';

/**
 * The limits the runtime relies on, requested at the adapter's values (only these: Dawn warns
 * about others, e.g. maxDynamicUniformBuffersPerPipelineLayout, on every pipeline layout).
 */
const USED_LIMITS = (
  'maxStorageBufferBindingSize maxBufferSize maxStorageBuffersPerShaderStage maxComputeWorkgroupStorageSize ' +
  'maxComputeInvocationsPerWorkgroup maxComputeWorkgroupSizeX maxComputeWorkgroupSizeY maxComputeWorkgroupSizeZ ' +
  'maxComputeWorkgroupsPerDimension maxBindingsPerBindGroup'
).split(' ') as (keyof GPUSupportedLimits)[];

const WANTED_FEATURES: GPUFeatureName[] = ['shader-f16', 'subgroups', 'timestamp-query'];

export class GpuError extends Error {
  override name = 'GpuError';
}

/** The best adapter (see requestAdapter) and a device with the limits and features we use. */
export async function openDevice(req: AdapterRequest): Promise<{ gpu: GPU; device: GPUDevice; report: AdapterReport }> {
  const { gpu, adapter, report } = await requestAdapter(req);
  const requiredFeatures = WANTED_FEATURES.filter((f) => adapter.features.has(f));
  const requiredLimits = Object.fromEntries(USED_LIMITS.map((k) => [k, adapter.limits[k] as number]));
  try {
    const device = await adapter.requestDevice({ requiredFeatures, requiredLimits, label: 'walt' });
    return { gpu, device, report };
  } catch (e) {
    releaseInstance(gpu);
    throw new GpuError(`requestDevice failed on ${report.name}: ${e instanceof Error ? e.message : String(e)}`);
  }
}

/** Uncaptured GPU errors and device loss, surfaced as GpuError at the next check. */
export class ErrorChannel {
  private readonly errors: string[] = [];
  private lost: string | null = null;
  closed = false;

  constructor(device: GPUDevice) {
    // The property (not addEventListener): with no onuncapturederror handler Dawn also prints
    // every error to stdout, which would corrupt JSON output.
    device.onuncapturederror = (ev) => {
      this.errors.push(ev.error.message);
    };
    void device.lost.then((info) => {
      if (!this.closed) {
        this.lost = `${info.reason}: ${info.message}`;
      }
    });
  }

  push(message: string): void {
    this.errors.push(message);
  }

  /** Drops the collected errors (after an out-of-memory, whose consequences they are). */
  clear(): void {
    this.errors.length = 0;
  }

  throwIfAny(): void {
    this.assertAlive();
    if (this.errors.length > 0) {
      const msgs = this.errors.splice(0);
      throw new GpuError(`GPU error${msgs.length > 1 ? 's' : ''}:\n  ${msgs.join('\n  ')}`);
    }
  }

  assertAlive(): void {
    if (this.closed) {
      throw new GpuError('the GPU context is closed');
    }
    if (this.lost) {
      throw new GpuError(`GPU device lost (${this.lost})`);
    }
  }
}
