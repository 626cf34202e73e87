// Routes tfjs's BatchMatMul on the webgpu backend to MatMulTiledProgram when the shapes suit it, and to
// tfjs-webgpu's own kernel otherwise (small products, transposed A, unaligned K, broadcast batch shapes).
import * as tf from "@tensorflow/tfjs-core";
import { MatMulTiledProgram, TILE, type MatMulLayout, type MatMulVariant, type Tile } from "./matmul";
import { ArgumentError } from "../../errors";
import { replaceWebgpuKernel, withShape, type WebgpuBackendApi } from "./program";
import { SmallOutputPartialsProgram } from "./small-output-matmul";
import type { HalfFormat } from "./packed-programs";
import { chooseSplitK, chooseUnitsSplitK, SplitKSumProgram, splitKSumUniforms } from "./split-k";
import { matrixUnits, matrixUnitUse, MatMulUnitsProgram, planUnits, RowShiftProgram } from "./matrix-units";

export interface MatMulPlan {
  batch: number;
  M: number;
  N: number;
  K: number;
  layout: MatMulLayout;
  aBatched: boolean;
  bBatched: boolean;
  outShape: number[];
  /** 128×128 blocks, or 64×64 when 128×128 ones would be too few to fill the GPU. */
  tile: Tile;
}

/** Below this many 128×128 blocks a product uses 64×64 blocks (an H100/H200 has 132 SMs; tests lower it to 0). */
export const matMulTiling = { minBlocks128: 256 };

/**
 * The tiled kernel's variant (matmul.ts, MatMulVariant) for an M×K·K×N product: LMPROBE_PACKED_KERNEL for products
 * with packed weights, LMPROBE_MATMUL_KERNEL for float32 ones, when set (read at each call, so one process can A/B
 * them). Otherwise chosen by shape from `bench/gpu/packed-matmul.sh` on an NVIDIA H100
 * (bench/results/gpu-h100/packed-matmul.json), where the two give the same bits:
 * - packed weights: v2 for M ≤ 256 (8B shapes at M = 128: 1.13–3.4× faster), v1 above (M = 1024: v1 1.3–1.6× faster);
 * - float32: v2 where K ≥ 2048 or M ≥ 512 (1.04–1.7× faster), v1 for short products of few rows (GPT-2's lens at
 *   M = 128, K = 768: v2 2.6× slower).
 */
export function matMulVariant(packed: boolean, M: number, K: number): MatMulVariant {
  const name = packed ? "LMPROBE_PACKED_KERNEL" : "LMPROBE_MATMUL_KERNEL";
  const value = process.env[name];
  if (value) {
    if (value !== "v1" && value !== "v2") throw new ArgumentError(name, `is "${value}": expected v1 or v2 (the tiled matmul's load scheme)`, `unset ${name} to choose by shape`);
    return value;
  }
  if (packed) return M <= 256 ? "v2" : "v1";
  return K >= 2048 || M >= 512 ? "v2" : "v1";
}

function product(dims: number[]): number {
  return dims.reduce((p, d) => p * d, 1);
}

/**
 * The tiled kernel's plan for a·b, or null when tfjs's kernel should run it. Large enough means at least
 * half a tile of rows and columns: below that most of each 128×128 block would be wasted.
 */
export function planMatMul(aShape: number[], bShape: number[], transposeA: boolean, transposeB: boolean): MatMulPlan | null {
  if (transposeA || aShape.length < 2 || bShape.length < 2) return null;
  const M = aShape[aShape.length - 2];
  const K = aShape[aShape.length - 1];
  const N = transposeB ? bShape[bShape.length - 2] : bShape[bShape.length - 1];
  const Kb = transposeB ? bShape[bShape.length - 1] : bShape[bShape.length - 2];
  if (K !== Kb || K % 4 !== 0 || K < 16) return null;
  const layout: MatMulLayout = transposeB ? "nt" : "nn";
  if (layout === "nn" && N % 4 !== 0) return null;
  if (M < TILE / 2 || N < TILE / 2) return null;
  const outerA = aShape.slice(0, -2);
  const outerB = bShape.slice(0, -2);
  const batchA = product(outerA);
  const batchB = product(outerB);
  let outer: number[];
  if (batchA === batchB && outerA.join() === outerB.join()) outer = outerA;
  else if (batchB === 1) outer = outerA;
  else if (batchA === 1) outer = outerB;
  else return null; // genuine broadcasting between batch shapes: left to tfjs
  const batch = Math.max(batchA, batchB);
  if (batch > 65535) return null;
  const blocks128 = batch * Math.ceil(M / TILE) * Math.ceil(N / TILE);
  const tile: Tile = blocks128 < matMulTiling.minBlocks128 ? 64 : 128;
  return { batch, M, N, K, layout, aBatched: batchA > 1, bBatched: batchB > 1, outShape: [...outer, M, N], tile };
}

/** Runs the tiled program for a plan; returns a TensorInfo owned by the backend (shape plan.outShape). */
export function runMatMulPlan(
  backend: WebgpuBackendApi,
  a: tf.TensorInfo,
  b: tf.TensorInfo,
  plan: MatMulPlan,
  bias: tf.TensorInfo | null = null,
  residual: tf.TensorInfo | null = null,
  /** b is a packed weight (int32 words, half as many columns as the float32 layout): see packed-programs.ts. */
  packedB: HalfFormat | null = null,
  /** For a packed b: the first stored row of B within b (b's words may hold a larger matrix). */
  bRowOffset = 0,
): tf.TensorInfo {
  const { batch, M, N, K, layout } = plan;
  // Packed weights on the GPU's matrix units where it has them (matrix-units.ts), the tiled kernel otherwise.
  const units = packedB && batch === 1 ? planUnits(M, N, K) : null;
  const { splits, kChunk } = units ? chooseUnitsSplitK(M, N, K, units.blockRows, units.blockCols) : chooseSplitK(M, N, K, plan.tile, batch);
  const split = splits > 1;
  const a3 = withShape(a, [plan.aBatched ? batch : 1, M, K]);
  const b3 = packedB ? b : withShape(b, layout === "nt" ? [plan.bBatched ? batch : 1, N, K] : [plan.bBatched ? batch : 1, K, N]);
  // One entry per scalar: tfjs aligns each entry by its length, so a 5-long entry would not match the struct.
  const int32 = (v: number) => ({ type: "int32" as const, data: [v] });
  const vec2PerRow = (layout === "nt" ? K : N) / 4;
  const biasInput = bias ? [withShape(bias, [N])] : [];
  const residualInput = residual ? [withShape(residual, [batch, M, N])] : [];
  let program: MatMulTiledProgram | MatMulUnitsProgram;
  let inputs: tf.TensorInfo[];
  let uniforms: { type: "int32"; data: number[] }[];
  let shifts: tf.TensorInfo | null = null;
  if (units && packedB) {
    shifts = backend.runWebGPUProgram(new RowShiftProgram(M), [withShape(a, [M, K])], "float32", [M, K].map(int32));
    program = new MatMulUnitsProgram(M, N, layout, packedB, !split && bias != null, !split && residual != null, splits, units.tile, matrixUnits.shape!, units.terms, matrixUnits.subgroupSize);
    matrixUnitUse.products++;
    inputs = [a3, b3, shifts, ...(split ? [] : [...biasInput, ...residualInput])];
    uniforms = [M, N, K, bRowOffset * vec2PerRow, split ? kChunk : K].map(int32);
  } else {
    program = new MatMulTiledProgram(batch, M, N, layout, !split && bias != null, plan.tile, !split && residual != null, false, packedB, matMulVariant(packedB != null, M, K), splits);
    inputs = [a3, b3, ...(split ? [] : [...biasInput, ...residualInput])];
    uniforms = [M, N, K, plan.aBatched ? 1 : 0, plan.bBatched ? 1 : 0, ...(packedB ? [bRowOffset * vec2PerRow] : []), ...(split ? [kChunk] : [])].map(int32);
  }
  let out: tf.TensorInfo;
  if (split) {
    const partials = backend.runWebGPUProgram(program, inputs, "float32", uniforms);
    const sum = new SplitKSumProgram(M, N, bias != null, residual != null);
    out = backend.runWebGPUProgram(sum, [partials, ...biasInput, ...residualInput], "float32", splitKSumUniforms(sum, splits));
    backend.disposeData(partials.dataId);
  } else {
    out = backend.runWebGPUProgram(program, inputs, "float32", uniforms);
  }
  if (shifts) backend.disposeData(shifts.dataId);
  // Give the result its real shape through the backend's Reshape kernel (it shares the buffer).
  const reshape = tf.getKernel("Reshape", "webgpu")!;
  const shaped = reshape.kernelFunc({ inputs: { x: out }, backend: backend as unknown as tf.KernelBackend, attrs: { shape: plan.outShape } }) as tf.TensorInfo;
  backend.disposeData(out.dataId);
  return shaped;
}

/** Small outputs (≤ 4096 entries) over a long inner dimension (≥ 16384), unbatched: the two-pass split-K path. */
export function planSmallOutput(aShape: number[], bShape: number[], transposeA: boolean, transposeB: boolean): { M: number; N: number; K: number; nt: boolean } | null {
  if (transposeA || aShape.length < 2 || bShape.length < 2) return null;
  if (product(aShape.slice(0, -2)) !== 1 || product(bShape.slice(0, -2)) !== 1) return null;
  const M = aShape[aShape.length - 2];
  const K = aShape[aShape.length - 1];
  const N = transposeB ? bShape[bShape.length - 2] : bShape[bShape.length - 1];
  const Kb = transposeB ? bShape[bShape.length - 1] : bShape[bShape.length - 2];
  if (K !== Kb || M * N > 4096 || K < 16384 || M * N > 65535) return null;
  return { M, N, K, nt: transposeB };
}

/** Runs the two passes for planSmallOutput's plan; the result has the product's full shape. */
export function runSmallOutput(backend: WebgpuBackendApi, a: tf.TensorInfo, b: tf.TensorInfo, plan: { M: number; N: number; K: number; nt: boolean }, outShape: number[]): tf.TensorInfo {
  const program = new SmallOutputPartialsProgram(plan.M, plan.N, plan.K, plan.nt);
  const uniforms = [plan.M, plan.N, plan.K, program.outputShape[1]].map((v) => ({ type: "int32" as const, data: [v] }));
  const partials = backend.runWebGPUProgram(program, [a, b], "float32", uniforms);
  const kernelBackend = backend as unknown as tf.KernelBackend;
  const summed = tf.getKernel("Sum", "webgpu")!.kernelFunc({ inputs: { x: partials }, backend: kernelBackend, attrs: { axis: [1], keepDims: false } }) as tf.TensorInfo;
  backend.disposeData(partials.dataId);
  const shaped = tf.getKernel("Reshape", "webgpu")!.kernelFunc({ inputs: { x: summed }, backend: kernelBackend, attrs: { shape: outShape } }) as tf.TensorInfo;
  backend.disposeData(summed.dataId);
  return shaped;
}

/** Replaces the webgpu BatchMatMul kernel with one that prefers the tiled program (idempotent). */
export function overrideBatchMatMul(): void {
  replaceWebgpuKernel("BatchMatMul", (original) => (args) => {
    const { a, b } = args.inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
    const { transposeA, transposeB } = args.attrs as unknown as { transposeA: boolean; transposeB: boolean };
    const ours = a.dtype === "float32" && b.dtype === "float32" && process.env.LMPROBE_WEBGPU_MATMUL !== "tfjs";
    const small = ours ? planSmallOutput(a.shape, b.shape, transposeA, transposeB) : null;
    if (small) {
      const outShape = [...(a.shape.length >= b.shape.length ? a.shape : b.shape).slice(0, -2), small.M, small.N];
      return runSmallOutput(args.backend as unknown as WebgpuBackendApi, a, b, small, outShape);
    }
    const plan = ours ? planMatMul(a.shape, b.shape, transposeA, transposeB) : null;
    if (!plan) return original(args);
    return runMatMulPlan(args.backend as unknown as WebgpuBackendApi, a, b, plan);
  });
}

/**
 * Replaces the webgpu _FusedMatMul kernel (tf.fused.matMul) with one that runs a plain bias epilogue in the tiled
 * program; activations, PReLU weights and broadcast biases stay with tfjs's kernel (idempotent).
 */
export function overrideFusedMatMul(): void {
  replaceWebgpuKernel("_FusedMatMul", (original) => (args) => {
    const { a, b, bias, preluActivationWeights } = args.inputs as Record<string, tf.TensorInfo | undefined>;
    const { transposeA, transposeB, activation } = args.attrs as unknown as { transposeA: boolean; transposeB: boolean; activation: string };
    const plan =
      a!.dtype === "float32" && b!.dtype === "float32" && process.env.LMPROBE_WEBGPU_MATMUL !== "tfjs" && activation === "linear" && !preluActivationWeights
        ? planMatMul(a!.shape, b!.shape, transposeA, transposeB)
        : null;
    const N = plan?.N;
    const biasFits = !bias || (bias.dtype === "float32" && bias.shape[bias.shape.length - 1] === N && product(bias.shape) === N);
    if (!plan || !biasFits) return original(args);
    return runMatMulPlan(args.backend as unknown as WebgpuBackendApi, a!, b!, plan, bias ?? null);
  });
}

/** A batched product whose operands and result lie strided in their buffers (see MatMulTiledProgram's `strided`). */
export interface StridedMatMul {
  batch: number;
  M: number;
  N: number;
  K: number;
  layout: MatMulLayout;
  /** [batch stride, row stride] in floats of A, B and C; all multiples of 4. */
  a: [number, number];
  b: [number, number];
  c: [number, number];
  /** Consecutive batches of A that read one batch of B (grouped key/value heads); 1 when omitted. */
  bGroup?: number;
  /** Offsets (in floats, multiples of 4) of A's and B's first element in their buffers; 0 when omitted. */
  aStart?: number;
  bStart?: number;
  outShape: number[];
  /** Attention under a causal mask whose query row i sees keys ≤ i + past: MatMulTiledProgram's causal skip. */
  causal?: { product: "scores" | "context"; past: number };
}

/** Whether the tiled kernel takes this strided product (the same size rules as planMatMul's, plus vec4 strides). */
export function stridedMatMulFits(p: Omit<StridedMatMul, "outShape">): boolean {
  const strides = [...p.a, ...p.b, ...p.c, p.aStart ?? 0, p.bStart ?? 0];
  if (strides.some((s) => s % 4 !== 0) || p.K % 4 !== 0 || p.K < 16 || p.N % 4 !== 0) return false;
  return p.M >= TILE / 2 && p.N >= TILE / 2 && p.batch <= 65535;
}

/** Runs a strided product (checked with stridedMatMulFits); the result has shape p.outShape. */
export function runStridedMatMul(backend: WebgpuBackendApi, a: tf.TensorInfo, b: tf.TensorInfo, p: StridedMatMul): tf.TensorInfo {
  const blocks128 = p.batch * Math.ceil(p.M / TILE) * Math.ceil(p.N / TILE);
  const tile: Tile = blocks128 < matMulTiling.minBlocks128 ? 64 : 128;
  const program = new MatMulTiledProgram(p.batch, p.M, p.N, p.layout, false, tile, false, true, null, matMulVariant(false, p.M, p.K), 1, 1, p.causal?.product ?? "");
  const flatA = withShape(a, [product(a.shape) / 4, 4]);
  const flatB = withShape(b, [product(b.shape) / 4, 4]);
  const causal = p.causal ? [p.causal.past] : [];
  const uniforms = [p.M, p.N, p.K, 1, 1, ...p.a, ...p.b, ...p.c, p.bGroup ?? 1, p.aStart ?? 0, p.bStart ?? 0, ...causal].map((v) => ({ type: "int32" as const, data: [v] }));
  const out = backend.runWebGPUProgram(program, [flatA, flatB], "float32", uniforms);
  const reshape = tf.getKernel("Reshape", "webgpu")!;
  const shaped = reshape.kernelFunc({ inputs: { x: out }, backend: backend as unknown as tf.KernelBackend, attrs: { shape: p.outShape } }) as tf.TensorInfo;
  backend.disposeData(out.dataId);
  return shaped;
}
