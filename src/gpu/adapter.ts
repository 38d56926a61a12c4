// The one owner of the Dawn instance, and adapter selection.
//
// Dawn's instance (the object `create()` returns) must stay strongly reachable for as long as any
// adapter or device from it is in use: if V8 collects it, Node crashes at random inside Dawn
// (PEERS.md 1.1). We keep every instance in a module-level set and on globalThis until close().

import { create, globals } from 'webgpu';

Object.assign(globalThis, globals);

const liveInstances = new Set<GPU>();
(globalThis as { __waltGpuInstances?: Set<GPU> }).__waltGpuInstances = liveInstances;

export const SETUP_HINT =
  'Install a Vulkan driver: on Debian/Ubuntu run `bash tools/setup.sh` as root (it installs Mesa lavapipe 25, a software ' +
  'Vulkan driver, from bookworm-backports), or install your GPU vendor driver with Vulkan support.';

export interface AdapterReport {
  /** Human-readable adapter name, e.g. 'NVIDIA H100 80GB HBM3' or 'llvmpipe (software)'. */
  name: string;
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  /** True for a CPU/software adapter (lavapipe/llvmpipe, SwiftShader, WARP). */
  isSoftware: boolean;
  features: string[];
  subgroupMinSize: number;
  subgroupMaxSize: number;
  /** The Dawn flags the instance was created with. */
  dawnFlags: string[];
}

export class NoAdapterError extends Error {
  override name = 'NoAdapterError';
}

/** Creates a Dawn instance that stays referenced until releaseInstance(). */
export function createInstance(flags: string[]): GPU {
  const gpu = create(flags);
  liveInstances.add(gpu);
  return gpu;
}

export function releaseInstance(gpu: GPU): void {
  liveInstances.delete(gpu);
}

export interface AdapterRequest {
  /** Substring of an adapter name (Dawn's `adapter=` flag); WALT_ADAPTER when omitted. */
  adapter?: string;
  /** Dawn backend ('vulkan', 'metal', 'd3d12', ...); WALT_BACKEND when omitted. */
  backend?: string;
  /** Extra Dawn toggles to enable (bench only). */
  enableToggles?: string[];
}

function isNullBackend(a: GPUAdapter): boolean {
  const i = a.info;
  return i.device === 'null-backend' || (i.vendor === '' && i.description === '' && i.architecture === '');
}

/** Lists the adapters Dawn can see ("backend: name"), using Dawn's own listing. */
export async function listAdapters(): Promise<string[]> {
  const gpu = createInstance(['adapter=\u0001no-such-adapter']);
  try {
    await gpu.requestAdapter();
    return [];
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    return msg
      .split('\n')
      .filter((l) => l.trim().startsWith('*'))
      .map((l) => l.replace(/^\s*\*\s*/, '').trim());
  } finally {
    releaseInstance(gpu);
  }
}

/**
 * Picks an adapter: a hardware adapter first (high-performance preference), the named one when
 * `adapter`/WALT_ADAPTER is set; a software adapter is accepted but reported as such; Dawn's
 * null backend is refused (it runs kernels and returns garbage).
 */
export async function requestAdapter(
  req: AdapterRequest = {},
): Promise<{ gpu: GPU; adapter: GPUAdapter; report: AdapterReport }> {
  const name = req.adapter ?? process.env.WALT_ADAPTER;
  const backend = req.backend ?? process.env.WALT_BACKEND;
  if (backend === 'null') {
    throw new NoAdapterError(
      "Dawn's null backend computes nothing and is refused; choose a real backend (e.g. vulkan)",
    );
  }
  const flags: string[] = [];
  if (name) {
    flags.push(`adapter=${name}`);
  }
  if (backend) {
    flags.push(`backend=${backend}`);
  }
  if (req.enableToggles && req.enableToggles.length > 0) {
    flags.push(`enable-dawn-features=${req.enableToggles.join(',')}`);
  }
  const gpu = createInstance(flags);
  let adapter: GPUAdapter | null;
  try {
    adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  } catch (e) {
    releaseInstance(gpu);
    const msg = e instanceof Error ? e.message : String(e);
    throw new NoAdapterError(
      name
        ? `no WebGPU adapter matches '${name}' (--adapter / WALT_ADAPTER).\n${msg}`
        : `no WebGPU adapter: ${msg}\n${SETUP_HINT}`,
    );
  }
  if (!adapter) {
    releaseInstance(gpu);
    throw new NoAdapterError(`no WebGPU adapter was found. ${SETUP_HINT}`);
  }
  if (isNullBackend(adapter)) {
    releaseInstance(gpu);
    throw new NoAdapterError(`only Dawn's null backend is available, which computes nothing. ${SETUP_HINT}`);
  }
  const i = adapter.info;
  const isSoftware =
    i.isFallbackAdapter ||
    i.architecture === 'software' ||
    /llvmpipe|lavapipe|swiftshader|warp|software/i.test(`${i.device} ${i.description}`);
  const report: AdapterReport = {
    name: adapterName(i, isSoftware),
    vendor: i.vendor,
    architecture: i.architecture,
    device: i.device,
    description: i.description,
    isSoftware,
    features: [...adapter.features].sort(),
    subgroupMinSize: i.subgroupMinSize ?? 0,
    subgroupMaxSize: i.subgroupMaxSize ?? 0,
    dawnFlags: flags,
  };
  return { gpu, adapter, report };
}

function adapterName(i: GPUAdapterInfo, isSoftware: boolean): string {
  const base = i.description || i.device || i.vendor || 'unknown adapter';
  return isSoftware ? `${base} [software]` : base;
}
