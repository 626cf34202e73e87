// The lens reduction over any number of rows, returning small host arrays: rows are processed in chunks
// (so the [rows, vocab chunk] logits stay bounded), each chunk's results are copied back and its tensors
// freed before the next one starts. Reports progress and honours an AbortSignal between chunks.
import * as tf from "@tensorflow/tfjs-core";
import { ArgumentError, throwIfAborted } from "../errors";
import { type LensReductionOptions, type LensReductionTensors, lensReduction } from "./lens-reduction";

export interface LensReduceOptions extends LensReductionOptions {
  /** Rows per chunk (default 2048: each chunk reads the whole unembedding once, so larger chunks amortise it). */
  rowChunk?: number;
  /** Called after each chunk with (rows done, rows in all). */
  onProgress?: (done: number, total: number) => void;
  signal?: AbortSignal;
}

/** Host copy of the reduction for n rows, k top tokens and t targets (row-major). */
export interface LensStats {
  rows: number;
  k: number;
  targets: number;
  /** [n·k] token ids, most probable first. */
  topIds: Int32Array;
  /** [n·k] probabilities and log-probabilities of those tokens. */
  topProbs: Float32Array;
  topLogprobs: Float32Array;
  /** [n] log Σ exp(logits). */
  logSumExp: Float32Array;
  /** [n] entropy in nats. */
  entropy: Float32Array;
  /** [n·t] per target: log-probability, probability, and rank (1 = most probable). */
  targetLogprobs: Float32Array;
  targetProbs: Float32Array;
  targetRanks: Int32Array;
}

/** The lens reduction of `rows` [n, d_model], chunked over rows and vocabulary. */
export async function lensReduce(rows: tf.Tensor2D, options: LensReduceOptions): Promise<LensStats> {
  if (!rows || rows.rank !== 2) throw new ArgumentError("rows", `has shape [${rows?.shape}], not [n, d_model]`, "reshape the residual to [rows, d_model]");
  const [n, d] = rows.shape;
  // With a signal or a progress callback, at least ~8 chunks, so cancelling and progress act during the lens.
  const observed = options.signal !== undefined || options.onProgress !== undefined;
  const rowChunk = options.rowChunk ?? (observed ? Math.min(2048, Math.max(1, Math.ceil(n / 8))) : 2048);
  if (!Number.isInteger(rowChunk) || rowChunk < 1) throw new ArgumentError("rowChunk", `is ${rowChunk}`, "use a positive integer");
  const perRowTargets = options.targets && options.targets.length > 0 && Array.isArray(options.targets[0]);
  if (perRowTargets && options.targets!.length !== n) {
    throw new ArgumentError("targets", `has ${options.targets!.length} lists for ${n} rows`, "give one list per row, or one flat list for all rows");
  }
  const parts: LensStats[] = [];
  for (let start = 0; start < n; start += rowChunk) {
    throwIfAborted(options.signal, "logit lens");
    const end = Math.min(n, start + rowChunk);
    const targets = perRowTargets ? (options.targets as number[][]).slice(start, end) : options.targets;
    const chunk = tf.slice(rows, [start, 0], [end - start, d]);
    let device: LensReductionTensors | undefined;
    try {
      device = lensReduction(chunk, { ...options, targets });
      parts.push(await download(device, end - start));
    } finally {
      chunk.dispose();
      if (device) tf.dispose(Object.values(device));
    }
    options.onProgress?.(end, n);
  }
  return concatStats(parts, options.k ?? 5, n === 0 ? 0 : parts[0].targets);
}

/**
 * The chunk's results on the host. Log-probabilities (logit − log Σ exp) and probabilities are derived here, in
 * float32 as the device would round them: a handful of values per row, where each device op would cost more to
 * launch than to compute. A fully masked row has log Σ exp = −Inf; its log-probabilities are −Inf, not
 * −Inf − (−Inf) = NaN.
 */
async function download(t: LensReductionTensors, rows: number): Promise<LensStats> {
  const [topIds, topLogits, logSumExp, entropy, targetLogits, targetRanks] = await Promise.all([
    t.topIds.data(), t.topLogits.data(), t.logSumExp.data(), t.entropy.data(), t.targetLogits.data(), t.targetRanks.data(),
  ]);
  const k = t.topIds.shape[1] ?? 0;
  const targets = t.targetRanks.shape[1] ?? 0;
  const lse = Float32Array.from(logSumExp);
  const logprobsOf = (logits: ArrayLike<number>, perRow: number) => {
    const logprobs = new Float32Array(rows * perRow);
    const probs = new Float32Array(rows * perRow);
    for (let r = 0; r < rows; r++) {
      const finite = Number.isFinite(lse[r]);
      for (let j = 0; j < perRow; j++) {
        const at = r * perRow + j;
        logprobs[at] = finite ? logits[at] - lse[r] : -Infinity; // stored as float32: tf.sub's rounding
        probs[at] = Math.exp(logprobs[at]);
      }
    }
    return { logprobs, probs };
  };
  const top = logprobsOf(topLogits, k);
  const target = logprobsOf(targetLogits, targets);
  return {
    rows,
    k,
    targets,
    topIds: Int32Array.from(topIds),
    topProbs: top.probs,
    topLogprobs: top.logprobs,
    logSumExp: lse,
    entropy: Float32Array.from(entropy),
    targetLogprobs: target.logprobs,
    targetProbs: target.probs,
    targetRanks: Int32Array.from(targetRanks),
  };
}

function concatStats(parts: LensStats[], k: number, t: number): LensStats {
  const join = <A extends Float32Array | Int32Array>(key: keyof LensStats, make: (n: number) => A): A => {
    const arrays = parts.map((p) => p[key] as A);
    const out = make(arrays.reduce((s, a) => s + a.length, 0));
    let o = 0;
    for (const a of arrays) {
      out.set(a, o);
      o += a.length;
    }
    return out;
  };
  const f32 = (n: number) => new Float32Array(n);
  const i32 = (n: number) => new Int32Array(n);
  return {
    rows: parts.reduce((s, p) => s + p.rows, 0),
    k: parts[0]?.k ?? k,
    targets: t,
    topIds: join("topIds", i32),
    topProbs: join("topProbs", f32),
    topLogprobs: join("topLogprobs", f32),
    logSumExp: join("logSumExp", f32),
    entropy: join("entropy", f32),
    targetLogprobs: join("targetLogprobs", f32),
    targetProbs: join("targetProbs", f32),
    targetRanks: join("targetRanks", i32),
  };
}
