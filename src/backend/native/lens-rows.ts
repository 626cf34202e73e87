// The logit lens of a block of rows as one onnxruntime call: the unembedding product, the statistics
// (logitStatsFastGraph: log Σ exp, entropy, top-k), the targets' logits and their rank counts, with the
// [rows, vocab] logits never leaving onnxruntime. Separate calls (product, statistics, rank count) would each read
// the block's logits again, after JavaScript had allocated, filled and handed them on; here the statistics read
// them while the product's last rows are still in cache. tensor/lens-row-blocks.ts's fusedRowBlockReduction sizes
// the blocks (memory is the caller's to bound, as for a product).
//
// The numbers are those of the separate calls: the product is nativeMatMul's FusedMatMul with the same work (so the
// same threading), the statistics logitStatsFastGraph's nodes, the rank count countAbove's comparison. Rows whose
// statistics are not finite (an overflowing or NaN logit) make the kernel decline: the caller's other paths have
// the conventions for those (NaN skipped, −∞ adding nothing).
import * as tf from "@tensorflow/tfjs-core";
import { LENS_ROWS_KERNEL } from "../kernels/fused";
import { floats, type CpuBackendApi } from "./kernels";
import { embedded, ONNX_FLOAT, ONNX_INT32, type OnnxGraph, type OnnxNode } from "./onnx-graph";
import { logitStatsFastGraph, nativeLogitStats, statsFinite } from "./row-kernels";
import { runGraph, type Feeds } from "./runtime";

type Args = { inputs: Record<string, tf.TensorInfo>; backend: CpuBackendApi; attrs: Record<string, unknown> };

const n = (op: string, inputs: string[], outputs: string[], attributes?: OnnxNode["attributes"]): OnnxNode => ({ op, inputs, outputs, attributes });

/** x [m, d], W ([vocab, d] when `vocabRows`, else [d, vocab]), k, ids int32 [m, t] → stats [m, 2 + 2k], targets [m, t], counts int32 [m, t]. */
function lensRowsGraph(vocabRows: boolean, targets: boolean): OnnxGraph {
  const stats = embedded(logitStatsFastGraph(), "stats_", { x: "logits", k: "k", y: "stats" });
  const nodes: OnnxNode[] = [
    { op: "FusedMatMul", domain: "com.microsoft", inputs: ["x", "W"], outputs: ["logits"], attributes: { transA: 0, transB: +vocabRows, alpha: { float: 1 } } },
    ...stats.nodes,
  ];
  const outputs: OnnxGraph["outputs"] = [{ name: "stats" }];
  if (targets) {
    nodes.push(
      n("GatherElements", ["logits", "ids"], ["targets"], { axis: 1 }),
      n("Unsqueeze", ["logits", "one"], ["logits3"]), // [m, 1, vocab]
      n("Unsqueeze", ["targets", "two"], ["targets3"]), // [m, t, 1]
      n("Greater", ["logits3", "targets3"], ["above"]),
      n("Cast", ["above"], ["aboveF"], { to: ONNX_FLOAT }), // exact below 2^24 per row, as countAbove counts
      n("ReduceSum", ["aboveF", "two"], ["countF"], { keepdims: 0 }),
      n("Cast", ["countF"], ["counts"], { to: ONNX_INT32 }),
    );
    outputs.push({ name: "targets" }, { name: "counts", type: ONNX_INT32 });
  }
  return {
    nodes,
    inputs: [{ name: "x" }, { name: "W" }, { name: "k", type: 7 }, ...(targets ? [{ name: "ids", type: ONNX_INT32 }] : [])],
    outputs,
    constants: [...(stats.constants ?? []), { name: "one", type: 7, dims: [1], values: [1] }, { name: "two", type: 7, dims: [1], values: [2] }],
  };
}

function lensRows({ inputs: { x, W, ids }, backend, attrs }: Args): tf.TensorInfo[] {
  const k = attrs.k as number;
  const vocabRows = attrs.vocabRows === 1;
  const [m, d] = x.shape;
  const vocab = vocabRows ? W.shape[0] : W.shape[1];
  const t = ids.shape[1];
  if (!nativeLogitStats.fast) return [];
  const feeds: Feeds = { x: [floats(backend, x), x.shape], W: [floats(backend, W), W.shape], k: [new BigInt64Array([BigInt(k)]), [1]] };
  if (t > 0) feeds.ids = [backend.data.get(ids.dataId).values as Int32Array, ids.shape];
  // The product's work as nativeMatMul counts it, so that it runs on the same threads as the separate call would.
  const out = runGraph(`lens-rows:${+vocabRows}:${+(t > 0)}`, () => lensRowsGraph(vocabRows, t > 0), feeds, (m * vocab * d) / 16);
  const stats = out.stats.data as Float32Array;
  const width = 2 + 2 * k;
  if (!statsFinite(stats, m, width)) return [];
  return [
    backend.makeTensorInfo([m, width], "float32", stats),
    backend.makeTensorInfo([m, t], "float32", t > 0 ? (out.targets.data as Float32Array) : new Float32Array(0)),
    backend.makeTensorInfo([m, t], "int32", t > 0 ? (out.counts.data as Int32Array) : new Int32Array(0)),
  ];
}

/** Registers the kernel for `backendName` (idempotent). */
export function registerNativeLensRowsKernel(backendName: string): void {
  if (tf.getKernel(LENS_ROWS_KERNEL, backendName)) return;
  tf.registerKernel({ kernelName: LENS_ROWS_KERNEL, backendName, kernelFunc: (args) => lensRows(args as unknown as Args) });
}
