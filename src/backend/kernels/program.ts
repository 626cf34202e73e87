// The minimal shape of a tfjs-backend-webgpu program (its WebGPUProgram interface is not exported from the
// package's entry point) and of the backend methods lmprobe's kernels call.
import * as tf from "@tensorflow/tfjs-core";

export interface WebgpuProgram {
  outputShape: number[];
  shaderKey: string;
  dispatchLayout: { x: number[]; y?: number[]; z?: number[] };
  dispatch: [number, number, number];
  variableNames: string[];
  /** vec width of each input binding (1 or 4). */
  variableComponents?: number[];
  outputComponent?: number;
  workgroupSize: [number, number, number];
  /** Extra uniform fields, WGSL struct syntax ("M : i32, N : i32,"). */
  uniforms?: string;
  size?: boolean;
  getUserCode(): string;
}

export interface WebgpuBackendApi {
  runWebGPUProgram(
    program: WebgpuProgram,
    inputs: tf.TensorInfo[],
    outputDtype: tf.DataType,
    uniforms?: { type: "int32" | "float32" | "uint32"; data: number[] }[],
    output?: tf.TensorInfo,
  ): tf.TensorInfo;
  disposeData(dataId: object, force?: boolean): boolean;
  device: GPUDevice;
}

/** The same data seen with another shape: what reshape does for a contiguous tensor, without a new buffer. */
export function withShape(t: tf.TensorInfo, shape: number[]): tf.TensorInfo {
  return { dataId: t.dataId, shape, dtype: t.dtype };
}

const replaced = new Set<string>();

/**
 * Replaces tfjs-webgpu's kernel `kernelName` with `make(original)`, which may hand back to the original for what it
 * does not take (idempotent: the first replacement stays). Nothing happens where webgpu has no such kernel.
 */
export function replaceWebgpuKernel(kernelName: string, make: (original: tf.KernelFunc) => tf.KernelFunc): void {
  if (replaced.has(kernelName)) return;
  const existing = tf.getKernel(kernelName, "webgpu");
  if (!existing) return;
  replaced.add(kernelName);
  const original = existing.kernelFunc as tf.KernelFunc;
  tf.unregisterKernel(kernelName, "webgpu");
  tf.registerKernel({ ...existing, kernelFunc: make(original) });
}
