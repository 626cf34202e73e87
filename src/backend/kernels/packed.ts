// Registers the packed-weight kernels for the webgpu backend: a product x · W (or x · Wᵀ) reading W as stored
// (bfloat16 / float16 pairs, kernels/packed-programs.ts), and the widening of a packed matrix to float32 (whole,
// transposed, or selected rows for an embedding lookup). backend/packed-weight.ts reaches them by name.
import * as tf from "@tensorflow/tfjs-core";
import { planMatMul, runMatMulPlan, type MatMulPlan } from "./batch-matmul";
import { planUnits } from "./matrix-units";
import { PackedMatMulProgram, UnpackProgram, type HalfFormat } from "./packed-programs";
import type { WebgpuBackendApi } from "./program";

export const PACKED_MATMUL_KERNEL = "LmprobePackedMatMul";
export const UNPACK_KERNEL = "LmprobeUnpack";

/** Attributes of PACKED_MATMUL_KERNEL: B's words hold a [K, N] ("nn") or [N, K] ("nt") matrix of `format` values. */
export interface PackedMatMulAttrs {
  layout: "nn" | "nt";
  format: HalfFormat;
  N: number;
  K: number;
  /** First stored row of the weight within B's words (a range of rows of a larger weight). */
  rowOffset: number;
}

/**
 * The tiled kernel's plan for a packed product, or null (then the plain program runs it). A product of fewer rows
 * than the tiled kernel takes still gets a plan where the matrix units take it (LMPROBE_MATRIX_UNITS=all: what
 * lets `verify` check the units' numbers on fixtures of a few tokens).
 */
export function planPackedMatMul(aShape: number[], attrs: PackedMatMulAttrs): MatMulPlan | null {
  const { layout, N, K } = attrs;
  // The tiled loads read a vec4 of the float32 layout as two whole words: the packed axis must be a multiple of 4.
  const tiled = planMatMul(aShape, layout === "nt" ? [N, K] : [K, N], false, layout === "nt");
  if (tiled || aShape.length !== 2) return tiled;
  const M = aShape[0];
  if (!planUnits(M, N, K)) return null;
  return { batch: 1, M, N, K, layout, aBatched: false, bBatched: false, outShape: [M, N], tile: 64 };
}

export function registerPackedKernels(): void {
  if (!tf.getKernel(PACKED_MATMUL_KERNEL, "webgpu")) {
    tf.registerKernel({
      kernelName: PACKED_MATMUL_KERNEL,
      backendName: "webgpu",
      kernelFunc: ({ inputs, backend, attrs }) => {
        const { a, b, bias, residual } = inputs as Record<string, tf.TensorInfo | undefined>;
        const p = attrs as unknown as PackedMatMulAttrs;
        const gpu = backend as unknown as WebgpuBackendApi;
        const plan = planPackedMatMul(a!.shape, p);
        if (plan && plan.batch === 1) return runMatMulPlan(gpu, a!, b!, plan, bias ?? null, residual ?? null, p.format, p.rowOffset);
        if (bias || residual) throw new Error(`${PACKED_MATMUL_KERNEL}: a bias or residual needs the tiled plan (packed-weight.ts checks this first)`);
        const M = a!.shape[0];
        const program = new PackedMatMulProgram(M, p.N, p.K, p.layout, p.format);
        return gpu.runWebGPUProgram(program, [a!, b!], "float32", [M, p.N, p.K, program.words, p.rowOffset].map((v) => ({ type: "int32" as const, data: [v] })));
      },
    });
  }
  if (!tf.getKernel(UNPACK_KERNEL, "webgpu")) {
    tf.registerKernel({
      kernelName: UNPACK_KERNEL,
      backendName: "webgpu",
      kernelFunc: ({ inputs, backend, attrs }) => {
        const { W, ids } = inputs as Record<string, tf.TensorInfo | undefined>;
        const { rows, cols, format, mode, rowOffset } = attrs as unknown as { rows: number; cols: number; format: HalfFormat; mode: "whole" | "transposed" | "ids"; rowOffset: number };
        const words = W!.shape[1];
        const program = new UnpackProgram(rows, cols, format, mode, ids ? ids.shape[0] : 0);
        const [outRows, outCols] = program.outputShape;
        const uniforms = [rows, cols, words, outRows * outCols, outCols, rowOffset].map((v) => ({ type: "int32" as const, data: [v] }));
        return (backend as unknown as WebgpuBackendApi).runWebGPUProgram(program, ids ? [W!, ids] : [W!], "float32", uniforms);
      },
    });
  }
}
