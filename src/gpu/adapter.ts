// The one owner of the Dawn instance, and adapter selection. Dawn's instance (what `create()`
// returns) must stay reachable while any adapter or device from it is in use (if V8 collects it,
// Node crashes inside Dawn): each stays in a module-level set until releaseInstance() (close()).

import { create, globals } from 'webgpu';
import { withFilteredStderr } from '../util/quiet-stderr.js';

Object.assign(globalThis, globals);

const liveInstances = new Set<GPU>();
(globalThis as { __waltGpuInstances?: Set<GPU> }).__waltGpuInstances = liveInstances;

export const SETUP_HINT =
  'Install a Vulkan driver: on Debian/Ubuntu run `bash tools/setup.sh` as root (it installs Mesa lavapipe 25, a software ' +
  'Vulkan driver, from bookworm-backports), or install your GPU vendor driver with Vulkan support.';

export interface AdapterReport {
  /** Human-readable adapter name, e.g. 'NVIDIA H100 80GB HBM3' or 'llvmpipe … [software]'. */
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

export interface AdapterRequest {
  /** Substring of an adapter name (Dawn's `adapter=` flag); WALT_ADAPTER when omitted. */
  adapter?: string;
  /** Dawn backend ('vulkan', 'metal', 'd3d12', ...); WALT_BACKEND when omitted. */
  backend?: string;
  /** Extra Dawn toggles to enable (bench only). */
  enableToggles?: string[];
}

/**
 * Dawn prints, from native code straight to stderr and once per instance, that it clamps the
 * dynamic-buffer limits Vulkan drivers report (1,000,000) to 16; no option or requested limit
 * silences it, so adapter enumeration runs with that notice filtered out of stderr (the bench's
 * peers request their adapters the same way).
 */
export const DAWN_LIMIT_NOTICE = /^Warning: maxDynamic\w+ artificially reduced from \d+ to \d+[^\n]*\n/gm;

export function releaseInstance(gpu: GPU): void {
  liveInstances.delete(gpu);
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
  const flags = [
    ...(name ? [`adapter=${name}`] : []),
    ...(backend ? [`backend=${backend}`] : []),
    ...(req.enableToggles?.length ? [`enable-dawn-features=${req.enableToggles.join(',')}`] : []),
  ];
  const gpu = create(flags);
  liveInstances.add(gpu);
  const fail = (msg: string): never => {
    releaseInstance(gpu);
    throw new NoAdapterError(msg);
  };
  let adapter: GPUAdapter | null = null;
  try {
    adapter = await withFilteredStderr(DAWN_LIMIT_NOTICE, () =>
      gpu.requestAdapter({ powerPreference: 'high-performance' }),
    );
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    fail(
      name
        ? `no WebGPU adapter matches '${name}' (--adapter / WALT_ADAPTER).\n${msg}`
        : `no WebGPU adapter: ${msg}\n${SETUP_HINT}`,
    );
  }
  if (!adapter) {
    return fail(`no WebGPU adapter was found. ${SETUP_HINT}`);
  }
  const i = adapter.info;
  if (i.device === 'null-backend' || (i.vendor === '' && i.description === '' && i.architecture === '')) {
    fail(`only Dawn's null backend is available, which computes nothing. ${SETUP_HINT}`);
  }
  const isSoftware =
    i.isFallbackAdapter ||
    i.architecture === 'software' ||
    /llvmpipe|lavapipe|swiftshader|warp|software/i.test(`${i.device} ${i.description}`);
  const base = i.description || i.device || i.vendor || 'unknown adapter';
  const report: AdapterReport = {
    name: isSoftware ? `${base} [software]` : base,
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
