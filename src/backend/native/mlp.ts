// A dense MLP on cpu-native as one onnxruntime call: x·W_gate (+ b), x·W_in (+ b), the activation (× the up branch
// when gated), ·W_out (+ b), and the residual stream's add when forward.ts passes it. The composed path makes four calls and three [positions, d_mlp] arrays in JavaScript
// (garbage for V8 to collect on every layer); here the hidden activations live inside onnxruntime's arena. The graph
// is the composed path's, op for op: the products are the same FusedMatMul nodes nativeMatMul runs, the bias the
// same Add after them (or, for the tanh GELU, FastGelu's own add of W_in's bias: the same float32 sum), the
// activation activationGraph's node. Used only when nothing observes hook_pre,
// hook_pre_linear or hook_post (model/components/mlp.ts asks).
import * as tf from "@tensorflow/tfjs-core";
import { MLP_KERNEL } from "../kernels/fused";
import { floats, type CpuBackendApi } from "./kernels";
import { embedded, type OnnxGraph, type OnnxNode } from "./onnx-graph";
import { activationGraph, activationTakesBias } from "./row-kernels";
import { runGraph, type Feeds } from "./runtime";

type Args = { inputs: Record<string, tf.TensorInfo>; backend: CpuBackendApi; attrs: Record<string, unknown> };

export function linear(x: string, W: string, bias: string | null, out: string): OnnxNode[] {
  const product = bias ? `${out}_product` : out;
  const nodes: OnnxNode[] = [{ op: "FusedMatMul", domain: "com.microsoft", inputs: [x, W], outputs: [product], attributes: { transA: 0, transB: 0, alpha: { float: 1 } } }];
  if (bias) nodes.push({ op: "Add", inputs: [product, bias], outputs: [out] });
  return nodes;
}

/**
 * Inputs: x, W_in, W_out, and W_gate (gated), b_gate / b_in / b_out where `biases` says, and the residual stream
 * (`residual`), added last as forward.ts's separate residual add would.
 */
export function mlpGraph(act: string, gated: boolean, biases: { gate: boolean; in: boolean; out: boolean }, residual: boolean): OnnxGraph {
  const nodes: OnnxNode[] = [];
  if (gated) nodes.push(...linear("x", "W_gate", biases.gate ? "b_gate" : null, "pre"));
  // Without a gate, the activation adds W_in's bias itself where it can (one pass over [rows, d_mlp] fewer).
  const biasInActivation = !gated && biases.in && activationTakesBias(act);
  nodes.push(...linear("x", "W_in", biases.in && !biasInActivation ? "b_in" : null, gated ? "pre_linear" : "pre"));
  const activation = embedded(activationGraph(act, gated, biasInActivation), "act_", gated ? { x: "pre", up: "pre_linear", y: "post" } : { x: "pre", b: "b_in", y: "post" });
  nodes.push(...activation.nodes, ...linear("post", "W_out", biases.out ? "b_out" : null, residual ? "out" : "y"));
  if (residual) nodes.push({ op: "Add", inputs: ["residual", "out"], outputs: ["y"] });
  const inputs = ["x", ...(gated ? ["W_gate"] : []), "W_in", "W_out", ...(gated && biases.gate ? ["b_gate"] : []), ...(biases.in ? ["b_in"] : []), ...(biases.out ? ["b_out"] : []), ...(residual ? ["residual"] : [])];
  return { nodes, inputs: inputs.map((name) => ({ name })), outputs: [{ name: "y" }], constants: activation.constants };
}

function mlp({ inputs, backend, attrs }: Args): tf.TensorInfo {
  const { x, W_out } = inputs;
  const act = attrs.act as string;
  const gated = inputs.W_gate != null;
  const biases = { gate: inputs.b_gate != null, in: inputs.b_in != null, out: inputs.b_out != null };
  const feeds: Feeds = {};
  for (const [name, t] of Object.entries(inputs)) feeds[name] = [floats(backend, t), t.shape];
  const residual = inputs.residual != null;
  const key = `mlp:${act}:${+gated}:${+biases.gate}${+biases.in}${+biases.out}:${+residual}`;
  const macs = x.shape[0] * inputs.W_in.shape[0] * inputs.W_in.shape[1] * (gated ? 3 : 2); // see runtime's nativeSingleThread
  const y = runGraph(key, () => mlpGraph(act, gated, biases, residual), feeds, macs / 16).y;
  return backend.makeTensorInfo([x.shape[0], W_out.shape[1]], "float32", y.data as Float32Array);
}

/** Registers the kernel for `backendName` (idempotent). */
export function registerNativeMlpKernel(backendName: string): void {
  if (tf.getKernel(MLP_KERNEL, backendName)) return;
  tf.registerKernel({ kernelName: MLP_KERNEL, backendName, kernelFunc: (args) => mlp(args as unknown as Args) });
}
