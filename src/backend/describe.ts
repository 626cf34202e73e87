// The active backend in words, for provenance: its name and the kernel path that computes with it.
import * as tf from "@tensorflow/tfjs-core";

export function describeBackend(): { name: string; kernels: string } {
  const name = tf.getBackend() ?? "none";
  const kernels =
    name === "webgpu"
      ? `lmprobe WGSL kernels${process.env.LMPROBE_WEBGPU_DISPATCH === "tfjs" ? ", tfjs dispatch" : ", lean dispatch"}`
      : name === "wasm"
        ? "tfjs-backend-wasm (XNNPACK)"
        : name === "cpu"
          ? "tfjs-backend-cpu (JavaScript)"
          : `tfjs ${name}`;
  return { name, kernels };
}
