// Elementwise, softmax, transpose and reduction kernels of the native CPU backend. tfjs-backend-cpu runs these as
// single-threaded JavaScript loops with per-element index arithmetic for broadcasting; profiled on a GPT-2-small
// forward pass (bench/cpu-kernel-profile.mjs) they took ~90% of the time once the matmuls were native. onnxruntime's
// kernels for the same ops are vectorised and multi-threaded and broadcast by the same (numpy) rule as tfjs.
// Small tensors stay in JavaScript: below NATIVE_MIN_ELEMENTS one call's fixed cost outweighs the loop.
import * as tf from "@tensorflow/tfjs-core";
import type { OnnxGraph, OnnxNode } from "./onnx-graph";
import { ONNX_FLOAT, ONNX_INT32, ONNX_INT64 } from "./onnx-graph";
import { floats, type CpuBackendApi } from "./kernels";
import { runGraph } from "./runtime";

/** Output elements below which a kernel stays in JavaScript (measured: the crossover is near 4–16 K floats). */
export const nativeElementwise = { minElements: 8192 };

type KernelArgs = { inputs: Record<string, tf.TensorInfo>; backend: CpuBackendApi; attrs: Record<string, unknown> };
type KernelRun = (args: KernelArgs) => tf.TensorInfo | tf.TensorInfo[] | null;

const io = (names: string[]) => names.map((name) => ({ name }));
const single = (nodes: OnnxNode[], inputs: string[]): OnnxGraph => ({ nodes, inputs: io(inputs), outputs: io(["y"]) });

function big(shape: number[]): boolean {
  return tf.util.sizeFromShape(shape) >= nativeElementwise.minElements;
}

function run(backend: CpuBackendApi, key: string, build: () => OnnxGraph, inputs: Record<string, tf.TensorInfo>, outShape: number[]): tf.TensorInfo {
  const feeds: Parameters<typeof runGraph>[2] = {};
  for (const [name, t] of Object.entries(inputs)) feeds[name] = [floats(backend, t), t.shape];
  const y = runGraph(key, build, feeds).y;
  return backend.makeTensorInfo(outShape, "float32", y.data as Float32Array);
}

/** a ∘ b with numpy broadcasting, as one ONNX node (or a few, for squared difference). */
function binary(onnx: OnnxNode[]): KernelRun {
  const key = `binary:${onnx.map((n) => n.op).join("-")}`;
  return ({ inputs: { a, b }, backend }) => {
    if (a.dtype !== "float32" || b.dtype !== "float32") return null;
    let shape: number[];
    try {
      shape = tf.backend_util.assertAndGetBroadcastShape(a.shape, b.shape);
    } catch {
      return null;
    }
    if (!big(shape)) return null;
    return run(backend, key, () => single(onnx, ["a", "b"]), { a, b }, shape);
  };
}

function unary(onnx: OnnxNode[]): KernelRun {
  const key = `unary:${onnx.map((n) => n.op).join("-")}`;
  return ({ inputs: { x }, backend }) => {
    if (x.dtype !== "float32" || !big(x.shape)) return null;
    return run(backend, key, () => single(onnx, ["x"]), { x }, x.shape);
  };
}

const node = (op: string, inputs: string[], outputs: string[], attributes?: OnnxNode["attributes"]): OnnxNode => ({ op, inputs, outputs, attributes });

function softmax({ inputs: { logits }, backend, attrs }: KernelArgs): tf.TensorInfo | null {
  const dim = attrs.dim as number;
  if (logits.dtype !== "float32" || !big(logits.shape) || (dim !== -1 && dim !== logits.shape.length - 1)) return null;
  return run(backend, "softmax", () => single([node("Softmax", ["x"], ["y"], { axis: -1 })], ["x"]), { x: logits }, logits.shape);
}

function transpose({ inputs: { x }, backend, attrs }: KernelArgs): tf.TensorInfo | null {
  const perm = attrs.perm as number[];
  if (x.dtype !== "float32" || !big(x.shape)) return null;
  const shape = perm.map((p) => x.shape[p]);
  return run(backend, `transpose:${perm.join(",")}`, () => single([node("Transpose", ["x"], ["y"], { perm })], ["x"]), { x }, shape);
}

/** tfjs's Sum / Mean / Max: axes (a number or a list, negative allowed), keepDims. */
function reduction(kind: "ReduceSum" | "ReduceMean" | "ReduceMax"): KernelRun {
  return ({ inputs: { x }, backend, attrs }) => {
    if (x.dtype !== "float32" || !big(x.shape) || x.shape.length === 0) return null;
    const rank = x.shape.length;
    // Sum and Mean name their axes `axis`, Max `reductionIndices`.
    const raw = (attrs.axis ?? attrs.reductionIndices) as number | number[] | undefined;
    if (raw === undefined || raw === null) return null;
    const axes = [...new Set((Array.isArray(raw) ? raw : [raw]).map((a) => (a < 0 ? a + rank : a)))].sort();
    if (axes.length === 0 || axes.some((a) => a < 0 || a >= rank)) return null;
    const keepDims = attrs.keepDims === true;
    const shape = x.shape.flatMap((d, i) => (axes.includes(i) ? (keepDims ? [1] : []) : [d]));
    const key = `${kind}:${axes.join(",")}:${+keepDims}`;
    // Opset 17: ReduceSum takes its axes as an input, ReduceMean and ReduceMax as an attribute.
    const build = (): OnnxGraph =>
      kind === "ReduceSum"
        ? { ...single([node(kind, ["x", "axes"], ["y"], { keepdims: +keepDims })], ["x"]), constants: [{ name: "axes", type: ONNX_INT64, dims: [axes.length], values: axes }] }
        : single([node(kind, ["x"], ["y"], { axes, keepdims: +keepDims })], ["x"]);
    return run(backend, key, build, { x }, shape);
  };
}

/**
 * tfjs's Step: 1 where x > 0, alpha elsewhere, NaN kept (the lens counts target ranks as Σ step(x − target)).
 */
function step({ inputs: { x }, backend, attrs }: KernelArgs): tf.TensorInfo | null {
  if (x.dtype !== "float32" || !big(x.shape)) return null;
  const build = (): OnnxGraph => ({
    nodes: [
      node("Greater", ["x", "zero"], ["positive"]),
      node("Where", ["positive", "one", "alpha"], ["stepped"]),
      node("IsNaN", ["x"], ["nan"]),
      node("Where", ["nan", "x", "stepped"], ["y"]),
    ],
    inputs: io(["x", "alpha"]),
    outputs: io(["y"]),
    constants: [{ name: "zero", type: ONNX_FLOAT, dims: [], values: [0] }, { name: "one", type: ONNX_FLOAT, dims: [], values: [1] }],
  });
  const y = runGraph("step", build, { x: [floats(backend, x), x.shape], alpha: [new Float32Array([(attrs.alpha as number) ?? 0]), []] }).y;
  return backend.makeTensorInfo(x.shape, "float32", y.data as Float32Array);
}

/**
 * tfjs's TopK over the last axis, sorted: ONNX's TopK orders equal values by lower index first, as tfjs's kernel
 * does. Unsorted requests stay in JavaScript (their order is the kernel's own).
 */
function topK({ inputs: { x }, backend, attrs }: KernelArgs): tf.TensorInfo[] | null {
  const k = attrs.k as number;
  const last = x.shape[x.shape.length - 1];
  if (x.dtype !== "float32" || attrs.sorted === false || !big(x.shape) || !(k >= 1 && k <= last)) return null;
  const build = (): OnnxGraph => ({
    nodes: [node("TopK", ["x", "k"], ["values", "ids64"], { axis: -1, largest: 1, sorted: 1 }), node("Cast", ["ids64"], ["indices"], { to: ONNX_INT32 })],
    inputs: io(["x", "k"]).map((i) => (i.name === "k" ? { name: "k", type: ONNX_INT64 } : i)),
    outputs: [{ name: "values" }, { name: "indices", type: ONNX_INT32 }],
  });
  const out = runGraph("topk", build, { x: [floats(backend, x), x.shape], k: [new BigInt64Array([BigInt(k)]), [1]] });
  const shape = [...x.shape.slice(0, -1), k];
  return [backend.makeTensorInfo(shape, "float32", out.values.data as Float32Array), backend.makeTensorInfo(shape, "int32", out.indices.data as Int32Array)];
}

/**
 * tfjs's IsFinite as one JavaScript loop (any size): no onnxruntime call, since ONNX has no IsFinite (IsInf, IsNaN
 * and Not would be three passes); tfjs-backend-cpu's generic unary kernel calls a closure per element (1.2 ms for
 * the lens's [640, 256] finiteness check of a small model, against ~0.1 ms here).
 */
function finiteCheck({ inputs: { x }, backend }: KernelArgs): tf.TensorInfo | null {
  if (x.dtype !== "float32") return null;
  const values = floats(backend, x);
  const out = new Uint8Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = values[i] - values[i] === 0 ? 1 : 0; // NaN and ±Infinity give NaN
  return backend.makeTensorInfo(x.shape, "bool", out);
}

export const ELEMENTWISE_KERNELS: Record<string, KernelRun> = {
  IsFinite: finiteCheck,
  Add: binary([node("Add", ["a", "b"], ["y"])]),
  Sub: binary([node("Sub", ["a", "b"], ["y"])]),
  Multiply: binary([node("Mul", ["a", "b"], ["y"])]),
  RealDiv: binary([node("Div", ["a", "b"], ["y"])]),
  Maximum: binary([node("Max", ["a", "b"], ["y"])]),
  Minimum: binary([node("Min", ["a", "b"], ["y"])]),
  SquaredDifference: binary([node("Sub", ["a", "b"], ["d"]), node("Mul", ["d", "d"], ["y"])]),
  Exp: unary([node("Exp", ["x"], ["y"])]),
  Log: unary([node("Log", ["x"], ["y"])]),
  Sqrt: unary([node("Sqrt", ["x"], ["y"])]),
  Rsqrt: unary([node("Sqrt", ["x"], ["s"]), node("Reciprocal", ["s"], ["y"])]),
  Neg: unary([node("Neg", ["x"], ["y"])]),
  Abs: unary([node("Abs", ["x"], ["y"])]),
  Sigmoid: unary([node("Sigmoid", ["x"], ["y"])]),
  Tanh: unary([node("Tanh", ["x"], ["y"])]),
  Relu: unary([node("Relu", ["x"], ["y"])]),
  Erf: unary([node("Erf", ["x"], ["y"])]),
  Square: unary([node("Mul", ["x", "x"], ["y"])]),
  Softmax: softmax,
  Transpose: transpose,
  Sum: reduction("ReduceSum"),
  Mean: reduction("ReduceMean"),
  Max: reduction("ReduceMax"),
  Step: step,
  TopK: topK,
};
