// One product of x with several weights side by side, x · [W0 | W1 | W2] (attention's q, k and v projections; an
// MLP's gate and up), in one dispatch of the tiled matmul without copying the weights together: each weight (and
// bias) stays its own buffer, and each load reads the one its output columns belong to (MatMulTiledProgram's
// `segments`). Every output is the same sequence of multiply-adds as in a product of its own, so the numbers are
// those of separate products; where the weights' own products would split K (split-k.ts: few rows), the joint one
// takes their K-slices and its one sum pass adds each segment's bias. Why: at 128 rows, a pass bound by the host's
// encoding of dispatches runs one product and one sum where three weights made six dispatches; at 1024 rows
// GPT-2-small's [1024, 768] · [768, 768] projections make too few blocks to fill an H100 (0.15 ms each,
// 8 TFLOP/s), where one [1024, 768] · [768, 2304] product runs like the MLP's up-projection (18 TFLOP/s).
// Packed weights that the GPU's matrix units take run there as one product too (MatMulUnitsProgram's segments)
// where each weight alone would be on the units with the same K-slices: the numbers are then those of separate
// products on the units, since neither the block size nor the number of blocks changes any output's sum.
// The kernel can also return act(product) (attrs.activation; gated: act(gate) · up of two segments), applied by the
// split-K sum where the product splits (one dispatch fewer) and by ActivationProgram after it otherwise: an MLP's
// input projection (model/components/mlp.ts), one weight or gate | up.
import * as tf from "@tensorflow/tfjs-core";
import { planMatMul, matMulVariant } from "./batch-matmul";
import { MatMulTiledProgram } from "./matmul";
import type { HalfFormat } from "./packed-programs";
import { withShape, type WebgpuBackendApi } from "./program";
import { matrixUnits, matrixUnitUse, MatMulUnitsProgram, planUnits, RowShiftProgram, type UnitTile } from "./matrix-units";
import { chooseSplitK, chooseUnitsSplitK, splitKTiling, SplitKSumProgram, splitKSumUniforms, type SplitK } from "./split-k";
import { ActivationProgram, type FusedActivation } from "./row-programs";

export const SEGMENTED_MATMUL_KERNEL = "LmprobeSegmentedMatMul";

/** Attributes of SEGMENTED_MATMUL_KERNEL: each weight holds a [K, N_s] ("nn") or [N_s, K] ("nt") matrix. */
export interface SegmentedMatMulAttrs {
  layout: "nn" | "nt";
  /** null: float32 weights; else the 16-bit format of packed words (packed-programs.ts). */
  format: HalfFormat | null;
  K: number;
  /** Output columns of each weight, in order. */
  widths: number[];
  /**
   * An activation applied to the product (+ bias) before it is returned: "" for none. With `gated` (two weights,
   * gate | up, of one width F) the result is act(x·W_gate + b_gate) · (x·W_up + b_up), [M, F]. Where the product
   * splits K, the split-K sum applies it (one pass fewer); otherwise ActivationProgram runs after the product.
   */
  activation?: FusedActivation | "";
  gated?: boolean;
}

/** Two or three weights side by side; one where the kernel is asked for its activation (the rest is a plain product). */
function segmentCountFits(attrs: SegmentedMatMulAttrs): boolean {
  return attrs.widths.length <= 3 && attrs.widths.length >= (attrs.activation ? 1 : 2);
}

/** The tiled kernel's plan for a segmented product: its block size and the K-slices (split-k.ts) it runs with. */
export interface SegmentedTilePlan extends SplitK {
  tile: 64 | 128;
}

/**
 * The tiled kernel's plan for an M-row product with these segments, or null where it should not run it as one:
 * sizes it does not take, a segment width that is not a multiple of 4 (a vec4 of output columns must lie in one
 * segment), weights whose own products would split K differently (the joint product takes their K-slices, so that
 * each output is the sum its own product would give), or packed weights that the matrix units would each take.
 */
export function segmentedTile(M: number, attrs: SegmentedMatMulAttrs): SegmentedTilePlan | null {
  const { K, widths, layout } = attrs;
  if (!segmentCountFits(attrs) || widths.some((w) => w <= 0 || w % 4 !== 0)) return null;
  const N = widths.reduce((a, b) => a + b, 0);
  const plan = planMatMul([M, K], layout === "nt" ? [N, K] : [K, N], false, layout === "nt");
  if (!plan) return null;
  let slices: SplitK | null = null;
  for (const w of widths) {
    const own = planMatMul([M, K], layout === "nt" ? [w, K] : [K, w], false, layout === "nt");
    // A weight the tiled kernel would not take alone (under 64 columns) runs tfjs's kernel, unsplit; its last bits
    // may differ from the joint product's anyway.
    const ownSlices = own ? chooseSplitK(M, w, K, own.tile, 1) : { splits: 1, kChunk: K };
    if (slices && (ownSlices.splits !== slices.splits || ownSlices.kChunk !== slices.kChunk)) return null;
    slices = ownSlices;
  }
  if (!slices || slices.splits * M * N * 4 > splitKTiling.maxPartialBytes) return null;
  // A packed weight that the matrix units would take alone keeps its product there (their numbers and speed).
  if (attrs.format != null && widths.some((w) => planUnits(M, w, K) != null)) return null;
  return { tile: plan.tile, ...slices };
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
  if (format == null || !segmentCountFits(attrs) || widths.some((w) => w <= 0 || w % 4 !== 0)) return null;
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

const int32 = (v: number) => ({ type: "int32" as const, data: [v] });

/** Columns where the second (and third) weight's outputs begin. */
function segmentStarts(widths: readonly number[]): number[] {
  return widths.slice(0, -1).map((_, i) => widths.slice(0, i + 1).reduce((x, y) => x + y, 0));
}

/**
 * Adds a split product's partials [splits, M, ΣN] with each segment's own bias (biases: one per weight, or none)
 * and the attributes' activation: one pass (SplitKSumProgram's epilogue).
 */
function sumSegments(gpu: WebgpuBackendApi, partials: tf.TensorInfo, biases: tf.TensorInfo[], M: number, p: SegmentedMatMulAttrs, splits: number): tf.TensorInfo {
  const N = p.widths.reduce((x, y) => x + y, 0);
  const gated = p.gated === true;
  const sum = new SplitKSumProgram(M, gated ? N / 2 : N, biases.length > 0, false, { segments: p.widths.length, act: p.activation || null, gated });
  const out = gpu.runWebGPUProgram(sum, [partials, ...biases], "float32", splitKSumUniforms(sum, splits, gated ? [] : segmentStarts(p.widths)));
  gpu.disposeData(partials.dataId);
  return out;
}

/** The attributes' activation on an unsplit product's [M, ΣN] output (gated: gate | up → [M, F]); `out` is disposed. */
function activate(gpu: WebgpuBackendApi, out: tf.TensorInfo, M: number, p: SegmentedMatMulAttrs): tf.TensorInfo {
  if (!p.activation) return out;
  const N = p.widths.reduce((x, y) => x + y, 0);
  const program = p.gated ? new ActivationProgram([M, N / 2], p.activation, true, true) : new ActivationProgram([M, N], p.activation, false);
  const activated = gpu.runWebGPUProgram(program, [out], "float32", p.gated ? [int32(N / 2)] : undefined);
  gpu.disposeData(out.dataId);
  return activated;
}

/** Runs segmentedUnitsPlan's product: weights as packed words, each weight's bias (or none). */
function runSegmentedUnits(gpu: WebgpuBackendApi, backend: tf.KernelBackend, a: tf.TensorInfo, weights: tf.TensorInfo[], biases: tf.TensorInfo[], M: number, p: SegmentedMatMulAttrs, plan: SegmentedUnitsPlan): tf.TensorInfo {
  const N = p.widths.reduce((x, y) => x + y, 0);
  const split = plan.splits > 1;
  const shifts = gpu.runWebGPUProgram(new RowShiftProgram(M), [withShape(a, [M, p.K])], "float32", [M, p.K].map(int32));
  const program = new MatMulUnitsProgram(M, N, p.layout, p.format!, !split && biases.length > 0, false, plan.splits, plan.tile, matrixUnits.shape!, plan.terms, matrixUnits.subgroupSize, p.widths.length);
  matrixUnitUse.products++;
  matrixUnitUse.joint++;
  const starts = segmentStarts(p.widths);
  const uniforms = [M, N, p.K, 0, split ? plan.kChunk : p.K, ...(starts.length ? [starts[0], starts[1] ?? N] : [])].map(int32);
  let out: tf.TensorInfo;
  if (split) {
    out = sumSegments(gpu, gpu.runWebGPUProgram(program, [withShape(a, [M, p.K]), ...weights, shifts], "float32", uniforms), biases, M, p, plan.splits);
  } else {
    // The unsplit units program takes one bias vector for the joint product: the segments' biases joined (one
    // weight's as it is).
    const joined = biases.length > 1;
    const bias = joined ? (tf.getKernel("Concat", "webgpu")!.kernelFunc({ inputs: biases as unknown as tf.NamedTensorInfoMap, backend, attrs: { axis: 0 } }) as tf.TensorInfo) : (biases[0] ?? null);
    out = activate(gpu, gpu.runWebGPUProgram(program, [withShape(a, [M, p.K]), ...weights, shifts, ...(bias ? [bias] : [])], "float32", uniforms), M, p);
    if (joined) gpu.disposeData(bias!.dataId);
  }
  gpu.disposeData(shifts.dataId);
  return out;
}

/** Runs segmentedTile's product on the tiled kernel (split-K where the plan says, its sum applying biases and activation). */
function runSegmentedTiled(gpu: WebgpuBackendApi, a: tf.TensorInfo, weights: tf.TensorInfo[], biases: tf.TensorInfo[], M: number, p: SegmentedMatMulAttrs, plan: SegmentedTilePlan): tf.TensorInfo {
  const N = p.widths.reduce((x, y) => x + y, 0);
  const split = plan.splits > 1;
  const S = p.widths.length;
  const program = new MatMulTiledProgram(1, M, N, p.layout, !split && biases.length > 0, plan.tile, false, false, p.format, matMulVariant(p.format != null, M, p.K), plan.splits, S);
  const shaped = weights.map((w, i) => (p.format ? w : withShape(w, p.layout === "nt" ? [1, p.widths[i], p.K] : [1, p.K, p.widths[i]])));
  // The uniforms in the program's order: M, N, K, aBatched, bBatched, [bOffset], [kChunk], seg1, seg2.
  const uniforms = [M, N, p.K, 0, 0, ...(p.format ? [0] : []), ...(split ? [plan.kChunk] : []), ...segmentStarts(p.widths)].map(int32);
  const inputs = [withShape(a, [1, M, p.K]), ...shaped, ...(split ? [] : biases)];
  const out = gpu.runWebGPUProgram(program, inputs, "float32", uniforms);
  return split ? sumSegments(gpu, out, biases, M, p, plan.splits) : activate(gpu, out, M, p);
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
      const S = p.widths.length;
      const N = p.widths.reduce((x, y) => x + y, 0);
      if (p.gated && (S !== 2 || p.widths[0] !== p.widths[1] || !p.activation)) {
        throw new Error(`${SEGMENTED_MATMUL_KERNEL}: a gated activation takes two weights of one width and an activation (got [${p.widths}], "${p.activation ?? ""}")`);
      }
      const weights = Array.from({ length: S }, (_, i) => named[`b${i}`]!);
      const biases = named.bias0 != null ? Array.from({ length: S }, (_, i) => withShape(named[`bias${i}`]!, [p.widths[i]])) : [];
      const units = segmentedUnitsPlan(M, p);
      const tiled = units ? null : segmentedTile(M, p);
      if (!units && !tiled) throw new Error(`${SEGMENTED_MATMUL_KERNEL}: neither the units nor the tiled kernel take [${M}, ${p.K}] · [${p.widths}] (check segmentedPlanned first)`);
      const out = units ? runSegmentedUnits(gpu, backend as tf.KernelBackend, a, weights, biases, M, p, units) : runSegmentedTiled(gpu, a, weights, biases, M, p, tiled!);
      const shaped = tf.getKernel("Reshape", "webgpu")!.kernelFunc({ inputs: { x: out }, backend, attrs: { shape: [M, p.gated ? N / 2 : N] } }) as tf.TensorInfo;
      gpu.disposeData(out.dataId);
      return shaped;
    },
  });
}
