// lmprobe's fused row kernels (backend/kernels/fused.ts's kernel names) for the native CPU backend: a norm, an
// activation (gated or not) and attention's scale → softcap → + mask → softmax, each one onnxruntime call instead
// of 3–9 tfjs kernels. The graphs are the formulas of model/components/norm.ts and activations.ts, op for op, so
// the numbers are those of the composed path, the tanh GELU's last bit aside (one FastGelu node: activationGraph;
// the parity tests compare both against the reference).
import * as tf from "@tensorflow/tfjs-core";
import { ACTIVATION_KERNEL, COUNT_ABOVE_KERNEL, NORM_KERNEL, SCORES_SOFTMAX_KERNEL } from "../kernels/fused";
import { LOGIT_STATS_KERNEL } from "../kernels/register";
import { floats, type CpuBackendApi } from "./kernels";
import { ONNX_FLOAT, type OnnxGraph, type OnnxNode } from "./onnx-graph";
import { runGraph, type Feeds } from "./runtime";

type Args = { inputs: Record<string, tf.TensorInfo>; backend: CpuBackendApi; attrs: Record<string, unknown> };

const n = (op: string, inputs: string[], outputs: string[], attributes?: OnnxNode["attributes"]): OnnxNode => ({ op, inputs, outputs, attributes });
const scalar = (name: string, value: number) => ({ name, type: ONNX_FLOAT, dims: [], values: [value] });
const io = (names: string[]) => names.map((name) => ({ name }));

function runRow(backend: CpuBackendApi, key: string, build: () => OnnxGraph, inputs: Record<string, tf.TensorInfo>, extra: Feeds, shape: number[]): tf.TensorInfo {
  const feeds: Feeds = { ...extra };
  for (const [name, t] of Object.entries(inputs)) feeds[name] = [floats(backend, t), t.shape];
  return backend.makeTensorInfo(shape, "float32", runGraph(key, build, feeds).y.data as Float32Array);
}

/** RMSNorm: x · 1/√(mean(x²) + eps); LayerNorm: (x − mean) · 1/√(mean((x − mean)²) + eps); then × (w + offset), + b. */
export function normGraph(kind: string, weight: boolean, bias: boolean): OnnxGraph {
  const nodes: OnnxNode[] = [];
  let centred = "x";
  if (kind === "layer") {
    nodes.push(n("ReduceMean", ["x"], ["mean"], { axes: [-1], keepdims: 1 }), n("Sub", ["x", "mean"], ["c"]));
    centred = "c";
  }
  nodes.push(
    n("Mul", [centred, centred], ["sq"]),
    n("ReduceMean", ["sq"], ["ms"], { axes: [-1], keepdims: 1 }),
    n("Add", ["ms", "eps"], ["mse"]),
    n("Sqrt", ["mse"], ["root"]),
    n("Reciprocal", ["root"], ["inv"]),
    n("Mul", [centred, "inv"], [weight || bias ? "normed" : "y"]),
  );
  let last = "normed";
  if (weight) {
    nodes.push(n("Add", ["w", "offset"], ["scale"]), n("Mul", [last, "scale"], [bias ? "scaled" : "y"]));
    last = "scaled";
  }
  if (bias) nodes.push(n("Add", [last, "b"], ["y"]));
  return { nodes, inputs: io(["x", "eps", "offset", ...(weight ? ["w"] : []), ...(bias ? ["b"] : [])]), outputs: io(["y"]) };
}

function norm({ inputs: { x, w, b }, backend, attrs }: Args): tf.TensorInfo {
  const kind = attrs.kind as string;
  const extra: Feeds = { eps: [new Float32Array([attrs.eps as number]), []], offset: [new Float32Array([attrs.offset as number]), []] };
  const tensors: Record<string, tf.TensorInfo> = { x };
  if (w) tensors.w = w;
  if (b) tensors.b = b;
  return runRow(backend, `norm:${kind}:${+!!w}${+!!b}`, () => normGraph(kind, !!w, !!b), tensors, extra, x.shape);
}

/**
 * An activation as activations.ts writes it (× up for a gated MLP), with `bias` (input "b") added to x first where
 * activationTakesBias(act). The tanh GELU is onnxruntime's FastGelu, ½x·(1 + tanh(√(2/π)·(x + 0.044715·x³))),
 * transformers' gelu_new / gelu_pytorch_tanh formula (activations.ts computes x·sigmoid(2u), the same function), in
 * one pass with the bias, where the formula node by node was eight passes over [rows, d_mlp], bound by memory
 * bandwidth: GPT-2's up-projection with its bias and GELU took 1.25× and 0.98× (one thread), 1.09× and 1.07× (two)
 * as long as with FastGelu in two runs (bench/cpu-activation-nodes.ts; bench/results/cpu/cpu-activation-nodes.jsonl):
 * a small gain, at this 2-core VM's noise. FastGelu's tanh is MLAS's, so its last bit may differ from the composed
 * path's (≤ 2.4e-7 on values up to 2.2). onnxruntime's QuickGelu for silu gave the same bits as Sigmoid and Mul and
 * 0.96–1.14× (same runs), so the sigmoid activations stay node by node.
 */
export function activationGraph(act: string, gated: boolean, bias = false): OnnxGraph {
  const out = gated ? "a" : "y";
  if (bias && !activationTakesBias(act)) throw new Error(`native activation "${act}" takes no bias input`);
  const nodes: OnnxNode[] = [];
  const constants = [];
  if (act === "relu") nodes.push(n("Relu", ["x"], [out]));
  else if (act === "silu") nodes.push(n("Sigmoid", ["x"], ["s"]), n("Mul", ["x", "s"], [out]));
  else if (act === "gelu_quick") {
    constants.push(scalar("c", 1.702));
    nodes.push(n("Mul", ["x", "c"], ["u"]), n("Sigmoid", ["u"], ["s"]), n("Mul", ["x", "s"], [out]));
  } else if (act === "gelu_tanh") nodes.push({ op: "FastGelu", domain: "com.microsoft", inputs: bias ? ["x", "b"] : ["x"], outputs: [out] });
  else throw new Error(`native activation "${act}" is not implemented (fusedActivation checks the name first)`);
  if (gated) nodes.push(n("Mul", ["a", "up"], ["y"]));
  return { nodes, inputs: io([...(bias ? ["x", "b"] : ["x"]), ...(gated ? ["up"] : [])]), outputs: io(["y"]), constants };
}

/** Whether activationGraph can add the preceding product's bias itself (FastGelu's optional bias input). */
export function activationTakesBias(act: string): boolean {
  return act === "gelu_tanh";
}

function activation({ inputs: { x, up }, backend, attrs }: Args): tf.TensorInfo {
  const act = attrs.act as string;
  return runRow(backend, `act:${act}:${+!!up}`, () => activationGraph(act, !!up), up ? { x, up } : { x }, {}, x.shape);
}

/** softmax(softcap(scores · scale) + mask) over keys; mask [batch, 1, queries, keys] broadcasts over heads. */
function scoresSoftmaxGraph(softcap: boolean): OnnxGraph {
  const nodes: OnnxNode[] = [n("Mul", ["scores", "scale"], [softcap ? "scaled" : "capped"])];
  if (softcap) nodes.push(n("Div", ["scaled", "cap"], ["a"]), n("Tanh", ["a"], ["t"]), n("Mul", ["t", "cap"], ["capped"]));
  nodes.push(n("Add", ["capped", "mask"], ["masked"]), n("Softmax", ["masked"], ["y"], { axis: -1 }));
  return { nodes, inputs: io(["scores", "mask", "scale", ...(softcap ? ["cap"] : [])]), outputs: io(["y"]) };
}

function scoresSoftmax({ inputs: { scores, mask }, backend, attrs }: Args): tf.TensorInfo {
  const softcap = (attrs.softcap as number) > 0;
  const extra: Feeds = { scale: [new Float32Array([attrs.scale as number]), []] };
  if (softcap) extra.cap = [new Float32Array([attrs.softcap as number]), []];
  return runRow(backend, `scores-softmax:${+softcap}`, () => scoresSoftmaxGraph(softcap), { scores, mask }, extra, scores.shape);
}

/** x [rows, n], thresholds [rows, t] → [rows, t] int32: Σ over the row of (x > threshold), NaN never counted. */
function countAbove({ inputs: { x, thresholds }, backend }: Args): tf.TensorInfo {
  const [rows, width] = x.shape;
  const t = thresholds.shape[1];
  // Counted in float32 (exact below 2^24 per row; onnxruntime's float ReduceSum is ~3× faster than its int32 one on
  // [166, 50257]) and returned as int32; a row wider than that counts in int32.
  const type = width < 2 ** 24 ? ONNX_FLOAT : 6;
  const build = (): OnnxGraph => ({
    nodes: [
      n("Unsqueeze", ["x", "one"], ["x3"]), // [rows, 1, n]
      n("Unsqueeze", ["thresholds", "two"], ["t3"]), // [rows, t, 1]
      n("Greater", ["x3", "t3"], ["above"]),
      n("Cast", ["above"], ["counted"], { to: type }),
      n("ReduceSum", ["counted", "two"], ["y"], { keepdims: 0 }),
    ],
    inputs: io(["x", "thresholds"]),
    outputs: [{ name: "y", type }],
    constants: [{ name: "one", type: 7, dims: [1], values: [1] }, { name: "two", type: 7, dims: [1], values: [2] }],
  });
  const values = floats(backend, x);
  const limits = floats(backend, thresholds);
  const out = new Int32Array(rows * t);
  // Blocks of rows bound the [rows, t, n] comparison onnxruntime materialises.
  const step = Math.max(1, Math.floor(nativeLogitStats.blockLogits / Math.max(1, width * t)));
  for (let start = 0; start < rows; start += step) {
    const m = Math.min(step, rows - start);
    const y = runGraph(`count-above:${type}`, build, { x: [values.subarray(start * width, (start + m) * width), [m, width]], thresholds: [limits.subarray(start * t, (start + m) * t), [m, t]] }).y;
    out.set(y.data as Float32Array | Int32Array, start * t);
  }
  return backend.makeTensorInfo([rows, t], "int32", out);
}

/** Registers the fused kernels for `backendName` (idempotent). */
export function registerNativeRowKernels(backendName: string): void {
  const kernels: Array<[string, (args: Args) => tf.TensorInfo]> = [[NORM_KERNEL, norm], [ACTIVATION_KERNEL, activation], [SCORES_SOFTMAX_KERNEL, scoresSoftmax], [LOGIT_STATS_KERNEL, logitStats], [COUNT_ABOVE_KERNEL, countAbove]];
  for (const [kernelName, run] of kernels) {
    if (tf.getKernel(kernelName, backendName)) continue;
    tf.registerKernel({ kernelName, backendName, kernelFunc: (args) => run(args as unknown as Args) });
  }
}

/**
 * Logits per onnxruntime call of the statistics kernel: bounds its temporaries (a few × this many floats). `fast`:
 * finite blocks take logitStatsFastGraph (LMPROBE_NATIVE_STATS=exact, or tests, turn it off).
 */
export const nativeLogitStats = { blockLogits: 2 ** 21, fast: process.env.LMPROBE_NATIVE_STATS !== "exact" };

/**
 * Per row of logits [rows, vocab]: [log Σ exp, entropy, top-k logits, top-k ids as floats], the layout of the
 * webgpu kernel (kernels/logit-stats.ts), with its conventions: relative to the row's maximum (logits of ±1e4 keep
 * full precision), NaN logits skipped, −Infinity adding nothing to the sums, a fully masked row having log Σ exp
 * −Infinity and entropy 0, ties in the top-k keeping the lower id (ONNX TopK's rule).
 */
function logitStatsGraph(): OnnxGraph {
  const nodes: OnnxNode[] = [
    n("IsNaN", ["x"], ["nan"]),
    n("Where", ["nan", "minusInf", "x"], ["xs"]),
    n("ReduceMax", ["xs"], ["m"], { axes: [-1], keepdims: 1 }),
    n("IsInf", ["m"], ["mInf"]),
    n("Where", ["mInf", "zero", "m"], ["ms"]),
    n("Sub", ["xs", "ms"], ["d"]),
    n("Exp", ["d"], ["e"]),
    n("ReduceSum", ["e", "axes"], ["S"], { keepdims: 1 }),
    n("IsInf", ["d"], ["dInf"]),
    n("Where", ["dInf", "zero", "d"], ["dz"]),
    n("Mul", ["e", "dz"], ["ed"]),
    n("ReduceSum", ["ed", "axes"], ["W"], { keepdims: 1 }),
    n("Log", ["S"], ["logS"]),
    n("Add", ["ms", "logS"], ["lse"]),
    n("Div", ["W", "S"], ["mean"]),
    n("Sub", ["logS", "mean"], ["h"]),
    n("Relu", ["h"], ["hr"]), // rounding can leave −1e-7 for a one-hot row
    n("Greater", ["S", "zero"], ["some"]),
    n("Where", ["some", "hr", "zero"], ["H"]),
  ];
  return statsGraph(nodes, "xs", [scalar("zero", 0), scalar("minusInf", -Infinity)]);
}

/**
 * A statistics graph from the nodes that compute "lse" and "H" ([rows, 1] each): the top-k of `ranked` (ids as
 * floats) and the [rows, 2 + 2k] output row layout, shared by both graphs.
 */
function statsGraph(nodes: OnnxNode[], ranked: string, constants: NonNullable<OnnxGraph["constants"]>, afterTopK: OnnxNode[] = []): OnnxGraph {
  return {
    nodes: [
      ...nodes,
      n("TopK", [ranked, "k"], ["topv", "topi"], { axis: -1, largest: 1, sorted: 1 }),
      ...afterTopK,
      n("Cast", ["topi"], ["topf"], { to: ONNX_FLOAT }),
      n("Concat", ["lse", "H", "topv", "topf"], ["y"], { axis: -1 }),
    ],
    inputs: [{ name: "x" }, { name: "k", type: 7 }],
    outputs: io(["y"]),
    constants: [...constants, { name: "axes", type: 7, dims: [1], values: [-1] }],
  };
}

/**
 * The same statistics for a block of finite logits in fewer passes over the block, each of which onnxruntime
 * splits across threads (for [166, 50257] logits on 2 cores, one thread → two: logitStatsGraph 35 → 27 ms, this
 * graph 19 → 11.5 ms; in the probe, bench/cpu-kernel-profile.mjs's LmprobeLogitStats):
 * log p = LogSoftmax(x), p = e^(log p), log Σ exp = max(x) − max(log p) (log p at the argmax is −log S), entropy
 * = −Σ p · log p. Both maxima are read at the top-k's first id instead of by two more passes over the block: the
 * first top value is max(x) itself, and log p is x − max − log S per element, non-decreasing in x, so its maximum is
 * its value at the argmax, the same bits (GPT-2's lens at T = 128: ReduceMax's two passes were 14 ms of an 800 ms
 * probe, bench/results/cpu/ort-profile-gpt2-1-vs-2-threads.jsonl). A NaN or infinite logit makes log Σ exp or the entropy non-finite
 * (LogSoftmax of +∞ is NaN; 0 · log 0 for a −∞ logit is NaN), and such a block is done again by logitStatsGraph,
 * whose conventions (NaN skipped, −∞ adding nothing, a fully masked row) this graph does not implement.
 */
export function logitStatsFastGraph(): OnnxGraph {
  const nodes: OnnxNode[] = [
    n("LogSoftmax", ["x"], ["logp"], { axis: -1 }),
    n("Exp", ["logp"], ["p"]),
    n("Mul", ["p", "logp"], ["plogp"]),
    n("ReduceSum", ["plogp", "axes"], ["pl"], { keepdims: 1 }),
    n("Neg", ["pl"], ["h"]),
    n("Relu", ["h"], ["H"]), // rounding can leave −1e-7 for a one-hot row
  ];
  const first = [
    n("Slice", ["topv", "first", "second", "axes"], ["m"]),
    n("Slice", ["topi", "first", "second", "axes"], ["argmax"]),
    n("GatherElements", ["logp", "argmax"], ["mlp"], { axis: -1 }),
    n("Sub", ["m", "mlp"], ["lse"]),
  ];
  return statsGraph(nodes, "x", [{ name: "first", type: 7, dims: [1], values: [0] }, { name: "second", type: 7, dims: [1], values: [1] }], first);
}

function logitStats({ inputs: { logits }, backend, attrs }: Args): tf.TensorInfo {
  const k = attrs.k as number;
  const [rows, vocab] = logits.shape;
  const values = floats(backend, logits);
  const width = 2 + 2 * k;
  const out = new Float32Array(rows * width);
  const step = Math.max(1, Math.floor(nativeLogitStats.blockLogits / Math.max(1, vocab)));
  const kFeed: Feeds[string] = [new BigInt64Array([BigInt(k)]), [1]];
  for (let start = 0; start < rows; start += step) {
    const m = Math.min(step, rows - start);
    const block = values.subarray(start * vocab, (start + m) * vocab);
    const feeds: Feeds = { x: [block, [m, vocab]], k: kFeed };
    const work = m * vocab; // see runtime's nativeSingleThread
    let y = nativeLogitStats.fast ? (runGraph("logit-stats-fast", logitStatsFastGraph, feeds, work).y.data as Float32Array) : null;
    if (y && !statsFinite(y, m, width)) y = null;
    y ??= runGraph("logit-stats", logitStatsGraph, feeds, work).y.data as Float32Array;
    out.set(y, start * width);
  }
  return backend.makeTensorInfo([rows, width], "float32", out);
}

/** Whether every row's log Σ exp and entropy (the first two columns) are finite. */
export function statsFinite(y: Float32Array, rows: number, width: number): boolean {
  for (let r = 0; r < rows; r++) {
    if (!Number.isFinite(y[r * width]) || !Number.isFinite(y[r * width + 1])) return false;
  }
  return true;
}
