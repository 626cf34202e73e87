// One product of x with several weights side by side, x · [W0 | W1 | W2] (attention's q, k and v projections), in
// one dispatch of the tiled matmul without copying the weights together: each weight (and bias) stays its own
// buffer, and each load reads the one its output columns belong to (MatMulTiledProgram's `segments`). Every
// output is the same sequence of multiply-adds as in a product of its own, so the numbers are those of separate
// products. Why: at 1024 rows GPT-2-small's [1024, 768] · [768, 768] projections make too few blocks to fill an
// H100 (0.15 ms each, 8 TFLOP/s), where one [1024, 768] · [768, 2304] product runs like the MLP's up-projection
// (18 TFLOP/s); at 128 rows, two dispatches fewer per layer for a pass bound by the host. Measured on an H100 the
// whole forward was not faster for it (bench/results/gpu-h100/joint-qkv-ab.jsonl), so attention takes it only on
// request (capability jointQkvProduct, LMPROBE_WEBGPU_JOINT_QKV=on).
import * as tf from "@tensorflow/tfjs-core";
import { planMatMul, matMulVariant } from "./batch-matmul";
import { MatMulTiledProgram } from "./matmul";
import type { HalfFormat } from "./packed-programs";
import { withShape, type WebgpuBackendApi } from "./program";
import { planUnits } from "./matrix-units";
import { chooseSplitK } from "./split-k";

export const SEGMENTED_MATMUL_KERNEL = "LmprobeSegmentedMatMul";

/** Attributes of SEGMENTED_MATMUL_KERNEL: each weight holds a [K, N_s] ("nn") or [N_s, K] ("nt") matrix. */
export interface SegmentedMatMulAttrs {
  layout: "nn" | "nt";
  /** null: float32 weights; else the 16-bit format of packed words (packed-programs.ts). */
  format: HalfFormat | null;
  K: number;
  /** Output columns of each weight, in order. */
  widths: number[];
}

/**
 * The block width for an M-row product with these segments, or null where the tiled kernel should not run it as
 * one: sizes it does not take, a segment width that is not a multiple of 4 (a vec4 of output columns must lie in one
 * segment), a product that would split K (split-K's sum has no segments; separate products split as they would), or
 * packed weights that the matrix units would each take.
 */
export function segmentedTile(M: number, attrs: SegmentedMatMulAttrs): 64 | 128 | null {
  const { K, widths, layout } = attrs;
  if (widths.length < 2 || widths.length > 3 || widths.some((w) => w <= 0 || w % 4 !== 0)) return null;
  const N = widths.reduce((a, b) => a + b, 0);
  const plan = planMatMul([M, K], layout === "nt" ? [N, K] : [K, N], false, layout === "nt");
  if (!plan) return null;
  if (chooseSplitK(M, N, K, plan.tile, 1).splits > 1) return null;
  // Packed weights that the matrix units would each take run as separate products there.
  if (attrs.format != null && widths.every((w) => planUnits(M, w, K) != null)) return null;
  return plan.tile;
}

export function registerSegmentedKernel(): void {
  if (tf.getKernel(SEGMENTED_MATMUL_KERNEL, "webgpu")) return;
  tf.registerKernel({
    kernelName: SEGMENTED_MATMUL_KERNEL,
    backendName: "webgpu",
    kernelFunc: ({ inputs, backend, attrs }) => {
      const p = attrs as unknown as SegmentedMatMulAttrs;
      const named = inputs as Record<string, tf.TensorInfo | undefined>;
      const a = named.a!;
      const M = a.shape[0];
      const tile = segmentedTile(M, p);
      if (tile == null) throw new Error(`${SEGMENTED_MATMUL_KERNEL}: the tiled kernel does not take [${M}, ${p.K}] · [${p.widths}] (check segmentedTile first)`);
      const S = p.widths.length;
      const N = p.widths.reduce((x, y) => x + y, 0);
      const hasBias = named.bias0 != null;
      const program = new MatMulTiledProgram(1, M, N, p.layout, hasBias, tile, false, false, p.format, matMulVariant(p.format != null, M, p.K), 1, S);
      const weights = Array.from({ length: S }, (_, i) => {
        const w = named[`b${i}`]!;
        return p.format ? w : withShape(w, p.layout === "nt" ? [1, p.widths[i], p.K] : [1, p.K, p.widths[i]]);
      });
      const biases = hasBias ? Array.from({ length: S }, (_, i) => withShape(named[`bias${i}`]!, [p.widths[i]])) : [];
      const starts = p.widths.slice(0, -1).map((_, i) => p.widths.slice(0, i + 1).reduce((x, y) => x + y, 0));
      // The uniforms in the program's order: M, N, K, aBatched, bBatched, [bOffset], seg1, seg2.
      const uniforms = [M, N, p.K, 0, 0, ...(p.format ? [0] : []), ...starts].map((v) => ({ type: "int32" as const, data: [v] }));
      const gpu = backend as unknown as WebgpuBackendApi;
      const out = gpu.runWebGPUProgram(program, [withShape(a, [1, M, p.K]), ...weights, ...biases], "float32", uniforms);
      const shaped = tf.getKernel("Reshape", "webgpu")!.kernelFunc({ inputs: { x: out }, backend: backend, attrs: { shape: [M, N] } }) as tf.TensorInfo;
      gpu.disposeData(out.dataId);
      return shaped;
    },
  });
}
