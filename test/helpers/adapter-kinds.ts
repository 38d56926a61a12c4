// The adapter kinds the CLI may meet, as DeviceCaps: the tile each would pick runs here on the
// software adapter (every subgroup tile is correct for any subgroup size that divides its
// workgroup, and lavapipe's 8 lanes divide all of them), so the variants shipped to GPUs are
// tested without one.
import type { DeviceCaps } from '../../src/wgsl/family.js';
import type { GpuContext } from '../../src/gpu/context.js';

export interface AdapterKind {
  name: string;
  caps: DeviceCaps;
}

/** This adapter, and the hardware kinds: NVIDIA (32), AMD (32–64), Intel (8–32), Apple (32), none. */
export function adapterKinds(ctx: GpuContext): AdapterKind[] {
  const hw = (subgroups: boolean, min: number, max: number): DeviceCaps => ({
    ...ctx.caps,
    subgroups,
    subgroupMinSize: min,
    subgroupMaxSize: max,
    isSoftware: false,
    tuned: () => undefined,
  });
  return [
    { name: `this adapter (${ctx.adapter.name})`, caps: { ...ctx.caps, tuned: () => undefined } },
    { name: 'nvidia', caps: hw(true, 32, 32) },
    { name: 'amd', caps: hw(true, 32, 64) },
    { name: 'intel', caps: hw(true, 8, 32) },
    { name: 'apple', caps: hw(true, 32, 32) },
    { name: 'gpu without subgroups', caps: hw(false, 0, 0) },
    { name: 'software without subgroups', caps: { ...hw(false, 0, 0), isSoftware: true } },
  ];
}

/** Distinct values by a key, keeping the first reason each was met for. */
export function distinct<T>(items: { what: string; value: T }[], key: (v: T) => string): { what: string; value: T }[] {
  const seen = new Map<string, { what: string; value: T }>();
  for (const it of items) {
    if (!seen.has(key(it.value))) {
      seen.set(key(it.value), it);
    }
  }
  return [...seen.values()];
}
