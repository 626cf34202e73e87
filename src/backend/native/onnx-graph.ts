// Small ONNX models written in memory, one per kind of op the native CPU path runs (a matmul with given
// transposes, a norm, a softmax…). Only the handful of protobuf fields an ONNX ModelProto needs are emitted: ints
// as varints, strings and sub-messages length-delimited, floats as fixed32. A general protobuf library
// (protobufjs) would also need the onnx.proto schema loaded at run time and is not a dependency of lmprobe's own;
// the encoder below is ~40 lines and its output is checked by onnxruntime itself when the session loads it
// (test/backend/native.test.ts runs every graph this file can build against the tfjs reference ops).

/** ONNX TensorProto.DataType codes used here. */
export const ONNX_FLOAT = 1;
export const ONNX_INT32 = 6;
export const ONNX_INT64 = 7;

class Writer {
  readonly bytes: number[] = [];
  private varint(value: number): void {
    let n = BigInt(value);
    if (n < 0n) n += 1n << 64n; // negative int64: two's complement, 10 bytes
    while (n > 127n) {
      this.bytes.push(Number(n & 127n) | 128);
      n >>= 7n;
    }
    this.bytes.push(Number(n));
  }
  int(field: number, value: number): this {
    this.varint((field << 3) | 0);
    this.varint(value);
    return this;
  }
  float(field: number, value: number): this {
    this.varint((field << 3) | 5);
    const b = new Uint8Array(new Float32Array([value]).buffer);
    this.bytes.push(...b);
    return this;
  }
  raw(field: number, payload: ArrayLike<number>): this {
    this.varint((field << 3) | 2);
    this.varint(payload.length);
    for (let i = 0; i < payload.length; i++) this.bytes.push(payload[i]);
    return this;
  }
  string(field: number, value: string): this {
    return this.raw(field, new TextEncoder().encode(value));
  }
  message(field: number, inner: Writer): this {
    return this.raw(field, inner.bytes);
  }
}

export type AttributeValue = number | number[] | string | { float: number };

export interface OnnxNode {
  op: string;
  inputs: string[];
  outputs: string[];
  /** "" (the ONNX standard set) or "com.microsoft" (onnxruntime's contrib ops: FusedMatMul…). */
  domain?: string;
  attributes?: Record<string, AttributeValue>;
}

export interface OnnxGraph {
  nodes: OnnxNode[];
  /** Graph inputs and outputs by name with their element type; shapes stay unknown, so one session serves any shape. */
  inputs: Array<{ name: string; type?: number }>;
  outputs: Array<{ name: string; type?: number }>;
  /** Small constant int64 or float tensors (axes, shapes) baked into the model. */
  constants?: Array<{ name: string; type: number; dims: number[]; values: number[] }>;
}

// AttributeProto.AttributeType
const ATTR_FLOAT = 1;
const ATTR_INT = 2;
const ATTR_STRING = 3;
const ATTR_INTS = 7;

function attribute(name: string, value: AttributeValue): Writer {
  const a = new Writer().string(1, name);
  if (typeof value === "string") return a.raw(4, new TextEncoder().encode(value)).int(20, ATTR_STRING);
  if (Array.isArray(value)) {
    value.forEach((v) => a.int(8, v));
    return a.int(20, ATTR_INTS);
  }
  if (typeof value === "object") return a.float(2, value.float).int(20, ATTR_FLOAT);
  return a.int(3, value).int(20, ATTR_INT);
}

function valueInfo(name: string, type: number): Writer {
  const tensorType = new Writer().int(1, type);
  return new Writer().string(1, name).message(2, new Writer().message(1, tensorType));
}

/** The serialized ModelProto (IR version 8, opset 17 plus com.microsoft 1). */
export function encodeModel(graph: OnnxGraph): Uint8Array {
  const g = new Writer();
  for (const node of graph.nodes) {
    const n = new Writer();
    node.inputs.forEach((i) => n.string(1, i));
    node.outputs.forEach((o) => n.string(2, o));
    n.string(4, node.op);
    for (const [name, value] of Object.entries(node.attributes ?? {})) n.message(5, attribute(name, value));
    if (node.domain) n.string(7, node.domain);
    g.message(1, n);
  }
  g.string(2, "lmprobe");
  for (const c of graph.constants ?? []) {
    const t = new Writer();
    c.dims.forEach((d) => t.int(1, d));
    t.int(2, c.type);
    if (c.type === ONNX_FLOAT) c.values.forEach((v) => t.float(4, v));
    else c.values.forEach((v) => t.int(c.type === ONNX_INT64 ? 7 : 5, v));
    t.string(8, c.name);
    g.message(5, t);
  }
  graph.inputs.forEach((i) => g.message(11, valueInfo(i.name, i.type ?? ONNX_FLOAT)));
  graph.outputs.forEach((o) => g.message(12, valueInfo(o.name, o.type ?? ONNX_FLOAT)));
  const model = new Writer().int(1, 8).string(2, "lmprobe");
  model.message(8, new Writer().string(1, "").int(2, 17));
  model.message(8, new Writer().string(1, "com.microsoft").int(2, 1));
  model.message(7, g);
  return Uint8Array.from(model.bytes);
}

/** `graph`'s nodes and constants with its tensors renamed, for embedding it in a larger graph: `bind` maps its inputs and outputs, `prefix` the rest. */
export function embedded(graph: OnnxGraph, prefix: string, bind: Record<string, string>): Pick<OnnxGraph, "nodes" | "constants"> {
  const rename = (name: string) => bind[name] ?? `${prefix}${name}`;
  return {
    nodes: graph.nodes.map((node) => ({ ...node, inputs: node.inputs.map(rename), outputs: node.outputs.map(rename) })),
    constants: (graph.constants ?? []).map((c) => ({ ...c, name: rename(c.name) })),
  };
}
