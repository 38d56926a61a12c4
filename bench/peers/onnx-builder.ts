// Minimal protobuf encoder for ONNX models built in memory (no dependency on the onnx package or protobufjs).
//
// Field numbers are those of onnx/onnx.proto3: ModelProto, GraphProto, NodeProto, AttributeProto, TensorProto,
// ValueInfoProto, TypeProto(.Tensor), TensorShapeProto(.Dimension), OperatorSetIdProto.

import { toF16Array } from '../../src/tensor/f16.js';

export type OnnxElemType = 'float32' | 'float16' | 'int64';

/** TensorProto.DataType values. */
const DATA_TYPE: Record<OnnxElemType, number> = { float32: 1, float16: 10, int64: 7 };

/** AttributeProto.AttributeType values. */
const ATTR_FLOAT = 1;
const ATTR_INT = 2;
const ATTR_STRING = 3;
const ATTR_INTS = 7;

export type OnnxAttribute =
  | { name: string; kind: 'int'; value: number }
  | { name: string; kind: 'ints'; value: readonly number[] }
  | { name: string; kind: 'float'; value: number }
  | { name: string; kind: 'string'; value: string };

export interface OnnxNode {
  opType: string;
  inputs: readonly string[];
  outputs: readonly string[];
  name?: string;
  domain?: string; // '' (default ONNX domain) or 'com.microsoft'
  attributes?: readonly OnnxAttribute[];
}

export interface OnnxValueInfo {
  name: string;
  elemType: OnnxElemType;
  /** Numbers are fixed sizes; strings are symbolic (dim_param). */
  dims: readonly (number | string)[];
}

export interface OnnxInitializer {
  name: string;
  elemType: OnnxElemType;
  dims: readonly number[];
  /** Values; stored as raw little-endian bytes of elemType (f16: ties to even; int64: integers). */
  values: ArrayLike<number>;
}

export interface OnnxGraph {
  name: string;
  nodes: readonly OnnxNode[];
  inputs: readonly OnnxValueInfo[];
  outputs: readonly OnnxValueInfo[];
  initializers?: readonly OnnxInitializer[];
}

export interface OnnxModelOptions {
  irVersion?: number; // default 8
  opset?: number; // default 17 (ai.onnx)
  msOpset?: number; // default 1 (com.microsoft)
  producer?: string;
}

export const attr = {
  int: (name: string, value: number): OnnxAttribute => ({ name, kind: 'int', value }),
  ints: (name: string, value: readonly number[]): OnnxAttribute => ({ name, kind: 'ints', value }),
  float: (name: string, value: number): OnnxAttribute => ({ name, kind: 'float', value }),
  string: (name: string, value: string): OnnxAttribute => ({ name, kind: 'string', value }),
};

const WIRE_VARINT = 0;
const WIRE_I32 = 5;
const WIRE_LEN = 2;

/** Appends protobuf fields to a growing byte buffer. */
class PbWriter {
  private buf = new Uint8Array(256);
  private len = 0;

  private ensure(extra: number): void {
    if (this.len + extra <= this.buf.length) {
      return;
    }
    let size = this.buf.length * 2;
    while (size < this.len + extra) {
      size *= 2;
    }
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
  }

  private byte(b: number): void {
    this.ensure(1);
    this.buf[this.len++] = b;
  }

  /** Unsigned varint; negative numbers are written as 64-bit two's complement (int32/int64 semantics). */
  varint(v: number): void {
    if (!Number.isSafeInteger(v)) {
      throw new Error(`onnx-builder: varint ${v} is not a safe integer`);
    }
    if (v >= 0 && v < 2 ** 31) {
      let x = v;
      while (x >= 0x80) {
        this.byte((x & 0x7f) | 0x80);
        x >>>= 7;
      }
      this.byte(x);
      return;
    }
    let x = BigInt.asUintN(64, BigInt(v));
    while (x >= 0x80n) {
      this.byte(Number(x & 0x7fn) | 0x80);
      x >>= 7n;
    }
    this.byte(Number(x));
  }

  private tag(field: number, wire: number): void {
    this.varint((field << 3) | wire);
  }

  int(field: number, v: number): void {
    this.tag(field, WIRE_VARINT);
    this.varint(v);
  }

  float(field: number, v: number): void {
    this.tag(field, WIRE_I32);
    this.ensure(4);
    new DataView(this.buf.buffer, this.buf.byteOffset + this.len, 4).setFloat32(0, v, true);
    this.len += 4;
  }

  bytes(field: number, data: Uint8Array): void {
    this.tag(field, WIRE_LEN);
    this.varint(data.length);
    this.ensure(data.length);
    this.buf.set(data, this.len);
    this.len += data.length;
  }

  string(field: number, s: string): void {
    this.bytes(field, new TextEncoder().encode(s));
  }

  message(field: number, write: (w: PbWriter) => void): void {
    const inner = new PbWriter();
    write(inner);
    this.bytes(field, inner.finish());
  }

  /** Packed repeated varints (proto3 default for repeated scalars). */
  packedInts(field: number, values: readonly number[]): void {
    const inner = new PbWriter();
    for (const v of values) {
      inner.varint(v);
    }
    this.bytes(field, inner.finish());
  }

  finish(): Uint8Array {
    return this.buf.slice(0, this.len);
  }
}

function writeAttribute(w: PbWriter, a: OnnxAttribute): void {
  w.string(1, a.name);
  switch (a.kind) {
    case 'float':
      w.float(2, a.value);
      w.int(20, ATTR_FLOAT);
      break;
    case 'int':
      w.int(3, a.value);
      w.int(20, ATTR_INT);
      break;
    case 'string':
      w.string(4, a.value);
      w.int(20, ATTR_STRING);
      break;
    case 'ints':
      w.packedInts(8, a.value);
      w.int(20, ATTR_INTS);
      break;
  }
}

function writeNode(w: PbWriter, n: OnnxNode): void {
  for (const i of n.inputs) {
    w.string(1, i);
  }
  for (const o of n.outputs) {
    w.string(2, o);
  }
  if (n.name !== undefined) {
    w.string(3, n.name);
  }
  w.string(4, n.opType);
  for (const a of n.attributes ?? []) {
    w.message(5, (aw) => writeAttribute(aw, a));
  }
  if (n.domain !== undefined && n.domain !== '') {
    w.string(7, n.domain);
  }
}

function writeValueInfo(w: PbWriter, v: OnnxValueInfo): void {
  w.string(1, v.name);
  w.message(2, (tw) =>
    // TypeProto.tensor_type
    tw.message(1, (tt) => {
      tt.int(1, DATA_TYPE[v.elemType]);
      tt.message(2, (sw) => {
        for (const d of v.dims) {
          sw.message(1, (dw) => (typeof d === 'number' ? dw.int(1, d) : dw.string(2, d)));
        }
      });
    }),
  );
}

function writeInitializer(w: PbWriter, t: OnnxInitializer): void {
  const count = t.dims.reduce((p, d) => p * d, 1);
  if (count !== t.values.length) {
    throw new Error(`onnx-builder: initializer ${t.name} has ${t.values.length} values for dims [${t.dims.join(',')}]`);
  }
  for (const d of t.dims) {
    w.int(1, d);
  }
  w.int(2, DATA_TYPE[t.elemType]);
  w.string(8, t.name);
  const raw =
    t.elemType === 'float16'
      ? toF16Array(t.values)
      : t.elemType === 'int64'
        ? BigInt64Array.from(Array.from(t.values, (v) => BigInt(v)))
        : Float32Array.from(t.values);
  // raw_data is little-endian; typed arrays on x86/ARM are little-endian too.
  w.bytes(9, new Uint8Array(raw.buffer, raw.byteOffset, raw.byteLength));
}

function writeGraph(w: PbWriter, g: OnnxGraph): void {
  for (const n of g.nodes) {
    w.message(1, (nw) => writeNode(nw, n));
  }
  w.string(2, g.name);
  for (const t of g.initializers ?? []) {
    w.message(5, (tw) => writeInitializer(tw, t));
  }
  for (const i of g.inputs) {
    w.message(11, (vw) => writeValueInfo(vw, i));
  }
  for (const o of g.outputs) {
    w.message(12, (vw) => writeValueInfo(vw, o));
  }
}

/** Serialises a ModelProto (ir_version 8, opset 17 + com.microsoft 1 by default) holding `graph`. */
export function encodeModel(graph: OnnxGraph, opts: OnnxModelOptions = {}): Uint8Array {
  const w = new PbWriter();
  w.int(1, opts.irVersion ?? 8);
  w.string(2, opts.producer ?? 'walt-webgpu-bench');
  w.message(7, (gw) => writeGraph(gw, graph));
  w.message(8, (ow) => {
    ow.string(1, '');
    ow.int(2, opts.opset ?? 17);
  });
  w.message(8, (ow) => {
    ow.string(1, 'com.microsoft');
    ow.int(2, opts.msOpset ?? 1);
  });
  return w.finish();
}
