// Mixture-of-experts routing: from the router's logits to the experts each token uses and their weights.
// Families differ in the order of softmax and top-k, which changes the weights (not only their scale):
//   "softmax-topk" (Mixtral, Qwen2/3-MoE): softmax over every expert, keep the k largest probabilities,
//       optionally renormalise them to sum to 1 (Mixtral always; Qwen3-MoE when norm_topk_prob).
//   "topk-softmax" (gpt-oss): keep the k largest logits, softmax over those k only.
//   "sigmoid-group-topk" (DeepSeek-V3): sigmoid scores; the choice adds a correction bias and, with expert groups,
//       keeps only the topkGroup groups whose two best biased scores sum highest (the others' scores become 0,
//       as the reference's masked_fill); the k best biased scores pick the experts, whose weights are the
//       unbiased sigmoid scores, optionally renormalised (sum + 1e-20), times routedScaling.
import * as tf from "@tensorflow/tfjs-core";
import { ArgumentError } from "../../errors";

export type RoutingOrder = "softmax-topk" | "topk-softmax" | "sigmoid-group-topk";

export interface RoutingRule {
  order: RoutingOrder;
  topK: number;
  /** softmax-topk and sigmoid-group-topk: divide the kept weights by their sum. */
  renormalize: boolean;
  /** sigmoid-group-topk: experts fall in nGroups equal groups, of which topkGroups are kept (1, 1: no groups). */
  nGroups?: number;
  topkGroups?: number;
  /** sigmoid-group-topk: added to the scores for the choice only (e_score_correction_bias) [experts], or null. */
  correctionBias?: tf.Tensor1D | null;
  /** sigmoid-group-topk: multiplies the final weights (routed_scaling_factor). */
  routedScaling?: number;
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
    if (rule.order === "sigmoid-group-topk") {
      const { indices, weights } = groupLimitedSigmoid(logits, rule);
      return { indices, weights };
    }
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

/** DeepSeek-V3's routing (DeepseekV3MoE.route_tokens_to_experts), on logits [tokens, experts]. */
function groupLimitedSigmoid(logits: tf.Tensor2D, rule: RoutingRule): Routing {
  const [tokens, numExperts] = logits.shape;
  const nGroups = rule.nGroups ?? 1;
  const topkGroups = rule.topkGroups ?? 1;
  if (numExperts % nGroups !== 0 || topkGroups > nGroups) {
    throw new ArgumentError("n_group", `(${nGroups} groups, ${topkGroups} kept) does not fit ${numExperts} experts`, "n_group must divide the experts and topk_group ≤ n_group");
  }
  const scores = tf.sigmoid(logits);
  const forChoice = rule.correctionBias ? tf.add(scores, rule.correctionBias) : scores;
  let candidates = forChoice;
  if (nGroups > 1) {
    const perGroup = numExperts / nGroups;
    const grouped = forChoice.reshape([tokens, nGroups, perGroup]);
    const groupScores = tf.sum(tf.topk(grouped, Math.min(2, perGroup)).values, -1); // [tokens, groups]
    // The kept groups are those scoring at least the topkGroups-th best group (exact ties keep every tied group),
    // compared in float32: tfjs-webgpu mis-types the int32 path (one-hot of top-k indices) in its WGSL.
    const kth = tf.slice(tf.topk(groupScores, topkGroups).values, [0, topkGroups - 1], [tokens, 1]);
    const groupMask = tf.cast(tf.greaterEqual(groupScores, kth), "float32"); // [tokens, groups], 1 for kept groups
    const expertMask = tf.broadcastTo(groupMask.reshape([tokens, nGroups, 1]), [tokens, nGroups, perGroup]).reshape([tokens, numExperts]);
    candidates = tf.where(tf.cast(expertMask, "bool"), forChoice, tf.zerosLike(forChoice));
  }
  const indices = tf.topk(candidates, rule.topK).indices as tf.Tensor2D;
  // The chosen experts' unbiased scores, [tokens, k]: a one-hot selection (exact: products with 1 and sums of
  // zeros), since gather with batch dimensions overruns memory on tfjs-wasm.
  let weights: tf.Tensor = tf.sum(tf.mul(tf.cast(tf.oneHot(indices, numExperts), "float32"), tf.expandDims(scores, 1)), -1);
  if (rule.renormalize) weights = tf.div(weights, tf.add(tf.sum(weights, -1, true), 1e-20));
  if (rule.routedScaling !== undefined && rule.routedScaling !== 1) weights = tf.mul(weights, rule.routedScaling);
  return { indices, weights: weights as tf.Tensor2D };
}
