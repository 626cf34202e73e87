// Mixture-of-experts routing: from the router's logits to the experts each token uses and their weights.
// Families differ in the order of softmax and top-k, which changes the weights (not only their scale):
//   "softmax-topk" (Mixtral, Qwen2/3-MoE): softmax over every expert, keep the k largest probabilities,
//       optionally renormalise them to sum to 1 (Mixtral always; Qwen3-MoE when norm_topk_prob).
//   "topk-softmax" (gpt-oss): keep the k largest logits, softmax over those k only.
import * as tf from "@tensorflow/tfjs-core";
import { ArgumentError } from "../../errors";

export type RoutingOrder = "softmax-topk" | "topk-softmax";

export interface RoutingRule {
  order: RoutingOrder;
  topK: number;
  /** softmax-topk only: divide the kept probabilities by their sum. */
  renormalize: boolean;
}

export interface Routing {
  /** [tokens, k] int32, highest weight first (torch.topk's order). */
  indices: tf.Tensor2D;
  /** [tokens, k] float32: each chosen expert's share of the token's MLP output. */
  weights: tf.Tensor2D;
}

/** Chooses experts from router logits [tokens, experts]. Returns new tensors; the caller owns them. */
export function routeTokens(logits: tf.Tensor2D, rule: RoutingRule): Routing {
  const numExperts = logits.shape[1];
  if (!Number.isInteger(rule.topK) || rule.topK < 1 || rule.topK > numExperts) {
    throw new ArgumentError("topK", `(top-k of ${rule.topK}) is not within 1..${numExperts} experts`, "set num_experts_per_tok to at most the number of experts");
  }
  return tf.tidy(() => {
    if (rule.order === "topk-softmax") {
      const { values, indices } = tf.topk(logits, rule.topK);
      return { indices: indices as tf.Tensor2D, weights: tf.softmax(values) as tf.Tensor2D };
    }
    const probs = tf.softmax(logits);
    const { values, indices } = tf.topk(probs, rule.topK);
    const weights = rule.renormalize ? tf.div(values, tf.sum(values, -1, true)) : values;
    return { indices: indices as tf.Tensor2D, weights: weights as tf.Tensor2D };
  });
}

/**
 * Spreads per-slot weights back over every expert: [tokens, experts] with zeros for experts a token does not
 * use. The dense dispatch multiplies each expert's output by its column.
 */
export function denseRoutingMatrix(routing: Routing, numExperts: number): tf.Tensor2D {
  return tf.tidy(() => {
    const oneHot = tf.oneHot(routing.indices, numExperts); // [tokens, k, experts]
    return tf.sum(tf.mul(oneHot, tf.expandDims(routing.weights, -1)), 1) as tf.Tensor2D;
  });
}
