// The lens reduction over any number of rows, returning small host arrays: rows are processed in chunks
// (so the [rows, vocab chunk] logits stay bounded), each chunk's results are copied back and its tensors
// freed before the next one starts. Reports progress and honours an AbortSignal between chunks.
import * as tf from "@tensorflow/tfjs-core";
import { ArgumentError, throwIfAborted } from "../errors";
import { LensReductionOptions, lensReduction } from "./lens-reduction";

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
    let device: ReturnType<typeof toStatTensors> | undefined;
    try {
      device = toStatTensors(chunk, { ...options, targets });
      parts.push(await download(device, end - start));
    } finally {
      chunk.dispose();
      if (device) tf.dispose(Object.values(device));
    }
    options.onProgress?.(end, n);
  }
  return concatStats(parts, options.k ?? 5, n === 0 ? 0 : parts[0].targets);
}

function toStatTensors(rows: tf.Tensor2D, options: LensReductionOptions) {
  const r = lensReduction(rows, options);
  return tf.tidy(() => {
    const lse = tf.expandDims(r.logSumExp, 1);
    // A fully masked row has log Σ exp = −Inf; its log-probabilities are −Inf, not −Inf − (−Inf) = NaN.
    // (Zero-width results are passed through: broadcastTo to a zero-size shape misbehaves on wasm.)
    const logprob = (logits: tf.Tensor) =>
      logits.size === 0
        ? tf.clone(logits)
        : tf.where(tf.isFinite(tf.broadcastTo(lse, logits.shape)), tf.sub(logits, lse), tf.fill(logits.shape, -Infinity));
    const topLogprobs = logprob(r.topLogits);
    const targetLogprobs = logprob(r.targetLogits);
    const out = {
      topIds: tf.clone(r.topIds),
      topLogprobs,
      topProbs: tf.exp(topLogprobs),
      logSumExp: tf.clone(r.logSumExp),
      entropy: tf.clone(r.entropy),
      targetLogprobs,
      targetProbs: tf.exp(targetLogprobs),
      targetRanks: tf.clone(r.targetRanks),
    };
    tf.dispose(Object.values(r));
    return out;
  });
}

async function download(t: ReturnType<typeof toStatTensors>, rows: number): Promise<LensStats> {
  const [topIds, topProbs, topLogprobs, logSumExp, entropy, targetLogprobs, targetProbs, targetRanks] = await Promise.all([
    t.topIds.data(), t.topProbs.data(), t.topLogprobs.data(), t.logSumExp.data(), t.entropy.data(),
    t.targetLogprobs.data(), t.targetProbs.data(), t.targetRanks.data(),
  ]);
  return {
    rows,
    k: t.topIds.shape[1] ?? 0,
    targets: t.targetRanks.shape[1] ?? 0,
    topIds: Int32Array.from(topIds),
    topProbs: Float32Array.from(topProbs),
    topLogprobs: Float32Array.from(topLogprobs),
    logSumExp: Float32Array.from(logSumExp),
    entropy: Float32Array.from(entropy),
    targetLogprobs: Float32Array.from(targetLogprobs),
    targetProbs: Float32Array.from(targetProbs),
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
