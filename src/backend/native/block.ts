// A whole transformer block on cpu-native as one onnxruntime call: ln1 → q, k, v → rotary → attention → W_O +
// residual → ln2 → MLP + residual. Taken when nothing observes anything inside the block but its input and output
// (hook_resid_pre, hook_resid_post: what a probe of the residual stream caches), see model/whole-block.ts. On a
// small model the block's ~20 kernels each cost more in tfjs bookkeeping, JavaScript (rotary) and fresh output
// arrays than in arithmetic; here the intermediates stay in onnxruntime's arena and JavaScript sees one call.
//
// The graph is the per-kernel graphs of this directory joined, op for op: normGraph (row-kernels.ts), the same
// FusedMatMul + Add products as nativeMatMul, attentionGraph (attention.ts), mlpGraph (mlp.ts); rotary is the
// JavaScript rotaryHalf's arithmetic as ONNX nodes (each product rounded to float32, then the sum). So the values
// are those of the composed native path, up to the threading of the smallest products (runtime's
// nativeSingleThread: the block is one call, so all its products run on the session's threads).
import * as tf from "@tensorflow/tfjs-core";
import { BLOCK_KERNEL } from "../kernels/fused";
import { attentionGraph } from "./attention";
import { floats, type CpuBackendApi } from "./kernels";
import { linear, mlpGraph } from "./mlp";
import { embedded, ONNX_INT64, type OnnxGraph, type OnnxNode } from "./onnx-graph";
import { normGraph } from "./row-kernels";
import { runGraph, type Feeds } from "./runtime";

type Args = { inputs: Record<string, tf.TensorInfo>; backend: CpuBackendApi; attrs: Record<string, unknown> };

/** What varies between block graphs (one onnxruntime session per combination). */
export interface BlockGraphKind {
  ln1: { kind: string; weight: boolean; bias: boolean };
  ln2: { kind: string; weight: boolean; bias: boolean };
  /** Biases of q, k, v and W_O. */
  attnBiases: { q: boolean; k: boolean; v: boolean; o: boolean };
  softcap: boolean;
  /** Attention's score scale (the q·kᵀ product's alpha, see attentionGraph). */
  scale: number;
  /** Rotary: the rotated features per head (even), and whether features past them pass through; null: none. */
  rotary: { passThrough: boolean } | null;
  act: string;
  gated: boolean;
  mlpBiases: { gate: boolean; in: boolean; out: boolean };
}

const n = (op: string, inputs: string[], outputs: string[], attributes?: OnnxNode["attributes"]): OnnxNode => ({ op, inputs, outputs, attributes });

/** The norm's graph with its tensors named `${prefix}…`, reading `x` and writing `y`. */
function normNodes(spec: BlockGraphKind["ln1"], prefix: string, x: string, y: string) {
  return embedded(normGraph(spec.kind, spec.weight, spec.bias), `${prefix}_`, { x, y, eps: `${prefix}_eps`, offset: `${prefix}_offset`, w: `${prefix}_w`, b: `${prefix}_b` });
}

/**
 * "half" rotary of x [b, pos, heads, dHead] over features [0, rot) as y = x·cos + swap(x)·sin, swap exchanging the
 * halves of the rotated features: y_lo = lo·cos_lo + hi·sin_lo, y_hi = hi·cos_hi + lo·sin_hi (sin carries
 * rotate_half's sign, rotary.ts), each product rounded, then the sum, as the separate kernels do; features past rot
 * are copied. Two products and one sum over the whole width rather than four and two over halves: fewer, larger
 * nodes with the same values (with the scale folded into q·kᵀ, attentionGraph: the demo's forward 1.04× faster,
 * `bench/ab.mjs --cases demo:128 --warmup 60`, faster in 6 rounds of 8). The slice bounds (half, rot, dHead as int64
 * feeds) are shared by q and k.
 */
function rotaryNodes(x: string, y: string, passThrough: boolean): OnnxNode[] {
  const slice = (from: string, start: string, end: string, out: string) => n("Slice", [from, start, end, "axis3"], [out]);
  const rotated = passThrough ? `${x}_r` : x;
  return [
    ...(passThrough ? [slice(x, "zero", "rot", rotated)] : []),
    slice(rotated, "zero", "half", `${x}_lo`),
    slice(rotated, "half", "rot", `${x}_hi`),
    n("Concat", [`${x}_hi`, `${x}_lo`], [`${x}_swapped`], { axis: 3 }),
    n("Mul", [rotated, "cos"], [`${x}_c`]),
    n("Mul", [`${x}_swapped`, "sin"], [`${x}_s`]),
    n("Add", [`${x}_c`, `${x}_s`], [passThrough ? `${x}_y` : y]),
    ...(passThrough ? [slice(x, "rot", "dHead", `${x}_rest`), n("Concat", [`${x}_y`, `${x}_rest`], [y], { axis: 3 })] : []),
  ];
}

/**
 * Inputs: x [rows, d] (the block's input, rows = batch · pos), the norms' weights and eps / offset scalars, the
 * projections, mask [b, 1, pos, pos], cos / sin [b, pos, 1, rot] with rotary, and int64 shape feeds (qShape,
 * kShape, vShape, zShape, byKV, byHead; half, rot, dHead, zero, axis3 for rotary). Output y [rows, d]: the
 * block's output (hook_resid_post's value).
 */
export function blockGraph(kind: BlockGraphKind): OnnxGraph {
  const nodes: OnnxNode[] = [];
  const constants: NonNullable<OnnxGraph["constants"]> = [];
  const take = (part: Pick<OnnxGraph, "nodes" | "constants">) => {
    nodes.push(...part.nodes);
    constants.push(...(part.constants ?? []));
  };
  take(normNodes(kind.ln1, "ln1", "x", "attnIn"));
  const b = kind.attnBiases;
  nodes.push(...linear("attnIn", "W_Q", b.q ? "b_Q" : null, "qFlat"), ...linear("attnIn", "W_K", b.k ? "b_K" : null, "kFlat"), ...linear("attnIn", "W_V", b.v ? "b_V" : null, "vFlat"));
  nodes.push(n("Reshape", ["qFlat", "qShape"], ["q"]), n("Reshape", ["kFlat", "kShape"], ["k"]), n("Reshape", ["vFlat", "vShape"], ["v"]));
  if (kind.rotary) {
    nodes.push(...rotaryNodes("q", "qRot", kind.rotary.passThrough), ...rotaryNodes("k", "kRot", kind.rotary.passThrough));
  }
  const [q, k] = kind.rotary ? ["qRot", "kRot"] : ["q", "k"];
  take(embedded(attentionGraph(kind.softcap, true, kind.scale), "attn_", { q, k, v: "v", mask: "mask", cap: "cap", byKV: "byKV", byHead: "byHead", z: "z" }));
  nodes.push(n("Reshape", ["z", "zShape"], ["zFlat"]), ...linear("zFlat", "W_O", b.o ? "b_O" : null, "attnOut"), n("Add", ["x", "attnOut"], ["mid"]));
  take(normNodes(kind.ln2, "ln2", "mid", "mlpIn"));
  const mlp = mlpGraph(kind.act, kind.gated, kind.mlpBiases, true);
  take(embedded(mlp, "mlp_", Object.fromEntries([...mlp.inputs.map((i) => [i.name, i.name]), ["x", "mlpIn"], ["residual", "mid"], ["y", "y"]])));

  const int64 = ["qShape", "kShape", "vShape", "zShape", "byKV", "byHead", ...(kind.rotary ? ["zero", "half", "rot", "axis3", ...(kind.rotary.passThrough ? ["dHead"] : [])] : [])];
  const floatInputs = [
    "x", "ln1_eps", "ln1_offset", ...(kind.ln1.weight ? ["ln1_w"] : []), ...(kind.ln1.bias ? ["ln1_b"] : []),
    "W_Q", "W_K", "W_V", "W_O", ...(b.q ? ["b_Q"] : []), ...(b.k ? ["b_K"] : []), ...(b.v ? ["b_V"] : []), ...(b.o ? ["b_O"] : []),
    "mask", ...(kind.softcap ? ["cap"] : []), ...(kind.rotary ? ["cos", "sin"] : []),
    "ln2_eps", "ln2_offset", ...(kind.ln2.weight ? ["ln2_w"] : []), ...(kind.ln2.bias ? ["ln2_b"] : []),
    ...mlp.inputs.map((i) => i.name).filter((name) => name !== "x" && name !== "residual"),
  ];
  return { nodes, constants, inputs: [...floatInputs.map((name) => ({ name })), ...int64.map((name) => ({ name, type: ONNX_INT64 }))], outputs: [{ name: "y" }] };
}

/** A key naming the graph kind, for the session cache. */
function keyOf(kind: BlockGraphKind): string {
  const bits = (o: Record<string, boolean>) => Object.values(o).map((v) => +v).join("");
  const norm = (s: BlockGraphKind["ln1"]) => `${s.kind}${+s.weight}${+s.bias}`;
  return `block:${norm(kind.ln1)}:${norm(kind.ln2)}:${bits(kind.attnBiases)}:${+kind.softcap}:${kind.scale}:${kind.rotary ? (kind.rotary.passThrough ? "rp" : "r") : "-"}:${kind.act}:${+kind.gated}:${bits(kind.mlpBiases)}`;
}

const int64 = (...values: number[]): Feeds[string] => [BigInt64Array.from(values.map(BigInt)), [values.length]];
const scalar = (value: number): Feeds[string] => [new Float32Array([value]), []];

function block({ inputs, backend, attrs }: Args): tf.TensorInfo {
  const { x, mask, cos } = inputs;
  const [batch, pos, d] = x.shape;
  const heads = attrs.heads as number;
  const kvHeads = attrs.kvHeads as number;
  const dHead = attrs.dHead as number;
  const rot = attrs.rot as number;
  const has = (name: string) => inputs[name] != null;
  const kind: BlockGraphKind = {
    ln1: { kind: attrs.ln1Kind as string, weight: has("ln1_w"), bias: has("ln1_b") },
    ln2: { kind: attrs.ln2Kind as string, weight: has("ln2_w"), bias: has("ln2_b") },
    attnBiases: { q: has("b_Q"), k: has("b_K"), v: has("b_V"), o: has("b_O") },
    softcap: (attrs.softcap as number) > 0,
    scale: attrs.scale as number,
    rotary: cos ? { passThrough: rot < dHead } : null,
    act: attrs.act as string,
    gated: has("W_gate"),
    mlpBiases: { gate: has("b_gate"), in: has("b_in"), out: has("b_out") },
  };
  const rows = batch * pos;
  const feeds: Feeds = {
    ln1_eps: scalar(attrs.ln1Eps as number),
    ln1_offset: scalar(attrs.ln1Offset as number),
    ln2_eps: scalar(attrs.ln2Eps as number),
    ln2_offset: scalar(attrs.ln2Offset as number),
    qShape: int64(batch, pos, heads, dHead),
    kShape: int64(batch, pos, kvHeads, dHead),
    vShape: int64(batch, pos, kvHeads, inputs.W_V.shape[1] / kvHeads),
    zShape: int64(rows, -1),
    byKV: int64(0, kvHeads, -1, 0),
    byHead: int64(0, heads, -1, 0),
  };
  if (kind.softcap) feeds.cap = scalar(attrs.softcap as number);
  if (kind.rotary) Object.assign(feeds, { zero: int64(0), half: int64(rot / 2), rot: int64(rot), axis3: int64(3), ...(kind.rotary.passThrough ? { dHead: int64(dHead) } : {}) });
  for (const [name, t] of Object.entries(inputs)) feeds[name] = [floats(backend, t), name === "x" ? [rows, d] : t.shape];
  // Work: every product's multiply-adds (runtime's nativeSingleThread), in the units of the per-kernel calls.
  const hidden = inputs.W_in.shape[1];
  const macs = rows * d * (inputs.W_Q.shape[1] + inputs.W_K.shape[1] + inputs.W_V.shape[1] + inputs.W_O.shape[0] + hidden * (kind.gated ? 3 : 2)) + batch * heads * pos * pos * 2 * dHead;
  const y = runGraph(keyOf(kind), () => blockGraph(kind), feeds, macs / 16, { spinMicroseconds: 50 }).y;
  return backend.makeTensorInfo([batch, pos, d], "float32", y.data as Float32Array);
}

/** Registers the kernel for `backendName` (idempotent). */
export function registerNativeBlockKernel(backendName: string): void {
  if (tf.getKernel(BLOCK_KERNEL, backendName)) return;
  tf.registerKernel({ kernelName: BLOCK_KERNEL, backendName, kernelFunc: (args) => block(args as unknown as Args) });
}
