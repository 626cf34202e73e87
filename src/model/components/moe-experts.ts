// The experts of a mixture-of-experts MLP and the two ways of sending tokens to them.
//
// Dispatch tradeoff (both give the reference's numbers; the tests check they agree):
//   "gather": read the chosen expert ids back to the host, gather each expert's tokens, run only those, and
//       add the weighted outputs back per token. Computes k/E of the dense work: the right choice
//       on CPU and wasm, where arithmetic dominates and reading ids back is free.
//   "dense": run every expert on every token and weight the outputs by the routing matrix (zero for unchosen
//       experts). E/k times the arithmetic, but no host readback and no data-dependent shapes: cheaper on a GPU
//       backend for small and mid-sized models, where a synchronous readback stalls the device.
//   "auto": dense on GPU backends (webgpu, tensorflow), gather elsewhere.
import * as tf from "@tensorflow/tfjs-core";
import { weightMatMul, type Weight2D } from "../../backend/packed-weight";
import { differentiableOpsRequired } from "../../backend/gradient-mode";
import { capability } from "../../backend/capabilities";
import { ArgumentError } from "../../errors";
import type { ActivationName, FeedForwardProjections } from "../canonical";
import { applyActivation } from "./activations";
import { denseRoutingMatrix, type Routing } from "./moe-router";

/** One expert, in the canonical [in, out] orientation: always gated, d_mlp being the expert's width. */
export interface ExpertWeights extends FeedForwardProjections {
  W_gate: tf.Tensor2D;
}

/**
 * How an expert combines its gate and up projections.
 *   "gated": act(gate) · up (SwiGLU with act = silu: Mixtral, Qwen-MoE).
 *   "clamped-swiglu" (gpt-oss): gate ≤ limit, −limit ≤ up ≤ limit, then (up + 1) · gate · sigmoid(alpha · gate).
 */
export type ExpertGlu = { kind: "gated"; act: ActivationName } | { kind: "clamped-swiglu"; alpha: number; limit: number };

export type MoeDispatch = "auto" | "gather" | "dense";

/** gpt-oss's gated activation, on the gate and up projections of the same tokens. */
export function clampedSwiglu(gate: tf.Tensor, up: tf.Tensor, alpha: number, limit: number): tf.Tensor {
  return tf.tidy(() => {
    const g = tf.minimum(gate, limit);
    const u = tf.clipByValue(up, -limit, limit);
    const glu = tf.mul(g, tf.sigmoid(tf.mul(g, alpha)));
    return tf.mul(tf.add(u, 1), glu);
  });
}

function linear(x: tf.Tensor2D, w: Weight2D, b: tf.Tensor1D | null): tf.Tensor2D {
  return weightMatMul(x, w, b);
}

/** One expert's output for tokens x [n, d_model] → [n, d_model]. */
export function expertForward(x: tf.Tensor2D, expert: ExpertWeights, glu: ExpertGlu): tf.Tensor2D {
  return tf.tidy(() => {
    const gate = linear(x, expert.W_gate, expert.b_gate);
    const up = linear(x, expert.W_in, expert.b_in);
    const hidden = glu.kind === "gated" ? tf.mul(applyActivation(gate, glu.act), up) : clampedSwiglu(gate, up, glu.alpha, glu.limit);
    return linear(hidden as tf.Tensor2D, expert.W_out, expert.b_out);
  });
}

/** Which dispatch "auto" means on the active backend. */
export function resolveDispatch(dispatch: MoeDispatch): "gather" | "dense" {
  if (dispatch !== "auto") return dispatch;
  return capability("denseExperts") ? "dense" : "gather";
}

/** Sum over each token's chosen experts of weight · expert(x): x [tokens, d_model] → [tokens, d_model]. */
export function dispatchExperts(x: tf.Tensor2D, routing: Routing, experts: readonly ExpertWeights[], glu: ExpertGlu, dispatch: MoeDispatch): tf.Tensor2D {
  return resolveDispatch(dispatch) === "dense" ? dispatchDense(x, routing, experts, glu) : dispatchGather(x, routing, experts, glu);
}

function dispatchDense(x: tf.Tensor2D, routing: Routing, experts: readonly ExpertWeights[], glu: ExpertGlu): tf.Tensor2D {
  return tf.tidy(() => {
    const columns = tf.split(denseRoutingMatrix(routing, experts.length), experts.length, 1);
    let out: tf.Tensor2D = tf.zerosLike(x);
    experts.forEach((expert, e) => {
      out = tf.add(out, tf.mul(expertForward(x, expert, glu), columns[e]));
    });
    return out;
  });
}

function dispatchGather(x: tf.Tensor2D, routing: Routing, experts: readonly ExpertWeights[], glu: ExpertGlu): tf.Tensor2D {
  const ids = routing.indices.arraySync();
  const weights = routing.weights.arraySync();
  const topK = routing.indices.shape[1];
  const tokensOf: number[][] = experts.map(() => []);
  const weightsOf: number[][] = experts.map(() => []);
  const slotsOf: number[][] = experts.map(() => []);
  ids.forEach((row, token) =>
    row.forEach((e, slot) => {
      if (!Number.isInteger(e) || e < 0 || e >= experts.length) {
        throw new ArgumentError("mlp.hook_expert_indices", `holds expert id ${e} for token ${token}, outside 0..${experts.length - 1}`, "return ids of existing experts from the hook");
      }
      tokensOf[e].push(token);
      weightsOf[e].push(weights[token][slot]);
      slotsOf[e].push(slot);
    }),
  );
  // Every (token, slot) pair becomes one row of the experts' stacked outputs; rowOf[slot][token] finds it again.
  // Summing one gather per slot adds each token's k weighted outputs back together (wasm has no scatter-add).
  const rowOf: Int32Array[] = Array.from({ length: topK }, () => new Int32Array(ids.length));
  let nextRow = 0;
  experts.forEach((_, e) => tokensOf[e].forEach((token, i) => (rowOf[slotsOf[e][i]][token] = nextRow++)));
  return tf.tidy(() => {
    const parts: tf.Tensor2D[] = [];
    experts.forEach((expert, e) => {
      const tokens = tokensOf[e];
      if (tokens.length === 0) return;
      const chosen = tf.gather(x, tf.tensor1d(tokens, "int32"));
      // While a gradient is taken the weights stay tensors (the same values, gathered) so that it reaches the router.
      const scale = differentiableOpsRequired()
        ? tf.reshape(tf.gather(tf.reshape(routing.weights, [-1]), tf.tensor1d(tokens.map((t, i) => t * topK + slotsOf[e][i]), "int32")), [tokens.length, 1])
        : tf.tensor2d(weightsOf[e], [tokens.length, 1]);
      parts.push(tf.mul(expertForward(chosen, expert, glu), scale));
    });
    if (parts.length === 0) return tf.zerosLike(x);
    const stacked = parts.length === 1 ? parts[0] : tf.concat(parts, 0);
    let out = tf.gather(stacked, tf.tensor1d(rowOf[0], "int32")) as tf.Tensor2D;
    for (let slot = 1; slot < topK; slot++) out = tf.add(out, tf.gather(stacked, tf.tensor1d(rowOf[slot], "int32")));
    return out;
  });
}
