// Benchmark peers (bench/peers): each peer's output, in every scope it can time, against the float64
// CPU references of src/ref on small shapes. Peers that cannot load here are skipped with their
// reason, as the loaders promise. Also the f16 codec the peers share with the runtime (src/tensor/f16).

import { describe, expect, test } from 'vitest';
import { create, globals } from 'webgpu';
import { loadAttentionPeer, loadMatmulPeer, type AttentionProblem, type PeerDtype } from '../../bench/peers/index.js';
import { encodeModel } from '../../bench/peers/onnx-builder.js';
import { checkBinding, checkScope, chunkSize } from '../../bench/peers/timing.js';
import { median } from '../../bench/stats.js';
import { attentionRef } from '../../src/ref/attention.js';
import { matmulRef } from '../../src/ref/matmul.js';
import { f16BitsToF32, f32ToF16Bits, roundToF16 } from '../../src/tensor/f16.js';

Object.assign(globalThis, globals);
// dawn.node crashes when the instance is collected while a device lives: keep it referenced for the whole run.
const gpu = create([]);
(globalThis as { __gpu?: GPU }).__gpu = gpu;

const ONCE = { warmup: 0, reps: 1 };
const TWICE = { warmup: 1, reps: 2 };

/** Deterministic values in [-1, 1). */
function randoms(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  return Float32Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 31 - 1;
  });
}

/** O = softmax(Q·Kᵀ/√D)·V per (b, h), all [B, N, NH, D]: src/ref/attention.ts with one window of N tokens per b. */
function attentionRefOf(q: Float32Array, k: Float32Array, v: Float32Array, p: AttentionProblem): Float64Array {
  return attentionRef({
    q,
    k,
    v,
    latent: [1, 1, p.tokens],
    window: [1, 1, p.tokens],
    batch: p.batch,
    heads: p.heads,
    headDim: p.headDim,
  });
}

function errors(got: Float32Array, ref: Float64Array): { maxErr: number; maxRef: number } {
  let maxErr = 0;
  let maxRef = 0;
  for (let i = 0; i < ref.length; i++) {
    maxErr = Math.max(maxErr, Math.abs((got[i] ?? NaN) - (ref[i] ?? 0)) || (Number.isNaN(got[i]) ? Infinity : 0));
    maxRef = Math.max(maxRef, Math.abs(ref[i] ?? 0));
  }
  return { maxErr, maxRef };
}

describe('f16 codec (src/tensor/f16.ts, shared by the runtime and the peers)', () => {
  test('known values round to nearest even', () => {
    const cases: [number, number][] = [
      [0, 0x0000],
      [-0, 0x8000],
      [1, 0x3c00],
      [-2, 0xc000],
      [65504, 0x7bff],
      [65519.99, 0x7bff],
      [65520, 0x7c00],
      [Infinity, 0x7c00],
      [-Infinity, 0xfc00],
      [2 ** -14, 0x0400],
      [2 ** -24, 0x0001],
      [2 ** -25, 0x0000],
      [3 * 2 ** -26, 0x0001],
      [1 + 2 ** -11, 0x3c00],
      [1 + 3 * 2 ** -11, 0x3c02],
      [1 + 2 ** -11 + 2 ** -20, 0x3c01],
      [(1023.5 / 1024) * 2 ** -14, 0x0400],
    ];
    for (const [x, bits] of cases) {
      expect(f32ToF16Bits(x), `f32ToF16Bits(${x})`).toBe(bits);
    }
    expect(Number.isNaN(f16BitsToF32(f32ToF16Bits(NaN)))).toBe(true);
  });

  test('every finite half survives f16 → f32 → f16', () => {
    for (let h = 0; h < 0x10000; h++) {
      if ((h & 0x7c00) === 0x7c00 && (h & 0x3ff) !== 0) {
        continue; // NaN payloads
      }
      if (f32ToF16Bits(f16BitsToF32(h)) !== h) {
        expect.unreachable(`half 0x${h.toString(16)} did not round-trip`);
      }
    }
  });
});

describe('peer helpers', () => {
  test('chunkSize picks the largest divisor that fits', () => {
    const mib128 = 128 * 1024 * 1024;
    expect(chunkSize(4, 16 * 320 * 320 * 4, mib128)).toBe(4);
    expect(chunkSize(64, 16 * 320 * 320 * 4, mib128)).toBe(16);
    expect(chunkSize(7, 100, 350)).toBe(1);
    expect(() => chunkSize(2, 200, 100)).toThrow(/binding limit/);
    expect(() => checkBinding('x', 101, 100)).toThrow(/x is 101 bytes/);
    expect(() => checkScope('ort-cpu', 'device', ['host'])).toThrow(/cannot time the 'device' scope/);
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 2, 3])).toBe(2.5);
  });

  test('onnx-builder writes ir_version, graph and both opsets', () => {
    const bytes = encodeModel({ name: 'g', nodes: [], inputs: [], outputs: [] });
    expect(Array.from(bytes.subarray(0, 2))).toEqual([0x08, 0x08]); // field 1 varint = 8
    expect(new TextDecoder().decode(bytes)).toContain('com.microsoft');
  });

  test('unknown names and unsupported dtypes are skipped, not thrown', async () => {
    expect((await loadMatmulPeer('nope', gpu)).skipped).toMatch(/unknown matmul peer/);
    expect((await loadAttentionPeer('ort-cpu', gpu)).skipped).toMatch(/matmul only/);
    expect((await loadMatmulPeer('tfjs-webgpu', gpu, 'f16')).skipped).toMatch(/no f16/);
    expect((await loadAttentionPeer('tfjs-webgpu', gpu, 'f16')).skipped).toMatch(/no f16/);
  });
});

describe('matmul peers, m 64, n 48, k 40', () => {
  const [m, n, k] = [64, 48, 40];
  const a = randoms(m * k, 1);
  const b = randoms(k * n, 2);
  const cases: [string, PeerDtype, number][] = [
    ['tfjs-webgpu', 'f32', 1e-3],
    ['ort-webgpu', 'f32', 1e-3],
    ['ort-cpu', 'f32', 1e-3],
    // f16: the reference uses the f16-rounded inputs; the peer may accumulate and store in f16.
    ['ort-webgpu', 'f16', 1e-2],
    ['ort-cpu', 'f16', 1e-2],
  ];
  test.for(cases)('%s %s, every scope it can time', async ([name, dtype, tol], ctx) => {
    const loaded = await loadMatmulPeer(name, gpu, dtype);
    if (loaded.peer === undefined) {
      console.warn(`skipped: ${loaded.skipped}`);
      ctx.skip(loaded.skipped);
      return;
    }
    const peer = loaded.peer;
    try {
      expect(peer.impl).toBe(name);
      expect(peer.scopes).toEqual(name === 'ort-cpu' ? ['host'] : ['host', 'device']);
      for (const scope of peer.scopes) {
        expect(peer.scopeNotes[scope], scope).toBeTruthy();
      }
      const ref =
        dtype === 'f16' ? matmulRef({ a: roundToF16(a), b: roundToF16(b), m, n, k }) : matmulRef({ a, b, m, n, k });
      for (const scope of peer.scopes) {
        const r = await peer.matmul(a, b, m, n, k, dtype, scope, TWICE);
        expect(r.out).toHaveLength(m * n);
        expect(r.times).toHaveLength(2);
        expect(Math.min(...r.times)).toBeGreaterThan(0);
        expect(r.firstMs).toBeGreaterThan(0);
        const { maxErr, maxRef } = errors(r.out, ref);
        console.log(
          `${name} ${dtype} ${scope} matmul: max err ${maxErr.toExponential(2)}, max|ref| ${maxRef.toFixed(3)}`,
        );
        expect(maxErr, scope).toBeLessThan(tol * maxRef);
      }
      if (!peer.scopes.includes('device')) {
        await expect(peer.matmul(a, b, m, n, k, dtype, 'device', ONCE)).rejects.toThrow(/cannot time/);
      }
    } finally {
      await peer.dispose();
    }
  });
});

describe('attention peers, B 2, NH 2, N 17, D 16', () => {
  const p: AttentionProblem = { batch: 2, heads: 2, tokens: 17, headDim: 16 };
  const size = p.batch * p.tokens * p.heads * p.headDim;
  const q = randoms(size, 3);
  const k = randoms(size, 4);
  const v = randoms(size, 5);
  // ORT's MultiHeadAttention (FlashAttention program) is known to be off by ~2% of max|out| on lavapipe.
  const cases: [string, PeerDtype, number][] = [
    ['tfjs-webgpu', 'f32', 1e-4],
    ['ort-webgpu', 'f32', 5e-2],
    ['ort-webgpu-ops', 'f32', 1e-4],
    ['ort-webgpu', 'f16', 5e-2],
    ['ort-webgpu-ops', 'f16', 2e-2],
  ];
  test.for(cases)('%s %s, every scope it can time', async ([name, dtype, tol], ctx) => {
    const loaded = await loadAttentionPeer(name, gpu, dtype);
    if (loaded.peer === undefined) {
      console.warn(`skipped: ${loaded.skipped}`);
      ctx.skip(loaded.skipped);
      return;
    }
    const peer = loaded.peer;
    try {
      expect(peer.impl).toBe(name);
      expect(peer.scopes).toEqual(['host', 'device']);
      const ref =
        dtype === 'f16' ? attentionRefOf(roundToF16(q), roundToF16(k), roundToF16(v), p) : attentionRefOf(q, k, v, p);
      for (const scope of peer.scopes) {
        const r = await peer.attention(q, k, v, p, dtype, scope, ONCE);
        expect(r.out).toHaveLength(size);
        expect(r.times).toHaveLength(1);
        const { maxErr, maxRef } = errors(r.out, ref);
        console.log(
          `${name} ${dtype} ${scope} attention: max err ${maxErr.toExponential(2)}, max|ref| ${maxRef.toFixed(3)}`,
        );
        expect(maxErr, scope).toBeLessThan(tol * maxRef);
      }
    } finally {
      await peer.dispose();
    }
  });
});
