// Attention's kernels on cpu-native. The composed path runs a layer's attention as seven calls (q's transpose to
// head-major, q·kᵀ, scale → softcap → mask → softmax, pattern·v, z's transpose back) and a "half" rotary as nine
// (two slices, a concat, two products, a sum, per tensor); on a small model each call's fixed cost, not its
// arithmetic, is what they spend. Here attention is one onnxruntime call whose graph is those same ops in the same
// order (the same MLAS products, the same softmax), and rotary one JavaScript pass whose products and sum are
// rounded to float32 exactly as the separate kernels round them.
import * as tf from "@tensorflow/tfjs-core";
import { ATTENTION_KERNEL, ROTARY_KERNEL } from "../kernels/fused";
import { floats, type CpuBackendApi } from "./kernels";
import { ONNX_INT64, type OnnxGraph, type OnnxNode } from "./onnx-graph";
import { runGraph, type Feeds } from "./runtime";

type Args = { inputs: Record<string, tf.TensorInfo>; backend: CpuBackendApi; attrs: Record<string, unknown> };

const n = (op: string, inputs: string[], outputs: string[], attributes?: OnnxNode["attributes"]): OnnxNode => ({ op, inputs, outputs, attributes });

/**
 * q [b, pos, H, dh], k [b, KV, keys, dh], v [b, KV, keys, dV], mask [b, 1, pos, keys] → z [b, pos, H, dV]. Query
 * heads h = kv·group + r share key/value head kv: q goes head-major and is reshaped to [b, KV, group·pos, dh]
 * (`byKV` = [0, KV, −1, 0]), so that one batched product per kv head serves all its query heads, as
 * model/components/attention.ts does; `byHead` = [0, H, −1, 0] undoes it. The scale is the product's alpha (so the
 * graph, and its session, are per scale): MLAS multiplies each accumulated float32 sum by it before storing, the
 * value a separate Mul would give (for dh up to MLAS's K block of 128; past it the partial sums are scaled one by
 * one), without a pass over the [b, H, pos, keys] scores.
 */
export function attentionGraph(softcap: boolean, kvPositions: boolean, scale: number): OnnxGraph {
  // kvPositions: k and v arrive [b, keys, KV, ·] as the projections laid them out, and go head-major here.
  const [k, v] = kvPositions ? ["kHeads", "vHeads"] : ["k", "v"];
  const nodes: OnnxNode[] = [
    ...(kvPositions ? [n("Transpose", ["k"], ["kHeads"], { perm: [0, 2, 1, 3] }), n("Transpose", ["v"], ["vHeads"], { perm: [0, 2, 1, 3] })] : []),
    n("Transpose", ["q"], ["qHeads"], { perm: [0, 2, 1, 3] }),
    n("Reshape", ["qHeads", "byKV"], ["qGrouped"]),
    { op: "FusedMatMul", domain: "com.microsoft", inputs: ["qGrouped", k], outputs: ["rawGrouped"], attributes: { transA: 0, transB: 1, alpha: { float: scale } } },
    n("Reshape", ["rawGrouped", "byHead"], [softcap ? "scaled" : "capped"]),
  ];
  if (softcap) nodes.push(n("Div", ["scaled", "cap"], ["a"]), n("Tanh", ["a"], ["t"]), n("Mul", ["t", "cap"], ["capped"]));
  nodes.push(
    n("Add", ["capped", "mask"], ["masked"]),
    n("Softmax", ["masked"], ["pattern"], { axis: -1 }),
    n("Reshape", ["pattern", "byKV"], ["patternGrouped"]),
    n("MatMul", ["patternGrouped", v], ["zGrouped"]),
    n("Reshape", ["zGrouped", "byHead"], ["zHeads"]),
    n("Transpose", ["zHeads"], ["z"], { perm: [0, 2, 1, 3] }),
  );
  const inputs = ["q", "k", "v", "mask", ...(softcap ? ["cap"] : [])].map((name) => ({ name }));
  return { nodes, inputs: [...inputs, { name: "byKV", type: ONNX_INT64 }, { name: "byHead", type: ONNX_INT64 }], outputs: [{ name: "z" }] };
}

function attention({ inputs: { q, k, v, mask }, backend, attrs }: Args): tf.TensorInfo {
  const [b, pos, heads] = q.shape;
  const kvPositions = attrs.kvPositions === 1;
  const [kvHeads, keys] = kvPositions ? [k.shape[2], k.shape[1]] : [k.shape[1], k.shape[2]];
  const dV = v.shape[3];
  const softcap = (attrs.softcap as number) > 0;
  const feeds: Feeds = {
    q: [floats(backend, q), q.shape],
    k: [floats(backend, k), k.shape],
    v: [floats(backend, v), v.shape],
    mask: [floats(backend, mask), mask.shape],
    byKV: [new BigInt64Array([0n, BigInt(kvHeads), -1n, 0n]), [4]],
    byHead: [new BigInt64Array([0n, BigInt(heads), -1n, 0n]), [4]],
  };
  if (softcap) feeds.cap = [new Float32Array([attrs.softcap as number]), []];
  const macs = b * heads * pos * keys * (q.shape[3] + dV); // q·kᵀ and pattern·v (see runtime's nativeSingleThread)
  const scale = attrs.scale as number;
  const z = runGraph(`attention:${+softcap}:${+kvPositions}:${scale}`, () => attentionGraph(softcap, kvPositions, scale), feeds, macs / 16).z;
  return backend.makeTensorInfo([b, pos, heads, dV], "float32", z.data as Float32Array);
}

/**
 * "half" rotary of the first `rot` features of each head of x [b, pos, heads, d], tables cos / sin [b, pos, 1, rot]
 * (rotary.ts folds rotate_half's sign into sin): y = x·cos + swap(x)·sin with swap exchanging the halves. Each
 * product is rounded to float32 before the sum (Math.fround), and the sum when stored, so the values are those of
 * the separate Mul and Add kernels; features past `rot` are copied.
 */
function rotaryHalf({ inputs: { x, cos, sin }, backend, attrs }: Args): tf.TensorInfo {
  const [b, pos, heads, d] = x.shape;
  const rot = attrs.rot as number;
  const half = rot / 2;
  const xs = floats(backend, x);
  const c = floats(backend, cos);
  const s = floats(backend, sin);
  const out = new Float32Array(xs.length);
  const f32 = Math.fround;
  for (let row = 0; row < b * pos; row++) {
    const t = row * rot;
    for (let h = 0; h < heads; h++) {
      const base = (row * heads + h) * d;
      for (let i = 0; i < half; i++) {
        const lo = xs[base + i];
        const hi = xs[base + half + i];
        out[base + i] = f32(lo * c[t + i]) + f32(hi * s[t + i]);
        out[base + half + i] = f32(hi * c[t + half + i]) + f32(lo * s[t + half + i]);
      }
      for (let i = rot; i < d; i++) out[base + i] = xs[base + i];
    }
  }
  return backend.makeTensorInfo(x.shape, "float32", out);
}

/** Registers the kernels for `backendName` (idempotent). */
export function registerNativeAttentionKernels(backendName: string): void {
  const kernels: Array<[string, (args: Args) => tf.TensorInfo]> = [[ATTENTION_KERNEL, attention], [ROTARY_KERNEL, rotaryHalf]];
  for (const [kernelName, run] of kernels) {
    if (tf.getKernel(kernelName, backendName)) continue;
    tf.registerKernel({ kernelName, backendName, kernelFunc: (args) => run(args as unknown as Args) });
  }
}
