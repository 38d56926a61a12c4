// Entry point of the benchmark peers. Peers are devDependencies and are loaded only through dynamic import(); from
// src/ they use only the f16 codec (src/tensor/f16.ts), shared with the runtime.

import { DAWN_LIMIT_NOTICE } from '../../src/gpu/adapter.js';
import { withFilteredStderr } from '../../src/util/quiet-stderr.js';
import type { AttentionPeer, MatmulPeer, PeerDtype, PeerLoadResult } from './types.js';

export type * from './types.js';

export const MATMUL_PEERS = ['tfjs-webgpu', 'ort-webgpu', 'ort-cpu'] as const;
export const ATTENTION_PEERS = ['tfjs-webgpu', 'ort-webgpu', 'ort-webgpu-ops'] as const;

/** Used when the adapter cannot be asked (Dawn's default maxStorageBufferBindingSize, and lavapipe's maximum). */
const DEFAULT_BINDING_LIMIT = 128 * 1024 * 1024;

function reason(e: unknown): string {
  const msg = e instanceof Error ? e.message : String(e);
  return msg.split('\n')[0] ?? msg;
}

/** Storage binding limit of the caller's adapter; ORT's own Dawn sees the same device. */
async function limitOf(gpu: GPU): Promise<number> {
  try {
    const adapter = await withFilteredStderr(DAWN_LIMIT_NOTICE, () =>
      gpu.requestAdapter({ powerPreference: 'high-performance' }),
    );
    if (adapter === null) {
      return DEFAULT_BINDING_LIMIT;
    }
    return Math.min(adapter.limits.maxStorageBufferBindingSize, adapter.limits.maxBufferSize);
  } catch {
    return DEFAULT_BINDING_LIMIT;
  }
}

/**
 * Loads matmul peer `name` ('tfjs-webgpu' | 'ort-webgpu' | 'ort-cpu'). When `dtype` is given, the peer is also
 * checked to run it (a tiny product at load time) and is skipped otherwise. Never throws: a peer that cannot load
 * comes back as `{ skipped: '<one-line reason>' }`.
 * `gpu` must stay referenced by the caller for the whole process (dawn.node crashes if it is collected).
 */
export async function loadMatmulPeer(name: string, gpu: GPU, dtype?: PeerDtype): Promise<PeerLoadResult<MatmulPeer>> {
  try {
    switch (name) {
      case 'tfjs-webgpu': {
        if (dtype === 'f16') {
          return { skipped: 'tfjs-webgpu: no f16 (tfjs has no float16 tensors)' };
        }
        const { loadTfjsMatmul } = await import('./tfjs-peers.js');
        return { peer: await loadTfjsMatmul(gpu) };
      }
      case 'ort-webgpu':
      case 'ort-cpu': {
        const { loadOrtMatmul } = await import('./ort-peers.js');
        const ep = name === 'ort-cpu' ? 'cpu' : 'webgpu';
        return { peer: await loadOrtMatmul(name, ep, await limitOf(gpu), dtype) };
      }
      default:
        return { skipped: `${name}: unknown matmul peer (known: ${MATMUL_PEERS.join(', ')})` };
    }
  } catch (e) {
    const r = reason(e);
    return { skipped: r.startsWith(`${name}:`) ? r : `${name}: ${r}` };
  }
}

/**
 * Loads attention peer `name`: 'tfjs-webgpu' (tfjs ops), 'ort-webgpu' (com.microsoft MultiHeadAttention) or
 * 'ort-webgpu-ops' (plain-op ONNX graph). `dtype` as for loadMatmulPeer. Never throws.
 */
export async function loadAttentionPeer(
  name: string,
  gpu: GPU,
  dtype?: PeerDtype,
): Promise<PeerLoadResult<AttentionPeer>> {
  try {
    switch (name) {
      case 'tfjs-webgpu': {
        if (dtype === 'f16') {
          return { skipped: 'tfjs-webgpu: no f16 (tfjs has no float16 tensors)' };
        }
        const { loadTfjsAttention } = await import('./tfjs-peers.js');
        return { peer: await loadTfjsAttention(gpu) };
      }
      case 'ort-webgpu':
      case 'ort-webgpu-ops': {
        const { loadOrtAttention } = await import('./ort-peers.js');
        const graph = name === 'ort-webgpu' ? 'mha' : 'ops';
        return { peer: await loadOrtAttention(name, 'webgpu', graph, await limitOf(gpu), dtype) };
      }
      case 'ort-cpu':
        return { skipped: 'ort-cpu: matmul only' };
      default:
        return { skipped: `${name}: unknown attention peer (known: ${ATTENTION_PEERS.join(', ')})` };
    }
  } catch (e) {
    const r = reason(e);
    return { skipped: r.startsWith(`${name}:`) ? r : `${name}: ${r}` };
  }
}
