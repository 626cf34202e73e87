// tf.softmax on webgpu through lmprobe's SoftmaxProgram (row-programs.ts) instead of tfjs-webgpu's kernel, whose
// maximum starts above the float32 minimum: rows of nothing but that minimum (fully masked attention rows, the
// padding positions of a left-padded batch) came out NaN, and through the keys of the next layer the NaN reached
// every position of the batch (all logits NaN whenever the composed attention path ran: hook_attn_scores
// observed, a gradient being taken, LMPROBE_WEBGPU_FUSED=off, or more keys than the fused kernel takes).
import * as tf from "@tensorflow/tfjs-core";
import { SoftmaxProgram } from "./row-programs";
import { replaceWebgpuKernel, type WebgpuBackendApi } from "./program";

/** Replaces the webgpu Softmax kernel (idempotent); tfjs's stays for what this one does not take. */
export function overrideSoftmax(): void {
  replaceWebgpuKernel("Softmax", (original) => (args) => {
    const logits = (args.inputs as { logits: tf.TensorInfo }).logits;
    const dim = (args.attrs as unknown as { dim: number }).dim;
    const last = dim === -1 || dim === logits.shape.length - 1;
    if (logits.dtype !== "float32" || !last || logits.shape.length === 0) return original(args);
    const program = new SoftmaxProgram(logits.shape);
    return (args.backend as unknown as WebgpuBackendApi).runWebGPUProgram(program, [logits], "float32", [
      { type: "int32", data: [program.rows] },
      { type: "int32", data: [program.width] },
    ]);
  });
}
