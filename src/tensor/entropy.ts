// Shannon entropy of a distribution given as logits (default) or probabilities, in nats or bits.
// From logits it is computed as log Σ e^(x−m) − Σ p·(x−m), which needs no log of a tiny probability and
// treats -Infinity logits (masked tokens) as probability 0, contributing 0 (0·log 0 = 0).
import * as tf from "@tensorflow/tfjs-core";
import { shiftedByMax } from "./shift";

/** The base of entropy(): "e" for nats, "2" for bits. */
export type EntropyBase = "e" | "2";

/** Options of entropy(): base, axis, and whether the input holds logits or probabilities. */
export interface EntropyOptions {
  /** "e" (nats, default) or "2" (bits). Anything else is a RangeError. */
  base?: EntropyBase;
  axis?: number;
  /** What `x` holds: "logits" (default, any real values, -Infinity for masked) or "probs" (non-negative, summing to 1). */
  input?: "logits" | "probs";
}

/** Throws RangeError for a base other than "e" or "2"; returns the factor that converts nats to it. */
export function natsPerUnit(base: unknown): number {
  if (base === "e") return 1;
  if (base === "2") return Math.LN2;
  throw new RangeError(`entropy base must be "e" (nats) or "2" (bits), got ${JSON.stringify(base)}`);
}

/** H(x) along `axis` (default the last), reducing that axis. Fully masked rows have entropy 0. */
export function entropy(x: tf.Tensor, options: EntropyOptions = {}): tf.Tensor {
  const { base = "e", axis = -1, input = "logits" } = options;
  const unit = natsPerUnit(base);
  if (input !== "logits" && input !== "probs") {
    throw new RangeError(`entropy input must be "logits" or "probs", got ${JSON.stringify(input)}`);
  }
  return tf.tidy(() => {
    const nats = input === "logits" ? entropyOfLogits(x, axis) : entropyOfProbs(x, axis);
    return unit === 1 ? nats : tf.div(nats, unit);
  });
}

function entropyOfLogits(x: tf.Tensor, axis: number): tf.Tensor {
  const { shifted } = shiftedByMax(x, axis);
  const e = tf.exp(shifted);
  const sumExp = tf.sum(e, axis);
  // e·shifted is 0·(−Inf) = NaN for masked entries; they contribute nothing.
  const weighted = tf.sum(tf.where(tf.greater(e, 0), tf.mul(e, shifted), tf.zerosLike(e)), axis);
  const h = tf.sub(tf.log(sumExp), tf.divNoNan(weighted, sumExp));
  // Rounding can leave −1e-7 for a one-hot distribution; a fully masked row gives log 0 = −Inf: both → 0.
  return tf.where(tf.greater(sumExp, 0), tf.relu(h), tf.zerosLike(h));
}

function entropyOfProbs(p: tf.Tensor, axis: number): tf.Tensor {
  const positive = tf.greater(p, 0);
  const safe = tf.where(positive, p, tf.onesLike(p));
  return tf.neg(tf.sum(tf.where(positive, tf.mul(p, tf.log(safe)), tf.zerosLike(p)), axis));
}
