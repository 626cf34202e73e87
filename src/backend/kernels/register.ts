// Registers lmprobe's WGSL kernels in tfjs's kernel registry for the webgpu backend, so that ops reach them
// through tf.engine().runKernel without knowing which backend runs them.
import * as tf from "@tensorflow/tfjs-core";
import { overrideBatchMatMul, overrideFusedMatMul } from "./batch-matmul";
import { LogitStatsProgram } from "./logit-stats";
import type { WebgpuBackendApi } from "./program";
import { registerFusedKernels } from "./fused";
import { registerPackedKernels } from "./packed";
import { registerSegmentedKernel } from "./segmented";
import { overrideSoftmax } from "./softmax";

export const LOGIT_STATS_KERNEL = "LmprobeLogitStats";

export function registerWebgpuKernels(): void {
  overrideBatchMatMul();
  overrideFusedMatMul();
  overrideSoftmax();
  registerFusedKernels();
  registerPackedKernels();
  registerSegmentedKernel();
  if (!tf.getKernel(LOGIT_STATS_KERNEL, "webgpu")) {
    tf.registerKernel({
      kernelName: LOGIT_STATS_KERNEL,
      backendName: "webgpu",
      kernelFunc: ({ inputs, backend, attrs }) => {
        const logits = (inputs as { logits: tf.TensorInfo }).logits;
        const { k } = attrs as unknown as { k: number };
        const [rows, vocab] = logits.shape;
        const program = new LogitStatsProgram(rows, vocab, k);
        return (backend as unknown as WebgpuBackendApi).runWebGPUProgram(program, [logits], "float32", [
          { type: "int32", data: [rows] },
          { type: "int32", data: [vocab] },
        ]);
      },
    });
  }
}
