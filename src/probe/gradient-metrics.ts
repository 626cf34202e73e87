// Metrics of the logits for the gradient cache and the attributions: per-row values of one position's logits.
import * as tf from "@tensorflow/tfjs-core";
import { ArgumentError } from "../errors";
import type { LanguageModel } from "../model/model";
import type { GradientMetric } from "../model/gradients";
import { resolveTokenId, type TokenSpec } from "./tokens";

/** The position a gradient metric reads the logits at (default the last; negative counts from the end). */
export interface MetricPosition {
  /** Position whose logits are read; negative counts from the end (default -1, the last; always a real token under left padding). */
  position?: number;
}

/** [batch, vocab] logits of one position of [batch, pos, vocab]. */
export function logitsAt(logits: tf.Tensor3D, position = -1): tf.Tensor2D {
  const T = logits.shape[1];
  const p = position < 0 ? position + T : position;
  if (!Number.isInteger(p) || p < 0 || p >= T) throw new ArgumentError("position", `is ${position}, outside the ${T} positions of the logits`, `use an index in [${-T}, ${T - 1}]`);
  return tf.reshape(tf.slice(logits, [0, p, 0], [-1, 1, -1]), [logits.shape[0], logits.shape[2]]) as tf.Tensor2D;
}

/** logit(a) − logit(b) per row at a position. */
export function logitDiffMetric(model: LanguageModel, a: TokenSpec, b: TokenSpec, opts: MetricPosition = {}): GradientMetric {
  const ia = resolveTokenId(model, a, "a");
  const ib = resolveTokenId(model, b, "b");
  return (logits) => {
    const last = logitsAt(logits, opts.position);
    return tf.reshape(tf.sub(tf.slice(last, [0, ia], [-1, 1]), tf.slice(last, [0, ib], [-1, 1])), [-1]);
  };
}

/** log p(token) per row at a position (log-softmax over the vocabulary). */
export function logProbMetric(model: LanguageModel, token: TokenSpec, opts: MetricPosition = {}): GradientMetric {
  const id = resolveTokenId(model, token, "token");
  return (logits) => {
    const last = logitsAt(logits, opts.position);
    return tf.reshape(tf.slice(tf.logSoftmax(last), [0, id], [-1, 1]), [-1]);
  };
}

/** logit(token) per row at a position. */
export function logitMetric(model: LanguageModel, token: TokenSpec, opts: MetricPosition = {}): GradientMetric {
  const id = resolveTokenId(model, token, "token");
  return (logits) => tf.reshape(tf.slice(logitsAt(logits, opts.position), [0, id], [-1, 1]), [-1]);
}
