// lmprobe's own GPU kernels. The matmul replaces tfjs's BatchMatMul on webgpu (tf.matMul reaches it); the
// logit statistics are a kernel of their own, reached through logitStats().
import * as tf from "@tensorflow/tfjs-core";
import { ArgumentError } from "../../errors";
import { LOGIT_STATS_KERNEL } from "./register";
import { MAX_TOP_K } from "./logit-stats";

export { LOGIT_STATS_KERNEL } from "./register";
export { MAX_TOP_K } from "./logit-stats";
export { planMatMul, type MatMulPlan } from "./batch-matmul";
export { countAbove, fusedBlock, fusedLensRows, type BlockSpec, fusedAttention, fusedAttentionInRows, flashTakesRows, type RowsPlacement, fusedAttentionMask, fusedMlp, mlpRunsInOneCall, fusedNorm, fusedActivation, fusedActivationJoint, fusesActivation, fusedScoresSoftmax, fusedLinear, fusedLinearResidual, fusedLinears, fusedRotaryHalf, fusedRotaryHalfFromQkv, headsScores, headsContext, qkvScores, qkvScoresFit, qkvContext, type QkvLayout, type NormSpec, type FusedActivation, type MlpSpec } from "./fused";

/** Per-row statistics of a [rows, vocab] block of logits. The caller disposes every tensor. */
// A type, not an interface, so that tf.tidy (which returns TensorContainer objects) may return it.
export type LogitStats = {
  /** [rows] log Σ exp(logits). */
  logSumExp: tf.Tensor1D;
  /** [rows] entropy of softmax(logits) in nats. */
  entropy: tf.Tensor1D;
  /** [rows, k] the largest logits, descending (ties: lower id first). */
  topLogits: tf.Tensor2D;
  /** [rows, k] int32 their token ids. */
  topIds: tf.Tensor2D;
};

/** Rows per kernel launch: keeps row · vocab inside the i32 indices the kernel uses. */
function maxRows(vocab: number): number {
  return Math.max(1, Math.floor((2 ** 31 - 1) / vocab));
}

/** Whether the active backend has the fused logit-statistics kernel (webgpu does). */
export function hasLogitStatsKernel(): boolean {
  return tf.getKernel(LOGIT_STATS_KERNEL, tf.getBackend()) != null;
}

/**
 * log Σ exp, entropy and top-k of each row of `logits` [rows, vocab] in one pass on the GPU, or null when
 * the active backend has no such kernel (then compose tfjs ops, as tensor/lens-reduction does).
 */
export function logitStats(logits: tf.Tensor2D, k: number): LogitStats | null {
  if (!hasLogitStatsKernel()) return null;
  if (!logits || logits.rank !== 2) throw new ArgumentError("logits", `has shape [${logits?.shape}]`, "pass a [rows, vocab] tensor");
  const [rows, vocab] = logits.shape;
  if (!Number.isInteger(k) || k < 1 || k > Math.min(MAX_TOP_K, vocab)) {
    throw new ArgumentError("k", `is ${k}`, `use an integer in [1, ${Math.min(MAX_TOP_K, vocab)}]`);
  }
  return tf.tidy(() => {
    const x = logits.dtype === "float32" ? logits : tf.cast(logits, "float32");
    const step = maxRows(vocab);
    const parts: tf.Tensor2D[] = [];
    for (let start = 0; start < rows; start += step) {
      const block = rows <= step ? x : tf.slice(x, [start, 0], [Math.min(step, rows - start), vocab]);
      parts.push(tf.engine().runKernel(LOGIT_STATS_KERNEL, { logits: block }, { k } as unknown as tf.NamedAttrMap) as tf.Tensor2D);
    }
    return unpackLogitStats(parts.length === 1 ? parts[0] : tf.concat(parts, 0), k);
  });
}

/** The statistics kernels' packed rows [rows, 2 + 2k] ([log Σ exp, entropy, top-k logits, top-k ids as floats]) as tensors. */
export function unpackLogitStats(packed: tf.Tensor2D, k: number): LogitStats {
  const rows = packed.shape[0];
  return {
    logSumExp: tf.reshape(tf.slice(packed, [0, 0], [rows, 1]), [rows]) as tf.Tensor1D,
    entropy: tf.reshape(tf.slice(packed, [0, 1], [rows, 1]), [rows]) as tf.Tensor1D,
    topLogits: tf.slice(packed, [0, 2], [rows, k]) as tf.Tensor2D,
    topIds: tf.cast(tf.slice(packed, [0, 2 + k], [rows, k]), "int32") as tf.Tensor2D,
  };
}
