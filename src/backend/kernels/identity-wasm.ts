// While a gradient is taken, tfjs's tape keeps a clone (the Identity kernel) of every input each op saves for its
// backward pass, weights included. cpu and webgpu clone by sharing the buffer; tfjs-wasm copies it, so on wasm a
// backward pass would hold another copy of the weights per matrix product (1.5× the weights for GPT-2 small,
// measured by bench/gradients.ts). For the length of the gradient pass Identity on wasm shares the buffer
// instead, as wasm's own Reshape does: tfjs tensors are immutable, so the clone and the original never diverge.
import * as tf from "@tensorflow/tfjs-core";

export function withSharedClonesOnWasm<T>(fn: () => T): T {
  const original = tf.getKernel("Identity", "wasm");
  if (tf.getBackend() !== "wasm" || !original) return fn();
  tf.unregisterKernel("Identity", "wasm");
  tf.registerKernel({
    kernelName: "Identity",
    backendName: "wasm",
    kernelFunc: ({ inputs, backend }) => {
      const x = inputs.x as tf.TensorInfo;
      if (x.dtype === "string") return (original.kernelFunc as tf.KernelFunc)({ inputs, backend, attrs: {} }) as tf.TensorInfo;
      (backend as unknown as { incRef(id: tf.DataId): void }).incRef(x.dataId);
      return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
    },
  });
  try {
    return fn();
  } finally {
    tf.unregisterKernel("Identity", "wasm");
    tf.registerKernel(original);
  }
}
