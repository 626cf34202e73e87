// The native CPU backend ("cpu-native"): tfjs-backend-cpu's MathBackendCPU (tensors are plain typed arrays in
// this process's memory, no 4 GiB heap) with the heavy kernels replaced by onnxruntime's multi-threaded CPU
// provider (kernels.ts). Every other kernel is tfjs-backend-cpu's own, registered again under this backend's name,
// so the engine, hooks and interventions run unchanged. Available only when onnxruntime-node loads and passes its
// smoke test (runtime.ts); otherwise selection falls back to wasm.
import * as tf from "@tensorflow/tfjs-core";
import { MathBackendCPU } from "@tensorflow/tfjs-backend-cpu";
import { NATIVE_KERNELS, registerNativeLinearResidualKernel, registerNativeLinearsKernel, type CpuBackendApi } from "./kernels";
import { registerNativeRowKernels } from "./row-kernels";
import { registerNativeAttentionKernels } from "./attention";
import { registerNativeMlpKernel } from "./mlp";
import { registerNativeBlockKernel } from "./block";
import { registerNativeLensRowsKernel } from "./lens-rows";
import { nativeStatus } from "./runtime";

export const NATIVE_BACKEND = "cpu-native";
export { nativeStatus, nativeThreads, PINNED_ORT_VERSION, type NativeStatus } from "./runtime";

let defined = false;

/**
 * Registers the backend and its kernels with tfjs (idempotent, cheap: onnxruntime is not loaded until the backend
 * is first activated), so that tf.setBackend("cpu-native") works once lmprobe is imported. Activation fails (tfjs's
 * setBackend returns false) where the native runtime is unavailable.
 */
export function defineNativeBackend(): void {
  if (defined) return;
  defined = true;
  tf.registerBackend(NATIVE_BACKEND, () => {
    const status = nativeStatus();
    if (!status.available) throw new Error(status.reason);
    const backend = new MathBackendCPU();
    (backend as unknown as { firstUse: boolean }).firstUse = false; // its "install tfjs-node" banner is not for us
    return backend;
  }, 0);
  for (const config of tf.getKernelsForBackend("cpu")) {
    const native = NATIVE_KERNELS[config.kernelName];
    const kernelFunc: tf.KernelFunc = native
      ? (args) => native(args as unknown as Parameters<typeof native>[0]) ?? config.kernelFunc(args)
      : config.kernelFunc;
    tf.registerKernel({ ...config, backendName: NATIVE_BACKEND, kernelFunc });
  }
  registerNativeRowKernels(NATIVE_BACKEND);
  registerNativeAttentionKernels(NATIVE_BACKEND);
  registerNativeMlpKernel(NATIVE_BACKEND);
  registerNativeLinearResidualKernel(NATIVE_BACKEND);
  registerNativeLinearsKernel(NATIVE_BACKEND);
  registerNativeBlockKernel(NATIVE_BACKEND);
  registerNativeLensRowsKernel(NATIVE_BACKEND);
}

/** Defines the backend and checks that the native runtime loads; throws its reason when it does not. */
export function registerNativeBackend(): void {
  defineNativeBackend();
  const status = nativeStatus();
  if (!status.available) throw new Error(status.reason);
}

export type { CpuBackendApi };
