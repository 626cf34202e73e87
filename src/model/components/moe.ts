// The mixture-of-experts MLP: a router scores every expert per token, the top k run, and their outputs are
// summed with the routing weights. Registered as the forward of MLP kind "moe", so loading this module (the MoE
// architecture files import it) is what teaches the engine to run such blocks.
//
// Hook points, in order (batch and pos as the residual stream):
//   mlp.hook_router_logits  [batch, pos, experts]  the router's raw logits (bias included)
//   mlp.hook_expert_indices [batch, pos, k] int32  the chosen experts, highest weight first
//   mlp.hook_expert_weights [batch, pos, k]        their weights
//   mlp.hook_shared_expert_out [batch, pos, d_model] the always-on shared expert's output, after its gate (Qwen2-MoE,
//                                                  DeepSeek-V3; only models with one)
// A hook that replaces the logits changes the routing; one that replaces indices or weights changes the mix.
import * as tf from "@tensorflow/tfjs-core";
import type { MoeMlpWeights } from "../canonical";
import { registerMlpForward, type MlpContext } from "./mlp";
import { dispatchExperts, expertForward, type ExpertGlu, type ExpertWeights, type MoeDispatch } from "./moe-experts";
import { routeTokens, type RoutingRule } from "./moe-router";

export type { ExpertGlu, ExpertWeights, MoeDispatch } from "./moe-experts";
export type { RoutingRule, RoutingOrder } from "./moe-router";

export interface MoeWeights extends MoeMlpWeights {
  kind: "moe";
  numExperts: number;
  topK: number;
  routing: RoutingRule;
  /** [d_model, experts]. */
  W_router: tf.Tensor2D;
  /** [experts] (gpt-oss), or null. */
  b_router: tf.Tensor1D | null;
  experts: ExpertWeights[];
  glu: ExpertGlu;
  /** How tokens reach their experts (see moe-experts.ts); "auto" picks by backend. */
  dispatch: MoeDispatch;
  /**
   * An expert every token uses, added to the routed experts' sum (Qwen2-MoE's shared_expert, DeepSeek's
   * shared_experts); `gate` [d_model, 1], when present, scales its output by sigmoid(x · gate). Absent or null: none.
   */
  shared?: { expert: ExpertWeights; glu: ExpertGlu; gate: tf.Tensor2D | null } | null;
}

export function moeForward(w: MoeWeights, x: tf.Tensor3D, ctx: MlpContext): tf.Tensor3D {
  const [batch, pos, dModel] = x.shape;
  const tokens = batch * pos;
  const hook = (local: string, t: tf.Tensor) => ctx.hooks.run(`blocks.${ctx.layer}.mlp.${local}`, ctx.layer, t);
  const flat = x.reshape([tokens, dModel]) as tf.Tensor2D;
  const rawLogits = w.b_router ? tf.add(tf.matMul(flat, w.W_router), w.b_router) : tf.matMul(flat, w.W_router);
  const logits = hook("hook_router_logits", rawLogits.reshape([batch, pos, w.numExperts])).reshape([tokens, w.numExperts]) as tf.Tensor2D;
  const routed = routeTokens(logits, w.routing);
  const k = w.routing.topK;
  const indices = hook("hook_expert_indices", routed.indices.reshape([batch, pos, k])).reshape([tokens, k]) as tf.Tensor2D;
  const weights = hook("hook_expert_weights", routed.weights.reshape([batch, pos, k])).reshape([tokens, k]) as tf.Tensor2D;
  const routedOut = dispatchExperts(flat, { indices, weights }, w.experts, w.glu, w.dispatch);
  if (!w.shared) return routedOut.reshape([batch, pos, dModel]) as tf.Tensor3D;
  let sharedOut: tf.Tensor = expertForward(flat, w.shared.expert, w.shared.glu);
  if (w.shared.gate) sharedOut = tf.mul(tf.sigmoid(tf.matMul(flat, w.shared.gate)), sharedOut);
  sharedOut = hook("hook_shared_expert_out", sharedOut.reshape([batch, pos, dModel]));
  return tf.add(routedOut.reshape([batch, pos, dModel]), sharedOut) as tf.Tensor3D;
}

registerMlpForward<MoeWeights>("moe", moeForward);
