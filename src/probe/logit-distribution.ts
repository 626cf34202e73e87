// The whole next-token distribution at a few positions: histograms of the raw logits and of the log-probabilities
// over the entire vocabulary, and vocabulary-wide statistics (mean, spread, log-sum-exp, entropy, effective
// vocabulary), all reduced on the device: only the bin counts and a handful of scalars per position come back.
import * as tf from "@tensorflow/tfjs-core";
import { entropy } from "../tensor/entropy";
import { histogram } from "../tensor/histogram";
import { ColumnBuilder, type Table } from "./table";
import { tokenTextLookup } from "./token-texts";
import { resolvePositions } from "./tokens";
import type { ProbeInput, ProbeModel } from "./types";

/** Positions and bins of logitDistribution(). */
export interface LogitDistributionOptions {
  /** Positions (default "last"; negative counts from the end). */
  positions?: number[] | "all" | "last";
  /** Bins per histogram (default 60). */
  bins?: number;
  prependBos?: boolean;
}

/** logitDistribution()'s histogram and statistics tables. */
export interface LogitDistributionResult {
  /** position, input_token, kind ("logit" | "logprob"), bin, lower, upper, count. */
  histogram: Table;
  /** position, input_token, mean, std, min, max, log_sum_exp, entropy, effective_vocabulary, top_prob, top_token,
   *  non_finite. */
  stats: Table;
}

/** Histograms of the logits and log-probabilities over the whole vocabulary at some positions, with vocabulary-wide statistics. */
export async function logitDistribution(model: ProbeModel, input: ProbeInput, options: LogitDistributionOptions = {}): Promise<LogitDistributionResult> {
  const bins = options.bins ?? 60;
  // One position needs one row of logits, not [positions, vocabulary].
  const lastOnly = (options.positions ?? "last") === "last";
  const run = model.run(input, { prependBos: options.prependBos, lastPositionOnly: lastOnly });
  try {
    const tokens = run.tokens[0];
    const positions = resolvePositions(options.positions ?? "last", tokens.length);
    const text = tokenTextLookup(model, tokens);
    const hist = new ColumnBuilder(["position", "input_token", "kind", "bin", "lower", "upper", "count"] as const);
    const stats = new ColumnBuilder(["position", "input_token", "mean", "std", "min", "max", "log_sum_exp", "entropy", "effective_vocabulary", "top_prob", "top_token", "non_finite"] as const);
    for (const position of positions) {
      const row = tf.tidy(() => tf.reshape(tf.slice(run.logits, [0, lastOnly ? 0 : position, 0], [1, 1, -1]), [-1]));
      const held: tf.Tensor[] = [row];
      try {
        const logprobs = tf.tidy(() => tf.logSoftmax(row));
        held.push(logprobs);
        const scalars = tf.tidy(() => {
          const moments = tf.moments(row);
          const top = tf.topk(row, 1);
          return [moments.mean, tf.sqrt(moments.variance), tf.logSumExp(row), entropy(row), tf.exp(tf.max(logprobs)), top.indices.toFloat().reshape([])];
        });
        held.push(...scalars);
        const histograms = [histogram(row, bins), histogram(logprobs, bins)];
        held.push(...histograms.flatMap((h) => [h.counts, h.min, h.max, h.nonFinite]));
        const [mean, std, lse, ent, topProb, topId] = await Promise.all(scalars.map(async (s) => (await s.data())[0]));
        const read = await Promise.all(histograms.map(async (h) => ({ counts: await h.counts.data(), min: (await h.min.data())[0], max: (await h.max.data())[0], nonFinite: (await h.nonFinite.data())[0] })));
        const input_token = text(tokens[position]);
        (["logit", "logprob"] as const).forEach((kind, i) => {
          const { counts, min, max } = read[i];
          const width = (max - min) / bins;
          counts.forEach((count, bin) => hist.push({ position, input_token, kind, bin, lower: min + bin * width, upper: min + (bin + 1) * width, count }));
        });
        stats.push({
          position,
          input_token,
          mean,
          std,
          min: read[0].min,
          max: read[0].max,
          log_sum_exp: lse,
          entropy: ent,
          effective_vocabulary: Math.exp(ent),
          top_prob: topProb,
          top_token: text(topId),
          non_finite: read[0].nonFinite,
        });
      } finally {
        tf.dispose(held);
      }
    }
    return { histogram: hist.table(), stats: stats.table() };
  } finally {
    run.dispose();
  }
}
