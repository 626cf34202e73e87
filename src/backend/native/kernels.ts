// tfjs kernels of the native CPU backend that run on onnxruntime's CPU provider instead of tfjs-backend-cpu's
// JavaScript loops. Each reads its inputs' Float32Arrays where the cpu backend keeps them, runs a small cached ONNX
// graph synchronously and hands the output array to the backend as the result's storage (no copies either way).
// Anything a kernel does not take (other dtypes, attributes) goes to tfjs-backend-cpu's own kernel, unchanged.
import * as tf from "@tensorflow/tfjs-core";
import type { OnnxGraph, OnnxNode } from "./onnx-graph";
import { nativeSingleThread, runGraph } from "./runtime";
import { ELEMENTWISE_KERNELS } from "./elementwise";
import { fastConcat, fastGather, fastPack, fastSlice, fastSplitV } from "./copies";
import { LINEAR_RESIDUAL_KERNEL, LINEARS_KERNEL } from "../kernels/fused";

/** The slice of tfjs-backend-cpu's MathBackendCPU the kernels use. */
export interface CpuBackendApi {
  data: { get(dataId: tf.DataId): { values?: ArrayLike<number> | Uint8Array[] } };
  makeTensorInfo(shape: number[], dtype: tf.DataType, values?: ArrayLike<number>): tf.TensorInfo;
}

type KernelArgs = { inputs: Record<string, tf.TensorInfo>; backend: CpuBackendApi; attrs: Record<string, unknown> };
type KernelRun = (args: KernelArgs) => tf.TensorInfo | tf.TensorInfo[] | null;

/** The values of a float32 tensor as a Float32Array (the cpu backend may hold a plain array for tiny tensors). */
export function floats(backend: CpuBackendApi, t: tf.TensorInfo): Float32Array {
  const values = backend.data.get(t.dataId).values as ArrayLike<number>;
  return values instanceof Float32Array ? values : Float32Array.from(values);
}

const isF32 = (...ts: Array<tf.TensorInfo | undefined>) => ts.every((t) => !t || t.dtype === "float32");

/** Output shape of tfjs's BatchMatMul: broadcast batch dimensions, then [m, n]. */
function matMulShape(a: number[], b: number[], transposeA: boolean, transposeB: boolean): number[] | null {
  if (a.length < 2 || b.length < 2) return null;
  const m = transposeA ? a[a.length - 1] : a[a.length - 2];
  const ka = transposeA ? a[a.length - 2] : a[a.length - 1];
  const kb = transposeB ? b[b.length - 1] : b[b.length - 2];
  const n = transposeB ? b[b.length - 2] : b[b.length - 1];
  if (ka !== kb) return null;
  // tfjs-backend-cpu pairs batch i of the output with batch i mod batchA of a and i mod batchB of b (flattened
  // batches), which is numpy's broadcasting only when the batches are equal or one of them is 1: other pairs stay
  // with tfjs's kernel, so results never depend on which backend runs them.
  const batchA = tf.util.sizeFromShape(a.slice(0, -2));
  const batchB = tf.util.sizeFromShape(b.slice(0, -2));
  if (batchA !== batchB && batchA !== 1 && batchB !== 1) return null;
  try {
    const batch = tf.backend_util.assertAndGetBroadcastShape(a.slice(0, -2), b.slice(0, -2));
    return [...batch, m, n];
  } catch {
    return null;
  }
}

const ACTIVATIONS: Record<string, OnnxNode["op"] | null> = { linear: null, relu: "Relu", sigmoid: "Sigmoid" };

function matMulGraph(transA: boolean, transB: boolean, bias: boolean, activation: string): OnnxGraph {
  const nodes: OnnxNode[] = [];
  const product = bias || ACTIVATIONS[activation] ? "p" : "y";
  // FusedMatMul (onnxruntime contrib) takes the transposes as attributes and passes them to MLAS's GEMM, which reads
  // the transposed operand in place; ONNX's MatMul would need an explicit Transpose (a copy) first.
  nodes.push({ op: "FusedMatMul", domain: "com.microsoft", inputs: ["a", "b"], outputs: [product], attributes: { transA: +transA, transB: +transB, alpha: { float: 1 } } });
  let last = product;
  if (bias) {
    const out = ACTIVATIONS[activation] ? "q" : "y";
    nodes.push({ op: "Add", inputs: [last, "bias"], outputs: [out] });
    last = out;
  }
  const act = ACTIVATIONS[activation];
  if (act) nodes.push({ op: act, inputs: [last], outputs: ["y"] });
  return { nodes, inputs: [{ name: "a" }, { name: "b" }, ...(bias ? [{ name: "bias" }] : [])], outputs: [{ name: "y" }] };
}

function nativeMatMul({ inputs, backend, attrs }: KernelArgs): tf.TensorInfo | null {
  const { a, b, bias, preluActivationWeights } = inputs;
  const transposeA = attrs.transposeA === true;
  const transposeB = attrs.transposeB === true;
  const activation = (attrs.activation as string | undefined) ?? "linear";
  if (preluActivationWeights || !(activation in ACTIVATIONS) || !isF32(a, b, bias)) return null;
  const shape = matMulShape(a.shape, b.shape, transposeA, transposeB);
  if (!shape) return null;
  if (tf.util.sizeFromShape(shape) === 0 || a.shape[a.shape.length - 1] === 0 || b.shape[b.shape.length - 1] === 0) return null;
  const key = `matmul:${+transposeA}${+transposeB}:${bias ? "bias" : ""}:${activation}`;
  // Both operands as [batch, rows, cols]: a batch of 1 broadcasts in onnxruntime as in tfjs.
  const as3 = (t: tf.TensorInfo) => [tf.util.sizeFromShape(t.shape.slice(0, -2)), ...t.shape.slice(-2)];
  const feeds: Parameters<typeof runGraph>[2] = { a: [floats(backend, a), as3(a)], b: [floats(backend, b), as3(b)] };
  if (bias) feeds.bias = [floats(backend, bias), bias.shape];
  // Work in elementwise-equivalent units: MLAS does ~16 multiply-adds in the time of one element of an Add.
  const macs = tf.util.sizeFromShape(shape) * (transposeA ? a.shape[a.shape.length - 2] : a.shape[a.shape.length - 1]);
  const out = runGraph(key, () => matMulGraph(transposeA, transposeB, bias != null, activation), feeds, macs / 16).y;
  return backend.makeTensorInfo(shape, "float32", out.data as Float32Array);
}

/**
 * residual + (x [M, K] · W [K, N] + b): the product and bias as nativeMatMul's graph computes them, then the residual
 * add, in one call (fusedLinearResidual in kernels/fused.ts; forward.ts then skips the block's separate adds).
 */
function linearResidual({ inputs: { x, W, b, residual }, backend }: KernelArgs): tf.TensorInfo {
  const graph = matMulGraph(false, false, b != null, "linear");
  // matMulGraph's output "y" becomes the sum's input: (x·W + b) + residual, the composed path's rounding.
  const nodes = graph.nodes.map((node) => ({ ...node, outputs: node.outputs.map((o) => (o === "y" ? "linear" : o)) }));
  nodes.push({ op: "Add", inputs: ["residual", "linear"], outputs: ["y"] });
  const feeds: Parameters<typeof runGraph>[2] = { a: [floats(backend, x), x.shape], b: [floats(backend, W), W.shape], residual: [floats(backend, residual), residual.shape] };
  if (b) feeds.bias = [floats(backend, b), b.shape];
  const [M, K] = x.shape;
  const N = W.shape[1];
  const y = runGraph(`linear-residual:${b ? "bias" : ""}`, () => ({ ...graph, nodes, inputs: [...graph.inputs, { name: "residual" }] }), feeds, (M * K * N) / 16).y;
  return backend.makeTensorInfo([M, N], "float32", y.data as Float32Array);
}

/** Registers the native LINEAR_RESIDUAL_KERNEL for `backendName` (idempotent). */
export function registerNativeLinearResidualKernel(backendName: string): void {
  if (tf.getKernel(LINEAR_RESIDUAL_KERNEL, backendName)) return;
  tf.registerKernel({ kernelName: LINEAR_RESIDUAL_KERNEL, backendName, kernelFunc: (args) => linearResidual(args as unknown as KernelArgs) });
}

/**
 * x [M, K] · W_i [K, N_i] (+ b_i) for every weight, in one call: each output is nativeMatMul's graph for its weight
 * (the same FusedMatMul and Add nodes), so the values are those of the separate calls. A call's products run on one
 * thread or on all by the work of each (runtime's nativeSingleThread); where the products fall on different sides
 * of that line, null (the caller runs them apart), so that no product's threading, and with it its last bits, changes.
 */
function linears({ inputs, backend, attrs }: KernelArgs): tf.TensorInfo[] | null {
  const count = attrs.count as number;
  const x = inputs.x;
  const [M, K] = x.shape;
  const Ws = Array.from({ length: count }, (_, i) => inputs[`W${i}`]);
  const work = Ws.map((W) => (M * K * W.shape[1]) / 16);
  if (new Set(work.map((w) => w < nativeSingleThread.belowWork)).size > 1) return null;
  const nodes: OnnxNode[] = [];
  const feeds: Parameters<typeof runGraph>[2] = { a: [floats(backend, x), [1, M, K]] };
  const graphInputs = [{ name: "a" }];
  let key = "linears:";
  Ws.forEach((W, i) => {
    const b = inputs[`b${i}`];
    const graph = matMulGraph(false, false, b != null, "linear");
    const rename = (name: string) => (name === "a" ? "a" : `${name}${i}`);
    for (const node of graph.nodes) nodes.push({ ...node, inputs: node.inputs.map(rename), outputs: node.outputs.map(rename) });
    feeds[`b${i}`] = [floats(backend, W), [1, K, W.shape[1]]];
    graphInputs.push({ name: `b${i}` });
    if (b) {
      feeds[`bias${i}`] = [floats(backend, b), b.shape];
      graphInputs.push({ name: `bias${i}` });
    }
    key += b ? "b" : "-";
  });
  const outputs = Ws.map((_, i) => ({ name: `y${i}` }));
  const out = runGraph(key, () => ({ nodes, inputs: graphInputs, outputs }), feeds, Math.max(...work));
  return Ws.map((W, i) => backend.makeTensorInfo([M, W.shape[1]], "float32", out[`y${i}`].data as Float32Array));
}

/** Registers the native LINEARS_KERNEL for `backendName` (idempotent). */
export function registerNativeLinearsKernel(backendName: string): void {
  if (tf.getKernel(LINEARS_KERNEL, backendName)) return;
  tf.registerKernel({ kernelName: LINEARS_KERNEL, backendName, kernelFunc: (args) => linears(args as unknown as KernelArgs) ?? [] });
}

/** kernel name → the native implementation (null: use the cpu kernel). */
export const NATIVE_KERNELS: Record<string, KernelRun> = {
  Slice: fastSlice,
  SplitV: fastSplitV,
  GatherV2: fastGather,
  Concat: fastConcat,
  Pack: fastPack,
  BatchMatMul: nativeMatMul,
  _FusedMatMul: nativeMatMul,
  ...ELEMENTWISE_KERNELS,
};
