// The ONNX graphs the onnxruntime peers run, built in memory with onnx-builder.

import { attr, encodeModel, type OnnxElemType } from './onnx-builder.js';

/** C[m,n] = A[m,k] · B[k,n] (ai.onnx MatMul). Inputs 'a', 'b'; output 'c'. */
export function matmulModel(m: number, n: number, k: number, elem: OnnxElemType): Uint8Array {
  return encodeModel({
    name: 'matmul',
    nodes: [{ opType: 'MatMul', inputs: ['a', 'b'], outputs: ['c'], name: 'matmul' }],
    inputs: [
      { name: 'a', elemType: elem, dims: [m, k] },
      { name: 'b', elemType: elem, dims: [k, n] },
    ],
    outputs: [{ name: 'c', elemType: elem, dims: [m, n] }],
  });
}

/**
 * com.microsoft MultiHeadAttention(num_heads=NH, scale=1/√D) with unpacked q, k, v of shape [B, N, NH·D] (the
 * [B, N, NH, D] layout read flat) and output [B, N, NH·D]. Inputs 'q', 'k', 'v'; output 'o'.
 */
export function mhaModel(
  batch: number,
  tokens: number,
  heads: number,
  headDim: number,
  elem: OnnxElemType,
): Uint8Array {
  const dims = [batch, tokens, heads * headDim];
  return encodeModel({
    name: 'mha',
    nodes: [
      {
        opType: 'MultiHeadAttention',
        domain: 'com.microsoft',
        name: 'mha',
        inputs: ['q', 'k', 'v'],
        outputs: ['o'],
        attributes: [attr.int('num_heads', heads), attr.float('scale', 1 / Math.sqrt(headDim))],
      },
    ],
    inputs: ['q', 'k', 'v'].map((name) => ({ name, elemType: elem, dims })),
    outputs: [{ name: 'o', elemType: elem, dims }],
  });
}

/**
 * Attention from plain ai.onnx ops, q, k, v, o all [B, N, NH, D]:
 * Transpose(q)→[B,NH,N,D], Transpose(k)→[B,NH,D,N], MatMul→S [B,NH,N,N], Mul(1/√D), Softmax(axis −1),
 * MatMul(P, Transpose(v)→[B,NH,N,D]) → [B,NH,N,D], Transpose → [B,N,NH,D].
 */
export function attentionOpsModel(
  batch: number,
  tokens: number,
  heads: number,
  headDim: number,
  elem: OnnxElemType,
): Uint8Array {
  const dims = [batch, tokens, heads, headDim];
  const perm = (name: string, input: string, p: readonly number[]) => ({
    opType: 'Transpose',
    name,
    inputs: [input],
    outputs: [name],
    attributes: [attr.ints('perm', p)],
  });
  return encodeModel({
    name: 'attention_ops',
    nodes: [
      perm('qt', 'q', [0, 2, 1, 3]),
      perm('kt', 'k', [0, 2, 3, 1]),
      perm('vt', 'v', [0, 2, 1, 3]),
      { opType: 'MatMul', name: 's', inputs: ['qt', 'kt'], outputs: ['s'] },
      { opType: 'Mul', name: 's_scaled', inputs: ['s', 'scale'], outputs: ['s_scaled'] },
      { opType: 'Softmax', name: 'p', inputs: ['s_scaled'], outputs: ['p'], attributes: [attr.int('axis', -1)] },
      { opType: 'MatMul', name: 'ot', inputs: ['p', 'vt'], outputs: ['ot'] },
      perm('o', 'ot', [0, 2, 1, 3]),
    ],
    initializers: [{ name: 'scale', elemType: elem, dims: [], values: new Float32Array([1 / Math.sqrt(headDim)]) }],
    inputs: ['q', 'k', 'v'].map((name) => ({ name, elemType: elem, dims })),
    outputs: [{ name: 'o', elemType: elem, dims }],
  });
}

/** y = x (ai.onnx Identity), both `dims`: moves a tensor between host and ORT's device (IO binding). */
export function identityModel(dims: readonly number[], elem: OnnxElemType): Uint8Array {
  return encodeModel({
    name: 'identity',
    nodes: [{ opType: 'Identity', name: 'identity', inputs: ['x'], outputs: ['y'] }],
    inputs: [{ name: 'x', elemType: elem, dims }],
    outputs: [{ name: 'y', elemType: elem, dims }],
  });
}

/**
 * y = x[0, …, 0] as a [1, …, 1] tensor (ai.onnx Slice): read back to the host, it tells that every
 * dispatch queued before it on ORT's device has finished (queue order), at the cost of one tiny
 * dispatch and a one-element readback.
 */
export function firstElementModel(dims: readonly number[], elem: OnnxElemType): Uint8Array {
  const ones = dims.map(() => 1);
  return encodeModel({
    name: 'first_element',
    nodes: [{ opType: 'Slice', name: 'slice', inputs: ['x', 'starts', 'ends'], outputs: ['y'] }],
    initializers: [
      { name: 'starts', elemType: 'int64', dims: [dims.length], values: dims.map(() => 0) },
      { name: 'ends', elemType: 'int64', dims: [dims.length], values: ones },
    ],
    inputs: [{ name: 'x', elemType: elem, dims }],
    outputs: [{ name: 'y', elemType: elem, dims: ones }],
  });
}
