// Routes tfjs's BatchMatMul on the webgpu backend to MatMulTiledProgram when the shapes suit it, and to
// tfjs-webgpu's own kernel otherwise (small products, transposed A, unaligned K, broadcast batch shapes).
import * as tf from "@tensorflow/tfjs-core";
import { MatMulTiledProgram, TILE, type MatMulLayout } from "./matmul";
import { withShape, type WebgpuBackendApi } from "./program";

export interface MatMulPlan {
  batch: number;
  M: number;
  N: number;
  K: number;
  layout: MatMulLayout;
  aBatched: boolean;
  bBatched: boolean;
  outShape: number[];
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
  return { batch, M, N, K, layout, aBatched: batchA > 1, bBatched: batchB > 1, outShape: [...outer, M, N] };
}

/** Runs the tiled program for a plan; returns a TensorInfo owned by the backend (shape plan.outShape). */
export function runMatMulPlan(backend: WebgpuBackendApi, a: tf.TensorInfo, b: tf.TensorInfo, plan: MatMulPlan, bias: tf.TensorInfo | null = null): tf.TensorInfo {
  const { batch, M, N, K, layout } = plan;
  const program = new MatMulTiledProgram(batch, M, N, layout, bias != null);
  const a3 = withShape(a, [plan.aBatched ? batch : 1, M, K]);
  const b3 = withShape(b, layout === "nt" ? [plan.bBatched ? batch : 1, N, K] : [plan.bBatched ? batch : 1, K, N]);
  // One entry per scalar: tfjs aligns each entry by its length, so a 5-long entry would not match the struct.
  const uniforms = [M, N, K, plan.aBatched ? 1 : 0, plan.bBatched ? 1 : 0].map((v) => ({ type: "int32" as const, data: [v] }));
  const inputs = bias ? [a3, b3, withShape(bias, [N])] : [a3, b3];
  const out = backend.runWebGPUProgram(program, inputs, "float32", uniforms);
  // Give the result its real shape through the backend's Reshape kernel (it shares the buffer).
  const reshape = tf.getKernel("Reshape", "webgpu")!;
  const shaped = reshape.kernelFunc({ inputs: { x: out }, backend: backend as unknown as tf.KernelBackend, attrs: { shape: plan.outShape } }) as tf.TensorInfo;
  backend.disposeData(out.dataId);
  return shaped;
}

let original: tf.KernelConfig | null = null;

/** Replaces the webgpu BatchMatMul kernel with one that prefers the tiled program (idempotent). */
export function overrideBatchMatMul(): void {
  if (original) return;
  const existing = tf.getKernel("BatchMatMul", "webgpu");
  if (!existing) return;
  original = { ...existing } as tf.KernelConfig;
  tf.unregisterKernel("BatchMatMul", "webgpu");
  tf.registerKernel({
    kernelName: "BatchMatMul",
    backendName: "webgpu",
    kernelFunc: (args) => {
      const { a, b } = args.inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
      const { transposeA, transposeB } = args.attrs as unknown as { transposeA: boolean; transposeB: boolean };
      const plan = a.dtype === "float32" && b.dtype === "float32" && process.env.LMPROBE_WEBGPU_MATMUL !== "tfjs" ? planMatMul(a.shape, b.shape, transposeA, transposeB) : null;
      if (!plan) return original!.kernelFunc(args);
      return runMatMulPlan(args.backend as unknown as WebgpuBackendApi, a, b, plan);
    },
  });
}

let originalFused: tf.KernelConfig | null = null;

/**
 * Replaces the webgpu _FusedMatMul kernel (tf.fused.matMul) with one that runs a plain bias epilogue in the tiled
 * program; activations, PReLU weights and broadcast biases stay with tfjs's kernel (idempotent).
 */
export function overrideFusedMatMul(): void {
  if (originalFused) return;
  const existing = tf.getKernel("_FusedMatMul", "webgpu");
  if (!existing) return;
  originalFused = { ...existing } as tf.KernelConfig;
  tf.unregisterKernel("_FusedMatMul", "webgpu");
  tf.registerKernel({
    kernelName: "_FusedMatMul",
    backendName: "webgpu",
    kernelFunc: (args) => {
      const { a, b, bias, preluActivationWeights } = args.inputs as Record<string, tf.TensorInfo | undefined>;
      const { transposeA, transposeB, activation } = args.attrs as unknown as { transposeA: boolean; transposeB: boolean; activation: string };
      const plan =
        a!.dtype === "float32" && b!.dtype === "float32" && process.env.LMPROBE_WEBGPU_MATMUL !== "tfjs" && activation === "linear" && !preluActivationWeights
          ? planMatMul(a!.shape, b!.shape, transposeA, transposeB)
          : null;
      const N = plan?.N;
      const biasFits = !bias || (bias.dtype === "float32" && bias.shape[bias.shape.length - 1] === N && product(bias.shape) === N);
      if (!plan || !biasFits) return originalFused!.kernelFunc(args);
      return runMatMulPlan(args.backend as unknown as WebgpuBackendApi, a!, b!, plan, bias ?? null);
    },
  });
}
