// The lens reduction in blocks of rows over the whole vocabulary, on host backends (wasm, cpu, cpu-native; on
// cpu-native each block is one kernel call, see fusedRowBlockReduction, or where that declines its statistics and
// target ranks are one kernel each, see reduceBlock). Streaming over vocabulary chunks (lens-reduction.ts) gathers a chunk of the unembedding for
// every chunk of rows, keeps a running state per row and, on wasm, pays for a gather (~30 ns per element), a
// transposed product and ~15 passes over each chunk's logits. Here each block of rows takes one plain product with
// the unembedding as it lies in memory (the fast XNNPACK path, no gather, no copy of the matrix) and then a handful
// of passes over its [rows, vocab] logits: max, softmax (one fused kernel on wasm), top-k and target ranks. Memory
// stays bounded by the block: 4 × rowBlockLens.blockLogits logits in all, as four tensors of the composed path or,
// with the statistics kernel, one [rows, vocab] logits tensor of four times the rows (rowsPerBlock).
//
// With p = softmax(x) and m = max(x): S = Σ e^(x−m) = 1 / p(argmax) (the softmax divides e^0 = 1 by S there), so
// log Σ e^x = m + log S and the entropy is log S − Σ p·(x − m): the formulas of the streaming path, taken relative
// to the maximum so that logits of ±1e4 stay exact.
import * as tf from "@tensorflow/tfjs-core";
import { isPacked, weightMatMul, weightMatMulTransposed } from "../backend/packed-weight";
import { capability, countAbove, fusedLensRows, logitStats, MAX_TOP_K, unpackLogitStats } from "../backend/capabilities";
import type { LensReductionTensors } from "./lens-reduction";
import { type Unembedding, vocabSize } from "./unembedding";

/** Logits per [rows, vocab] tensor of a block: 2²¹ floats (8 MiB); tests lower it to force several blocks. */
export const rowBlockLens = { blockLogits: 2 ** 21 };

/**
 * Rows per block of an unembedding `u` with top-`k`. The composed reduction holds up to four [rows, vocab] tensors at
 * once (logits, softmax, and the temporaries of its sums), as do a bias add or a softcap; with the backend's
 * statistics kernel (cpu-native), no bias and no softcap, only the logits are that large (the kernel and the rank
 * count bound their own temporaries), so the same memory takes four times the rows. More rows per block means fewer
 * passes over the unembedding: for Qwen2.5-1.5B's 151936 × 1536 matrix (933 MB), a product of 13 rows took ~20–38 ms
 * per row and one of 52 rows ~7–13 ms (measured on 2 shared cores).
 */
export function rowsPerBlock(u: Unembedding, k: number): number {
  const lean = k <= MAX_TOP_K && capability("logitStats") && !u.bias && u.softcap == null;
  return Math.max(1, Math.floor((4 * rowBlockLens.blockLogits) / ((lean ? 1 : 4) * Math.max(1, vocabSize(u)))));
}

/**
 * Whether the row-block reduction applies: the whole vocabulary of one row fits a block, and every logit will be
 * finite (finite rows and bias). Masked (−Infinity) biases and non-finite rows take the streaming path, whose
 * running state handles them.
 */
export function rowBlocksApply(normed: tf.Tensor2D, u: Unembedding): boolean {
  if (vocabSize(u) > rowBlockLens.blockLogits || normed.shape[0] === 0) return false;
  // The finiteness check reads a flag back synchronously, which a GPU backend cannot do in Node: there the
  // streaming path (whose running state handles non-finite logits) serves instead.
  if (capability("asyncReadbackOnly")) return false;
  // One loop over the values where they lie (a host backend's dataSync shares or copies them): isFinite and all as
  // tfjs kernels were two more passes and a bool tensor as large as the rows.
  const finite = (x: tf.Tensor) => {
    const values = x.dataSync() as Float32Array;
    for (let i = 0; i < values.length; i++) if (values[i] - values[i] !== 0) return false; // NaN and ±Infinity give NaN
    return true;
  };
  return finite(normed) && (!u.bias || finite(u.bias));
}

/**
 * Rows per call of the backend's whole-lens kernel (fusedLensRows): the rows of a lean row block (rowsPerBlock),
 * shared among the targets, since the kernel's rank comparison holds one [rows, vocab] per target. Inside the kernel a
 * block's logits and the temporaries of its statistics take about as much memory as the separate calls' logits,
 * statistics blocks and transposed product did (peak RSS of bench/cpu-vs-torch.mjs's probe, before → after:
 * GPT-2-small T = 128 1041 → 1057 MB, T = 512 1171 → 1182 MB, Qwen2.5-1.5B 6534 → 6571 MB).
 */
export function fusedRowsPerBlock(u: Unembedding, targets: number): number {
  return Math.max(1, Math.floor((4 * rowBlockLens.blockLogits) / (Math.max(1, vocabSize(u)) * Math.max(1, targets))));
}

/**
 * The whole reduction of `normed` [n, d] as one kernel call per block of rows where the backend has the kernel
 * (cpu-native: backend/native/lens-rows.ts), rank comparisons included, the logits never leaving it; null otherwise,
 * and where a logit is not finite (the separate row blocks and the streaming path handle those). Needs no
 * finiteness check of its own: a NaN or infinite row makes its statistics non-finite, and the kernel declines.
 * Against the separate calls (product, statistics, target columns, rank counts) it saves a pass over every block of
 * logits per call, the transposed product's copy and JavaScript's handling of the logits tensor: on GPT-2-small at
 * T = 128 (2 cores) the probe is 1.36× faster on two threads and 1.03× on one
 * (bench/results/cpu/ab-fused-lens-blocks.jsonl).
 * The caller disposes the result.
 */
export function fusedRowBlockReduction(normed: tf.Tensor2D, u: Unembedding, k: number, ids: tf.Tensor2D): LensReductionTensors | null {
  if (u.bias || u.softcap != null || isPacked(u.weight) || k > MAX_TOP_K || capability("asyncReadbackOnly") || normed.shape[0] === 0) return null;
  const n = normed.shape[0];
  const step = fusedRowsPerBlock(u, ids.shape[1]);
  const top = Math.max(k, 1);
  const parts: LensReductionTensors[] = [];
  const disposeParts = () => parts.forEach((p) => tf.dispose(Object.values(p)));
  try {
    for (let start = 0; start < n; start += step) {
      const m = Math.min(step, n - start);
      const part = tf.tidy(() => {
        const rows = <R extends tf.Tensor2D>(x: R) => (m === n ? x : (tf.slice(x, [start, 0], [m, x.shape[1]]) as R));
        const out = fusedLensRows(rows(normed), u.weight as tf.Tensor2D, u.layout === "vocab_d", top, rows(ids));
        if (!out) return {};
        const stats = unpackLogitStats(out.stats, top);
        return {
          topIds: (k > 0 ? stats.topIds : tf.zeros([m, 0], "int32")) as tf.Tensor2D,
          topLogits: (k > 0 ? stats.topLogits : tf.zeros([m, 0])) as tf.Tensor2D,
          logSumExp: stats.logSumExp,
          entropy: stats.entropy,
          targetLogits: tf.clone(out.targets),
          targetRanks: tf.add(out.counts, tf.scalar(1, "int32")) as tf.Tensor2D,
        } as unknown as tf.TensorContainer;
      }) as unknown as Partial<LensReductionTensors>;
      if (!part.logSumExp) {
        disposeParts();
        return null;
      }
      parts.push(part as LensReductionTensors);
    }
    const whole = concatReductions(parts);
    if (parts.length > 1) disposeParts();
    return whole;
  } catch (err) {
    disposeParts();
    throw err;
  }
}

/** The reduction of `normed` [n, d] (already final-normed) in blocks of rows. The caller disposes the result. */
export function rowBlockReduction(normed: tf.Tensor2D, u: Unembedding, k: number, ids: tf.Tensor2D): LensReductionTensors {
  const n = normed.shape[0];
  const step = rowsPerBlock(u, k);
  const parts: LensReductionTensors[] = [];
  try {
    for (let start = 0; start < n; start += step) {
      const m = Math.min(step, n - start);
      const rows = <R extends tf.Tensor2D>(x: R) => (m === n ? tf.clone(x) : (tf.slice(x, [start, 0], [m, x.shape[1]]) as R));
      parts.push(tf.tidy(() => reduceBlock(rows(normed), u, k, rows(ids)) as unknown as tf.TensorContainer) as unknown as LensReductionTensors);
    }
    return concatReductions(parts);
  } finally {
    if (parts.length > 1) parts.forEach((p) => tf.dispose(Object.values(p)));
  }
}

/**
 * One block: rows [m, d] → per-row statistics. The targets' logits are read out of the block's own logits, so that
 * a rank counts exactly the tokens whose logit in the same product is larger. Call inside tf.tidy.
 */
function reduceBlock(rows: tf.Tensor2D, u: Unembedding, k: number, ids: tf.Tensor2D): LensReductionTensors {
  const m = rows.shape[0];
  const logits = tf.tidy(() => blockLogits(rows, u));
  const targetLogits = targetColumns(logits, ids);
  // The backend's one-pass statistics kernel where it has one (cpu-native): the same quantities, fewer passes.
  const stats = k <= MAX_TOP_K && capability("logitStats") ? logitStats(logits, Math.max(k, 1)) : null;
  if (stats) {
    return {
      topIds: (k > 0 ? stats.topIds : tf.zeros([m, 0], "int32")) as tf.Tensor2D,
      topLogits: (k > 0 ? stats.topLogits : tf.zeros([m, 0])) as tf.Tensor2D,
      logSumExp: stats.logSumExp,
      entropy: stats.entropy,
      targetLogits,
      targetRanks: targetRanks(logits, targetLogits),
    };
  }
  const max = tf.max(logits, 1) as tf.Tensor1D;
  const [logS, weighted] = tf.tidy(() => {
    const p = tf.softmax(logits);
    const logSumShifted = tf.neg(tf.log(tf.max(p, 1)));
    const pShifted = tf.tidy(() => tf.sum(tf.mul(p, tf.sub(logits, tf.expandDims(max, 1))), 1));
    return [logSumShifted, pShifted];
  });
  const top = k > 0 ? tf.topk(logits, k, true) : null;
  return {
    topIds: (top ? top.indices : tf.zeros([m, 0], "int32")) as tf.Tensor2D,
    topLogits: (top ? top.values : tf.zeros([m, 0])) as tf.Tensor2D,
    logSumExp: tf.add(max, logS) as tf.Tensor1D,
    // Rounding can leave −1e-7 for a one-hot row.
    entropy: tf.relu(tf.sub(logS, weighted)) as tf.Tensor1D,
    targetLogits,
    targetRanks: targetRanks(logits, targetLogits),
  };
}

/**
 * Logits [m, vocab] of rows [m, d]. A [vocab, d] matrix (tied embeddings, lm_head) is multiplied as W · rowsᵀ and
 * the small result transposed: tfjs-wasm runs a product on XNNPACK only when neither operand is transposed.
 */
function blockLogits(rows: tf.Tensor2D, u: Unembedding): tf.Tensor2D {
  let logits: tf.Tensor;
  if (u.layout === "d_vocab") logits = weightMatMul(rows, u.weight);
  else if (capability("untransposedMatMul") && !isPacked(u.weight)) logits = tf.transpose(tf.matMul(u.weight, tf.transpose(rows)));
  else logits = weightMatMulTransposed(rows, u.weight);
  if (u.bias) logits = tf.add(logits, u.bias);
  if (u.softcap != null) logits = tf.mul(tf.tanh(tf.div(logits, u.softcap)), u.softcap);
  return logits as tf.Tensor2D;
}

/** [m, t]: the logits of each row's target ids [m, t] in the block's logits [m, vocab]. */
function targetColumns(logits: tf.Tensor2D, ids: tf.Tensor2D): tf.Tensor2D {
  const [m, V] = logits.shape;
  const t = ids.shape[1];
  if (t === 0) return tf.zeros([m, 0]) as tf.Tensor2D;
  // A flat-index gather reshapes the whole [m, vocab] block, which tfjs's memory accounting counts as a second copy
  // of it (the bytes of every tensor handle, shared or not): the batched gather where the backend's is right.
  return tf.tidy(() =>
    capability("batchedGather")
      ? tf.gather(logits, ids, 1, 1)
      : tf.reshape(tf.gather(tf.reshape(logits, [-1]), tf.reshape(tf.add(ids, tf.reshape(tf.range(0, m * V, V, "int32"), [m, 1])), [-1])), [m, t]),
  ) as tf.Tensor2D;
}

/**
 * [m, t] int32: 1 + the number of tokens whose logit is strictly larger than each target's (its own is not: the
 * target's logit is read from the same block). The backend's one-pass count where it has one (cpu-native); else
 * Σ step(x − target) (x > target exactly when x − target > 0 for finite floats), which the wasm backend runs
 * several times faster than a broadcast comparison.
 */
function targetRanks(logits: tf.Tensor2D, targetLogits: tf.Tensor2D): tf.Tensor2D {
  const [m] = logits.shape;
  const t = targetLogits.shape[1];
  if (t === 0) return tf.zeros([m, 0], "int32") as tf.Tensor2D;
  return tf.tidy(() => {
    const counted = countAbove(logits, targetLogits);
    const beating = counted ?? tf.cast(tf.stack(Array.from({ length: t }, (_, j) => tf.sum(tf.step(tf.sub(logits, tf.slice(targetLogits, [0, j], [m, 1]))), 1)), 1), "int32");
    return tf.add(beating, tf.scalar(1, "int32")) as tf.Tensor2D;
  });
}

/** The statistics of consecutive row blocks as one result (the blocks themselves are left to the caller). */
export function concatReductions(parts: LensReductionTensors[]): LensReductionTensors {
  if (parts.length === 1) return parts[0];
  return tf.tidy(() => {
    const join = <K extends keyof LensReductionTensors>(key: K) => tf.concat(parts.map((p) => p[key]), 0) as LensReductionTensors[K];
    return { topIds: join("topIds"), topLogits: join("topLogits"), logSumExp: join("logSumExp"), entropy: join("entropy"), targetLogits: join("targetLogits"), targetRanks: join("targetRanks") };
  });
}
