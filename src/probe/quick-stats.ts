// The one-line header of a run: the top prediction after the prompt, its probability, and its logit, which is
// the number to read when the probability saturates at 1 in float32 (a margin of tens of logits still shows).
import * as tf from "@tensorflow/tfjs-core";
import type { ProbeInput, ProbeModel } from "./types";

/** What quickStats() returns, with a one-line summary. */
export interface QuickStats {
  tokens: number;
  topToken: string;
  topTokenId: number;
  probability: number;
  logit: number;
  /** Logit margin over the runner-up. */
  margin: number;
  /** True when the probability rounds to 1 in float32: compare logits or margins instead. */
  saturated: boolean;
  /** "top: " Paris" 0.93" or, saturated, "top: " Paris" logit 31.2 (+12.4 over the next)". */
  summary: string;
}

/** The top prediction after a prompt with its probability and logit margin (the logit when the probability saturates). */
export async function quickStats(model: ProbeModel, input: ProbeInput, options: { prependBos?: boolean } = {}): Promise<QuickStats> {
  const run = model.run(input, { prependBos: options.prependBos, lastPositionOnly: true });
  try {
    const { values, indices, probs } = tf.tidy(() => {
      const row = tf.reshape(run.logits, [-1]);
      const top = tf.topk(row, Math.min(2, row.shape[0]));
      return { values: top.values, indices: top.indices, probs: tf.exp(tf.sub(top.values, tf.logSumExp(row))) };
    });
    const [v, i, p] = await Promise.all([values.data(), indices.data(), probs.data()]);
    tf.dispose([values, indices, probs]);
    const topToken = model.toStrTokens([i[0]])[0];
    const margin = v.length > 1 ? v[0] - v[1] : Infinity;
    const saturated = p[0] >= 1 - 2 ** -24;
    const summary = saturated
      ? `top: ${JSON.stringify(topToken)} logit ${v[0].toFixed(2)} (+${margin.toFixed(2)} over the next; probability 1 in float32)`
      : `top: ${JSON.stringify(topToken)} ${p[0].toFixed(4)}`;
    return { tokens: run.tokens[0].length, topToken, topTokenId: i[0], probability: p[0], logit: v[0], margin, saturated, summary };
  } finally {
    run.dispose();
  }
}
