// The fused logit-lens reduction. For a chunk of residual rows [n, d] it applies the final norm and the
// unembedding one vocabulary chunk at a time and keeps, per row, only what the probes report: the top-k
// tokens, log Σ exp(logits), the entropy, and the logit and rank of requested target tokens. The [n, vocab]
// logits exist only one vocabulary chunk at a time, so memory does not grow with the vocabulary.
//
// Streaming over vocabulary chunks (online log-sum-exp): with a running maximum M, S = Σ e^(x−M) and
// T = Σ e^(x−M)·(x−M), a new maximum M' rescales them as S ← S·e^(M−M'), T ← e^(M−M')·(T + (M−M')·S).
// At the end log Σ e^x = M + log S and the entropy is log S − T/S. Working relative to M keeps both exact
// for logits of ±1e4 (an unshifted Σ p·x would cancel catastrophically in float32).
import * as tf from "@tensorflow/tfjs-core";
import { weightMatMul, weightMatMulTransposed } from "../backend/packed-weight";
import { ArgumentError } from "../errors";
import { Unembedding, checkUnembedding, unembedIds, unembedSlice, vocabSize } from "./unembedding";
import { capability, countAbove, logitStats, MAX_TOP_K } from "../backend/capabilities";
import { concatReductions, fusedRowBlockReduction, rowBlockReduction, rowBlocksApply } from "./lens-row-blocks";

/** Options of lensReduction(): the unembedding, the final norm, k, targets and the vocabulary chunk. */
export interface LensReductionOptions {
  unembedding: Unembedding;
  /** The model's final norm, applied to each row first (e.g. model.applyFinalNorm). Omit when rows are already normed. */
  finalNorm?: ((rows: tf.Tensor2D) => tf.Tensor) | null;
  /** How many top tokens to keep per row (default 5; 0 keeps none). */
  k?: number;
  /** Target token ids: the same list for every row, or one list per row (all of one length). */
  targets?: readonly number[] | readonly (readonly number[])[];
  /**
   * Vocabulary ids per chunk (default: defaultVocabChunk, ~4 MiB per [rows, chunk] tensor). Where the backend has
   * a fused logit-statistics kernel (webgpu) and k ≤ MAX_TOP_K, leaving this unset makes one pass over the whole
   * vocabulary per block of rows instead (at most fusedLens.blockLogits logits at once); elsewhere, leaving it
   * unset does the same with ordinary kernels when every logit is finite (lens-row-blocks.ts).
   */
  vocabChunk?: number;
}

/** Per-row results, on the device. The caller owns (and disposes) every tensor. */
export interface LensReductionTensors {
  /** [n, k] int32 token ids, most probable first (ties: lower id first). */
  topIds: tf.Tensor2D;
  /** [n, k] their logits. */
  topLogits: tf.Tensor2D;
  /** [n] log Σ exp(logits) over the whole vocabulary. */
  logSumExp: tf.Tensor1D;
  /** [n] entropy in nats. */
  entropy: tf.Tensor1D;
  /** [n, t] target logits (after any softcap). */
  targetLogits: tf.Tensor2D;
  /** [n, t] int32 rank of each target: 1 + the number of other tokens with a strictly larger logit. */
  targetRanks: tf.Tensor2D;
}

/**
 * The default vocabulary chunk: about 2²⁰ floats (4 MiB) per [rows, chunk] or [chunk, d] tensor. A step
 * holds about five such tensors at its peak, so the reduction stays near 20 MiB whatever the vocabulary.
 */
export function defaultVocabChunk(rows: number, dModel: number, vocab: number): number {
  return Math.max(1, Math.min(vocab, Math.floor(2 ** 20 / Math.max(rows, dModel, 1))));
}

/**
 * The lens's reduction of residual rows [n, d_model]: per row the top-k tokens, log-sum-exp, entropy and the
 * targets' ranks, the unembedding streamed over vocabulary chunks. Synchronous; leaves no tensors behind except its
 * result.
 */
export function lensReduction(rows: tf.Tensor2D, options: LensReductionOptions): LensReductionTensors {
  if (!rows || rows.rank !== 2) throw new ArgumentError("rows", `has shape [${rows?.shape}], not [n, d_model]`, "reshape the residual to [rows, d_model]");
  const [n, d] = rows.shape;
  const u = options.unembedding;
  checkUnembedding(u, d);
  const V = vocabSize(u);
  const k = options.k ?? 5;
  if (!Number.isInteger(k) || k < 0 || k > V) throw new ArgumentError("k", `is ${k}`, `use an integer in [0, ${V}]`);
  const chunk = options.vocabChunk ?? defaultVocabChunk(n, d, V);
  if (!Number.isInteger(chunk) || chunk < 1) throw new ArgumentError("vocabChunk", `is ${chunk}`, "use a positive integer");
  const targetIds = targetMatrix(options.targets, n, V);

  const normed = tf.tidy(() => (options.finalNorm ? tf.reshape(options.finalNorm(rows), [n, d]) : tf.clone(rows))) as tf.Tensor2D;
  const ids = tf.tensor2d(targetIds.flat, [n, targetIds.width], "int32");
  // Blocks of rows as one kernel call each where the backend has the kernel (cpu-native).
  const fused = options.vocabChunk === undefined ? fusedRowBlockReduction(normed, u, k, ids) : null;
  if (fused) {
    tf.dispose([normed, ids]);
    return fused;
  }
  // Row blocks next: where they apply (a host backend, finite logits) they bound memory by the block and use the
  // backend's statistics kernel when it has one; a GPU backend (no synchronous finiteness check) takes the fused path.
  // Row blocks read the targets' logits out of each block's logits; the other paths take them as one product first.
  if (options.vocabChunk === undefined && rowBlocksApply(normed, u)) {
    try {
      return rowBlockReduction(normed, u, k, ids);
    } finally {
      tf.dispose([normed, ids]);
    }
  }
  const targetLogits = tf.tidy(() => (targetIds.width > 0 ? unembedIds(normed, u, ids) : tf.zeros([n, 0])) as tf.Tensor2D);
  if (options.vocabChunk === undefined && k <= MAX_TOP_K && capability("logitStats")) {
    try {
      return fusedReduction(normed, u, k, ids, targetLogits);
    } finally {
      tf.dispose([normed, ids, targetLogits]);
    }
  }
  const normedT = u.layout === "vocab_d" ? (tf.transpose(normed) as tf.Tensor2D) : null;

  let state = initialState(n, targetIds.width);
  try {
    for (let start = 0; start < V; start += chunk) {
      const end = Math.min(V, start + chunk);
      const next = tf.tidy(() => step(state, unembedSlice(normed, normedT, u, start, end), start, k, ids, targetLogits) as unknown as tf.TensorContainer) as unknown as State;
      disposeState(state);
      state = next;
    }
    return tf.tidy(() => {
      const logS = tf.log(state.sumExp);
      const h = tf.sub(logS, tf.divNoNan(state.weighted, state.sumExp));
      return {
        topIds: tf.clone(state.topIds),
        topLogits: tf.clone(state.topLogits),
        logSumExp: tf.add(state.max, logS) as tf.Tensor1D,
        // A fully masked row (S = 0) has entropy 0; rounding can leave −1e-7 for a one-hot row.
        entropy: tf.where(tf.greater(state.sumExp, 0), tf.relu(h), tf.zerosLike(h)) as tf.Tensor1D,
        targetLogits: tf.clone(targetLogits),
        targetRanks: tf.add(state.greaterCount, tf.scalar(1, "int32")) as tf.Tensor2D,
      };
    });
  } finally {
    disposeState(state);
    tf.dispose([normed, ids, targetLogits]);
    if (normedT) normedT.dispose();
  }
}

/** Logits [n, vocab] of rows [n, d] in one product (the GPU's matmul takes W_U in either layout as it lies). */
function fullVocabularyLogits(rows: tf.Tensor2D, u: Unembedding): tf.Tensor2D {
  let logits: tf.Tensor = u.layout === "vocab_d" ? weightMatMulTransposed(rows, u.weight) : weightMatMul(rows, u.weight);
  if (u.bias) logits = tf.add(logits, u.bias);
  if (u.softcap != null) logits = tf.mul(tf.tanh(tf.div(logits, u.softcap)), u.softcap);
  return logits as tf.Tensor2D;
}

/**
 * Most logits the fused path holds at once: 2²⁴ floats (64 MiB), so that a probe's lens stays inside the
 * 64 MiB of working memory its budget allows beyond the weights and the residual stream, whatever the
 * vocabulary (target ranks are counted by the backend's countAbove kernel where it has one, else through a
 * comparison of the same size per target). Raise it for speed where memory is plentiful.
 */
export const fusedLens = { blockLogits: 2 ** 24 };

/**
 * The reduction through the backend's fused kernel: per block of rows, the logits over the whole vocabulary
 * and one pass for log Σ exp, entropy and top-k (ties: lower id first, as the chunked path). Target ranks are
 * counted over the same logits.
 */
function fusedReduction(normed: tf.Tensor2D, u: Unembedding, k: number, ids: tf.Tensor2D, targetLogits: tf.Tensor2D): LensReductionTensors {
  const [n, d] = normed.shape;
  const t = ids.shape[1];
  const V = vocabSize(u);
  const step = Math.max(1, Math.floor(fusedLens.blockLogits / V));
  const parts: LensReductionTensors[] = [];
  try {
    for (let start = 0; start < n || (n === 0 && start === 0); start += step) {
      const m = Math.min(step, n - start);
      parts.push(
        tf.tidy(() => {
          const block = <R extends tf.Tensor2D>(x: R) => (m === n ? tf.clone(x) : (tf.slice(x, [start, 0], [m, x.shape[1]]) as R));
          const logits = fullVocabularyLogits(block(normed), u);
          const stats = logitStats(logits, Math.max(k, 1))!;
          const blockTargets = block(targetLogits);
          return {
            topIds: (k > 0 ? stats.topIds : tf.zeros([m, 0], "int32")) as tf.Tensor2D,
            topLogits: (k > 0 ? stats.topLogits : tf.zeros([m, 0])) as tf.Tensor2D,
            logSumExp: stats.logSumExp,
            entropy: stats.entropy,
            targetLogits: blockTargets,
            targetRanks: (t > 0 ? tf.add(countBeating(logits, 0, block(ids), blockTargets), tf.scalar(1, "int32")) : tf.zeros([m, 0], "int32")) as tf.Tensor2D,
          };
        }),
      );
      if (n === 0) break;
    }
    return concatReductions(parts);
  } finally {
    if (parts.length > 1) parts.forEach((p) => tf.dispose(Object.values(p)));
  }
}


interface State {
  max: tf.Tensor1D; // running max of finite logits (−Inf until one is seen)
  sumExp: tf.Tensor1D; // Σ e^(x − max)
  weighted: tf.Tensor1D; // Σ e^(x − max)·(x − max)
  topIds: tf.Tensor2D;
  topLogits: tf.Tensor2D;
  greaterCount: tf.Tensor2D; // per target: other tokens seen so far with a larger logit
}

function initialState(n: number, t: number): State {
  return {
    max: tf.fill([n], -Infinity) as tf.Tensor1D,
    sumExp: tf.zeros([n]) as tf.Tensor1D,
    weighted: tf.zeros([n]) as tf.Tensor1D,
    topIds: tf.zeros([n, 0], "int32") as tf.Tensor2D,
    topLogits: tf.zeros([n, 0]) as tf.Tensor2D,
    greaterCount: tf.zeros([n, t], "int32") as tf.Tensor2D,
  };
}

function disposeState(s: State): void {
  tf.dispose([s.max, s.sumExp, s.weighted, s.topIds, s.topLogits, s.greaterCount]);
}

function step(s: State, logits: tf.Tensor2D, start: number, k: number, targetIds: tf.Tensor2D, targetLogits: tf.Tensor2D): State {
  const newMax = tf.maximum(s.max, tf.max(logits, 1)) as tf.Tensor1D;
  const safeMax = tf.where(tf.isFinite(newMax), newMax, tf.zerosLike(newMax));

  // Rescale the running sums to the new maximum. Until a finite logit has been seen S = 0 and M = −Inf,
  // where M − M' would be NaN: those rows keep S = T = 0.
  const seen = tf.greater(s.sumExp, 0);
  const delta = tf.where(seen, tf.sub(s.max, safeMax), tf.zerosLike(safeMax)); // ≤ 0
  const alpha = tf.where(seen, tf.exp(delta), tf.zerosLike(delta));
  const rescaledWeighted = tf.mul(alpha, tf.add(s.weighted, tf.mul(delta, s.sumExp)));

  // The [n, chunk] temporaries live in inner scopes so that at most a few exist at once. Clamping the
  // shifted logits at −1e30 turns masked (−Inf) entries into e = 0 and e·shift = 0 rather than NaN.
  const [chunkSum, chunkWeighted] = tf.tidy(() => {
    const shifted = tf.tidy(() => tf.maximum(tf.sub(logits, tf.expandDims(safeMax, 1)), -1e30));
    const e = tf.exp(shifted);
    return [tf.sum(e, 1), tf.tidy(() => tf.sum(tf.mul(e, shifted), 1))];
  });

  const state: State = {
    max: newMax,
    sumExp: tf.add(tf.mul(alpha, s.sumExp), chunkSum) as tf.Tensor1D,
    weighted: tf.add(rescaledWeighted, chunkWeighted) as tf.Tensor1D,
    topIds: s.topIds,
    topLogits: s.topLogits,
    greaterCount: s.greaterCount,
  };
  if (k > 0) Object.assign(state, mergeTopK(s, logits, start, k));
  if (targetIds.shape[1] > 0) {
    state.greaterCount = tf.add(s.greaterCount, countBeating(logits, start, targetIds, targetLogits)) as tf.Tensor2D;
  }
  // Keep the state tensors out of this step's tidy disposal; the caller disposes the previous state.
  if (state.topIds === s.topIds) state.topIds = tf.clone(s.topIds);
  if (state.topLogits === s.topLogits) state.topLogits = tf.clone(s.topLogits);
  if (state.greaterCount === s.greaterCount) state.greaterCount = tf.clone(s.greaterCount);
  return state;
}

/**
 * [n, t] int32: how many tokens of this chunk have a larger logit than each target, not counting the target
 * itself (its logit here and in targetLogits come from different products and may differ in the last bit).
 */
function countBeating(logits: tf.Tensor2D, start: number, targetIds: tf.Tensor2D, targetLogits: tf.Tensor2D): tf.Tensor {
  return tf.tidy(() => {
    const [n, c] = logits.shape;
    const t = targetIds.shape[1];
    // One pass where the backend has the kernel (webgpu, cpu-native); else a [n, t, c] comparison summed.
    const all = countAbove(logits, targetLogits) ?? tf.tidy(() => tf.sum(tf.cast(tf.greater(tf.expandDims(logits, 1), tf.expandDims(targetLogits, 2)), "int32"), 2));
    // The target's own entry in this chunk, read by flat index (row·c + local id); 0 when outside the chunk
    // (a select, not clipByValue, which ignores its upper bound for int32 on the wasm backend).
    const local = tf.sub(targetIds, tf.scalar(start, "int32"));
    const inChunk = tf.logicalAnd(tf.greaterEqual(local, 0), tf.less(local, c));
    const flatIdx = tf.add(tf.where(inChunk, local, tf.zerosLike(local)), tf.reshape(tf.range(0, n * c, c, "int32"), [n, 1]));
    const own = tf.reshape(tf.gather(tf.reshape(logits, [-1]), tf.reshape(flatIdx, [-1])), [n, t]);
    const selfCounted = tf.cast(tf.logicalAnd(inChunk, tf.greater(own, targetLogits)), "int32");
    return tf.sub(all, selfCounted);
  });
}

/** Top-k of [previous top-k ‖ this chunk's top-k]. Earlier chunks come first, so ties keep the lower id. */
function mergeTopK(s: State, logits: tf.Tensor2D, start: number, k: number): Pick<State, "topIds" | "topLogits"> {
  const [n, c] = logits.shape;
  const local = tf.topk(logits, Math.min(k, c), true);
  const values = tf.concat([s.topLogits, local.values], 1);
  const ids = tf.concat([s.topIds, tf.add(local.indices, tf.scalar(start, "int32"))], 1);
  const width = values.shape[1];
  const best = tf.topk(values, Math.min(k, width), true);
  // Gather ids by flat index (row·width + column): tf.gather with batchDims is wrong on the wasm backend.
  const rowOffsets = tf.reshape(tf.range(0, n * width, width, "int32"), [n, 1]);
  const flatIdx = tf.reshape(tf.add(best.indices, rowOffsets), [-1]);
  const merged = tf.reshape(tf.gather(tf.reshape(ids, [-1]), flatIdx), [n, best.indices.shape[1]]);
  return { topIds: merged as tf.Tensor2D, topLogits: best.values as tf.Tensor2D };
}

interface TargetMatrix {
  flat: Int32Array;
  width: number;
}

function targetMatrix(targets: LensReductionOptions["targets"], n: number, V: number): TargetMatrix {
  if (!targets || targets.length === 0) return { flat: new Int32Array(0), width: 0 };
  const perRow = Array.isArray(targets[0]);
  if (perRow && targets.length !== n) {
    throw new ArgumentError("targets", `has ${targets.length} lists for ${n} rows`, "give one list per row, or one flat list for all rows");
  }
  const rows = perRow ? (targets as number[][]) : Array.from({ length: n }, () => targets as number[]);
  const width = rows[0].length;
  const flat = new Int32Array(n * width);
  rows.forEach((list, r) => {
    if (!Array.isArray(list) || list.length !== width) {
      throw new ArgumentError("targets", `row ${r} has ${list?.length} ids, row 0 has ${width}`, "give every row the same number of targets");
    }
    list.forEach((id, j) => {
      if (!Number.isInteger(id) || id < 0 || id >= V) {
        throw new ArgumentError("targets", `holds ${id}, outside the vocabulary [0, ${V})`, "pass token ids of this model");
      }
      flat[r * width + j] = id;
    });
  });
  return { flat, width };
}
