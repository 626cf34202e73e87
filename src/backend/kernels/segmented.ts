// One product of x with several weights side by side, x · [W0 | W1 | W2] (attention's q, k and v projections), in
// one dispatch of the tiled matmul without copying the weights together: each weight (and bias) stays its own
// buffer, and each load reads the one its output columns belong to (MatMulTiledProgram's `segments`). Every
// output is the same sequence of multiply-adds as in a product of its own, so the numbers are those of separate
// products. Why: at 1024 rows GPT-2-small's [1024, 768] · [768, 768] projections make too few blocks to fill an
// H100 (0.15 ms each, 8 TFLOP/s), where one [1024, 768] · [768, 2304] product runs like the MLP's up-projection
// (18 TFLOP/s); at 128 rows, two dispatches fewer per layer for a pass bound by the host. Measured on an H100 the
// whole forward was not faster for it (bench/results/gpu-h100/joint-qkv-ab.jsonl), so attention takes it only on
// request (capability jointQkvProduct, LMPROBE_WEBGPU_JOINT_QKV=on).
// Packed weights that the GPU's matrix units take run there as one product too (MatMulUnitsProgram's segments)
// where each weight alone would be on the units with the same K-slices: the numbers are then those of separate
// products on the units, since neither the block size nor the number of blocks changes any output's sum.
import * as tf from "@tensorflow/tfjs-core";
import { planMatMul, matMulVariant } from "./batch-matmul";
import { MatMulTiledProgram } from "./matmul";
import type { HalfFormat } from "./packed-programs";
import { withShape, type WebgpuBackendApi } from "./program";
import { matrixUnits, matrixUnitUse, MatMulUnitsProgram, planUnits, RowShiftProgram, type UnitTile } from "./matrix-units";
import { chooseSplitK, chooseUnitsSplitK, SplitKSumProgram, splitKSumUniforms } from "./split-k";

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

/** The matrix units' plan for the joint product: tile, terms and the K-slices every weight's own product would have. */
export interface SegmentedUnitsPlan {
  tile: UnitTile;
  terms: 1 | 2 | 3;
  splits: number;
  kChunk: number;
}

/**
 * The matrix units' plan for x [M, K] · [W0 | W1 | W2] as one product, or null: float32 weights, a weight the units
 * would not take alone, weights whose own products would split K differently (the joint product would then not
 * give each its own numbers), or no tile whose block columns divide every width.
 */
export function segmentedUnitsPlan(M: number, attrs: SegmentedMatMulAttrs): SegmentedUnitsPlan | null {
  const { K, widths, format } = attrs;
  if (format == null || widths.length < 2 || widths.length > 3 || widths.some((w) => w <= 0 || w % 4 !== 0)) return null;
  let slices: { splits: number; kChunk: number } | null = null;
  for (const w of widths) {
    const own = planUnits(M, w, K);
    if (!own) return null;
    const s = chooseUnitsSplitK(M, w, K, own.blockRows, own.blockCols);
    if (slices && (s.splits !== slices.splits || s.kChunk !== slices.kChunk)) return null;
    slices = s;
  }
  const joint = planUnits(M, widths.reduce((a, b) => a + b, 0), K, widths);
  return joint && slices ? { tile: joint.tile, terms: joint.terms, ...slices } : null;
}

/** Runs segmentedUnitsPlan's product: weights as packed words, one bias [ΣN] (the segments' biases joined) or null. */
function runSegmentedUnits(gpu: WebgpuBackendApi, a: tf.TensorInfo, weights: tf.TensorInfo[], bias: tf.TensorInfo | null, M: number, p: SegmentedMatMulAttrs, plan: SegmentedUnitsPlan): tf.TensorInfo {
  const N = p.widths.reduce((x, y) => x + y, 0);
  const int32 = (v: number) => ({ type: "int32" as const, data: [v] });
  const split = plan.splits > 1;
  const shifts = gpu.runWebGPUProgram(new RowShiftProgram(M), [withShape(a, [M, p.K])], "float32", [M, p.K].map(int32));
  const program = new MatMulUnitsProgram(M, N, p.layout, p.format!, !split && bias != null, false, plan.splits, plan.tile, matrixUnits.shape!, plan.terms, matrixUnits.subgroupSize, p.widths.length);
  matrixUnitUse.products++;
  matrixUnitUse.joint++;
  const seg1 = p.widths[0];
  const seg2 = p.widths.length > 2 ? p.widths[0] + p.widths[1] : N;
  const uniforms = [M, N, p.K, 0, split ? plan.kChunk : p.K, seg1, seg2].map(int32);
  const inputs = [withShape(a, [M, p.K]), ...weights, shifts, ...(!split && bias ? [bias] : [])];
  let out: tf.TensorInfo;
  if (split) {
    const partials = gpu.runWebGPUProgram(program, inputs, "float32", uniforms);
    const sum = new SplitKSumProgram(M, N, bias != null, false);
    out = gpu.runWebGPUProgram(sum, [partials, ...(bias ? [bias] : [])], "float32", splitKSumUniforms(sum, plan.splits));
    gpu.disposeData(partials.dataId);
  } else {
    out = gpu.runWebGPUProgram(program, inputs, "float32", uniforms);
  }
  gpu.disposeData(shifts.dataId);
  return out;
}

/** Whether SEGMENTED_MATMUL_KERNEL takes an M-row product with these segments (on the units or the tiled kernel). */
export function segmentedPlanned(M: number, attrs: SegmentedMatMulAttrs): boolean {
  return segmentedUnitsPlan(M, attrs) != null || segmentedTile(M, attrs) != null;
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
      const gpu = backend as unknown as WebgpuBackendApi;
      const reshape = (out: tf.TensorInfo) => {
        const shaped = tf.getKernel("Reshape", "webgpu")!.kernelFunc({ inputs: { x: out }, backend: backend, attrs: { shape: [M, N] } }) as tf.TensorInfo;
        gpu.disposeData(out.dataId);
        return shaped;
      };
      const S = p.widths.length;
      const N = p.widths.reduce((x, y) => x + y, 0);
      const units = segmentedUnitsPlan(M, p);
      if (units) {
        const weights = Array.from({ length: S }, (_, i) => named[`b${i}`]!);
        // One bias vector for the joint product (a split product's sum adds it): the segments' biases joined.
        const biases = named.bias0 != null ? Array.from({ length: S }, (_, i) => withShape(named[`bias${i}`]!, [p.widths[i]])) : null;
        const bias = biases ? (tf.getKernel("Concat", "webgpu")!.kernelFunc({ inputs: biases as unknown as tf.NamedTensorInfoMap, backend, attrs: { axis: 0 } }) as tf.TensorInfo) : null;
        const out = runSegmentedUnits(gpu, a, weights, bias, M, p, units);
        if (bias) gpu.disposeData(bias.dataId);
        return reshape(out);
      }
      const tile = segmentedTile(M, p);
      if (tile == null) throw new Error(`${SEGMENTED_MATMUL_KERNEL}: neither the units nor the tiled kernel take [${M}, ${p.K}] · [${p.widths}] (check segmentedPlanned first)`);
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
      return reshape(gpu.runWebGPUProgram(program, [withShape(a, [1, M, p.K]), ...weights, ...biases], "float32", uniforms));
    },
  });
}
