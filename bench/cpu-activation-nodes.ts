// The MLP's activation on cpu-native as one onnxruntime node (backend/native/row-kernels.ts activationGraph) against
// the chain of elementwise nodes it replaced (the formulas of model/components/activations.ts, node for node), in
// one process, alternated: GPT-2's up-projection + bias + tanh GELU ([rows, 768] · [768, 3072]; the chain is
// Add, six Mul/Add nodes and a Sigmoid, the node is FastGelu with the bias), with the product alone as the floor;
// and, as the record of why silu stays node by node, Qwen2.5-1.5B's silu(gate) · up on [rows, 8960] (Sigmoid, Mul,
// Mul against onnxruntime's QuickGelu, Mul). Prints one JSON
// line per case: medians (ms) per round and the largest difference between the two formulations.
//   node --require ./bench/native-deps.cjs --import tsx bench/cpu-activation-nodes.ts [--rows 128] [--rounds 3] [--reps 200]
// LMPROBE_THREADS sets the threads (run once per thread count: the sessions are per process).
import { activationGraph } from "../src/backend/native/row-kernels";
import { ONNX_FLOAT, type OnnxGraph, type OnnxNode } from "../src/backend/native/onnx-graph";
import { nativeStatus, runGraph, type Feeds } from "../src/backend/native/runtime";
import { median, option } from "./cli.mjs";

const status = nativeStatus();
if (!status.available) throw new Error(`cpu-native is not available: ${status.reason}`);
const rows = Number(option("rows", "128"));
const rounds = Number(option("rounds", "3"));
const reps = Number(option("reps", "200"));

const n = (op: string, inputs: string[], outputs: string[]): OnnxNode => ({ op, inputs, outputs });
const scalar = (name: string, value: number) => ({ name, type: ONNX_FLOAT, dims: [], values: [value] });
const product = (out: string): OnnxNode => ({ op: "FusedMatMul", domain: "com.microsoft", inputs: ["x", "W"], outputs: [out], attributes: { transA: 0, transB: 0, alpha: { float: 1 } } });

// The replaced chains: x · sigmoid(2u), u = (x + 0.044715·x³)·√(2/π), and x · sigmoid(x) · up.
const geluChain = (): OnnxGraph => ({
  nodes: [
    product("p"), n("Add", ["p", "b"], ["x1"]),
    n("Mul", ["x1", "x1"], ["x2"]), n("Mul", ["x2", "x1"], ["x3"]), n("Mul", ["x3", "c1"], ["t"]), n("Add", ["x1", "t"], ["inner"]),
    n("Mul", ["inner", "c2"], ["u"]), n("Mul", ["u", "two"], ["u2"]), n("Sigmoid", ["u2"], ["s"]), n("Mul", ["x1", "s"], ["y"]),
  ],
  inputs: [{ name: "x" }, { name: "W" }, { name: "b" }],
  outputs: [{ name: "y" }],
  constants: [scalar("c1", 0.044715), scalar("c2", Math.sqrt(2 / Math.PI)), scalar("two", 2)],
});
const geluNode = (): OnnxGraph => {
  const act = activationGraph("gelu_tanh", false, true);
  return { nodes: [product("p"), ...act.nodes.map((node) => ({ ...node, inputs: node.inputs.map((i) => (i === "x" ? "p" : i)) }))], inputs: [{ name: "x" }, { name: "W" }, { name: "b" }], outputs: [{ name: "y" }] };
};
const productOnly = (): OnnxGraph => ({ nodes: [product("y")], inputs: [{ name: "x" }, { name: "W" }], outputs: [{ name: "y" }] });
const siluChain = (): OnnxGraph => ({ nodes: [n("Sigmoid", ["x"], ["s"]), n("Mul", ["x", "s"], ["a"]), n("Mul", ["a", "up"], ["y"])], inputs: [{ name: "x" }, { name: "up" }], outputs: [{ name: "y" }] });
const siluNode = (): OnnxGraph => ({
  nodes: [{ op: "QuickGelu", domain: "com.microsoft", inputs: ["x"], outputs: ["a"], attributes: { alpha: { float: 1 } } }, n("Mul", ["a", "up"], ["y"])],
  inputs: [{ name: "x" }, { name: "up" }],
  outputs: [{ name: "y" }],
});

let seed = 12345;
const random = (count: number, scale: number) => Float32Array.from({ length: count }, () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32 * 2 - 1) * scale);

function time(key: string, build: () => OnnxGraph, feeds: Feeds): number {
  for (let i = 0; i < 20; i++) runGraph(key, build, feeds);
  const times: number[] = [];
  for (let i = 0; i < reps; i++) {
    const start = performance.now();
    runGraph(key, build, feeds);
    times.push(performance.now() - start);
  }
  return +median(times).toFixed(4);
}

function largestDifference(a: Float32Array, b: Float32Array): { max_abs_diff: number; max_abs: number; identical: number } {
  let diff = 0;
  let mag = 0;
  let same = 0;
  for (let i = 0; i < a.length; i++) {
    diff = Math.max(diff, Math.abs(a[i] - b[i]));
    mag = Math.max(mag, Math.abs(a[i]));
    same += +(a[i] === b[i]);
  }
  return { max_abs_diff: diff, max_abs: mag, identical: same / a.length };
}

const gpt2: Feeds = { x: [random(rows * 768, 1), [rows, 768]], W: [random(768 * 3072, 0.05), [768, 3072]], b: [random(3072, 0.1), [3072]] };
const qwen: Feeds = { x: [random(rows * 8960, 4), [rows, 8960]], up: [random(rows * 8960, 1), [rows, 8960]] };
const cases = [
  { name: "gpt2 up-projection + bias + gelu_tanh", feeds: gpt2, chain: geluChain, node: geluNode, floor: productOnly, floorFeeds: { x: gpt2.x, W: gpt2.W } as Feeds },
  { name: "qwen2.5-1.5b silu(gate) · up", feeds: qwen, chain: siluChain, node: siluNode, floor: null, floorFeeds: null },
];
for (const c of cases) {
  const line: Record<string, unknown> = { bench: "cpu-activation-nodes", case: c.name, rows, threads: status.threads, reps };
  Object.assign(line, largestDifference(runGraph(`${c.name}:chain`, c.chain, c.feeds).y.data as Float32Array, runGraph(`${c.name}:node`, c.node, c.feeds).y.data as Float32Array));
  const chain: number[] = [];
  const node: number[] = [];
  const floor: number[] = [];
  for (let r = 0; r < rounds; r++) {
    chain.push(time(`${c.name}:chain`, c.chain, c.feeds));
    node.push(time(`${c.name}:node`, c.node, c.feeds));
    if (c.floor && c.floorFeeds) floor.push(time(`${c.name}:floor`, c.floor, c.floorFeeds));
  }
  Object.assign(line, { chain_ms: chain, node_ms: node, ...(floor.length ? { product_only_ms: floor } : {}), chain_over_node: +(median(chain) / median(node)).toFixed(3) });
  console.log(JSON.stringify(line));
}
