// Feed-forward blocks: dense (gated or not) here; other kinds (mixture of experts) register their forward with
// registerMlpForward so that this file need not know them.
import * as tf from "@tensorflow/tfjs-core";
import type { DenseMlpWeights, MlpWeights } from "../canonical";
import type { HookRunner } from "../hooks";
import { applyActivation } from "./activations";
import { capability, fusedActivation, fusedActivationJoint, fusedMlp, fusesActivation, type FusedActivation } from "../../backend/capabilities";
import { isPacked, weightsMatMul, type Weight2D } from "../../backend/packed-weight";
import { linearProjection, outputProjection } from "./linear";

export interface MlpContext {
  hooks: HookRunner;
  layer: number;
  /**
   * Dense MLPs only, set by forward.ts where the backend fuses the residual add (capability fusedLinearResidual) and
   * nothing observes hook_mlp_out: the residual stream [batch, pos, d_model]; the MLP then returns residual + output,
   * the add done as W_out's product is stored (cpu-native: inside the MLP's one call).
   */
  residual?: tf.Tensor3D;
}

/** Forward of one MLP kind: x [batch, pos, d_model] → [batch, pos, d_model]; calls ctx.hooks for its hook points. */
export type MlpForward<W extends MlpWeights = MlpWeights> = (w: W, x: tf.Tensor3D, ctx: MlpContext) => tf.Tensor3D;

const forwards = new Map<string, MlpForward>();

export function registerMlpForward<W extends MlpWeights>(kind: W["kind"], forward: MlpForward<W>): void {
  forwards.set(kind, forward as MlpForward);
}

export function mlp(w: MlpWeights, x: tf.Tensor3D, ctx: MlpContext): tf.Tensor3D {
  if (w.kind === "dense") return denseMlp(w, x, ctx);
  const forward = forwards.get(w.kind);
  if (!forward) throw new Error(`no forward is registered for MLP kind "${w.kind}" (its component module was not loaded)`);
  return forward(w, x, ctx);
}

function denseMlp(w: DenseMlpWeights, x: tf.Tensor3D, ctx: MlpContext): tf.Tensor3D {
  const [batch, pos, dModel] = x.shape;
  const hook = (local: string, t: tf.Tensor) => ctx.hooks.run(`blocks.${ctx.layer}.mlp.${local}`, ctx.layer, t);
  const flat = x.reshape([batch * pos, dModel]);
  // cpu-native, nobody reading the hidden activations: the whole MLP as one kernel (the same ops in the same order).
  const hidden = ["hook_pre", "hook_pre_linear", "hook_post"].every((h) => ctx.hooks.idle(`blocks.${ctx.layer}.mlp.${h}`));
  // Packed weights live on webgpu only, where there is no such kernel; the check keeps the types honest.
  const unpacked = [w.W_in, w.W_gate, w.W_out].every((W) => W === null || !isPacked(W));
  const residual = ctx.residual ? (ctx.residual.reshape([batch * pos, dModel]) as tf.Tensor2D) : null;
  const fused = hidden && unpacked ? fusedMlp(flat as tf.Tensor2D, w as Parameters<typeof fusedMlp>[1], residual) : null;
  if (fused) return fused.reshape([batch, pos, dModel]) as tf.Tensor3D;
  const linear = (W: Weight2D, b: tf.Tensor1D | null) => {
    // webgpu and cpu-native: the bias is added inside the product's kernel (one dispatch or call).
    const y = linearProjection(flat as tf.Tensor2D, W, b);
    return y.reshape([batch, pos, W.shape[1]]);
  };
  let post: tf.Tensor;
  const joint = w.gated ? jointGateUp(w, flat as tf.Tensor2D, ctx) : null;
  if (joint) {
    post = hook("hook_post", joint.reshape([batch, pos, joint.shape[1]]));
  } else if (w.gated) {
    // TransformerLens's names: hook_pre is the gate's input to the activation, hook_pre_linear the "up" branch.
    const pre = hook("hook_pre", linear(w.W_gate!, w.b_gate));
    const preLinear = hook("hook_pre_linear", linear(w.W_in, w.b_in));
    // webgpu: act(pre) · preLinear in one pass, the same formulas (every hook still sees its activation).
    post = hook("hook_post", fusedActivation(pre, w.act, preLinear) ?? tf.mul(applyActivation(pre, w.act), preLinear));
  } else {
    // webgpu, nobody reading hook_pre: act(x·W_in + b_in) from one kernel call (the split-K sum applies it).
    const activated = ctx.hooks.idle(`blocks.${ctx.layer}.mlp.hook_pre`) ? projectActivated(flat as tf.Tensor2D, [w.W_in], [w.b_in], w.act, false) : null;
    if (activated) {
      post = hook("hook_post", activated.reshape([batch, pos, activated.shape[1]]));
    } else {
      const pre = hook("hook_pre", linear(w.W_in, w.b_in));
      post = hook("hook_post", fusedActivation(pre, w.act) ?? applyActivation(pre, w.act));
    }
  }
  const dMlp = post.shape[2]!;
  const flatPost = post.reshape([batch * pos, dMlp]) as tf.Tensor2D;
  return outputProjection(flatPost, w.W_out, w.b_out, residual).reshape([batch, pos, dModel]) as tf.Tensor3D;
}

/**
 * act(x·W_gate + b_gate) · (x·W_in + b_in) [rows, d_mlp] from one product of both weights side by side (capability
 * jointGateUp; backend/kernels/segmented.ts), where nobody observes hook_pre or hook_pre_linear; null otherwise (the
 * caller projects them apart).
 */
function jointGateUp(w: DenseMlpWeights, flat: tf.Tensor2D, ctx: MlpContext): tf.Tensor2D | null {
  if (!w.W_gate || !capability("jointGateUp")) return null;
  if (!["hook_pre", "hook_pre_linear"].every((h) => ctx.hooks.idle(`blocks.${ctx.layer}.mlp.${h}`))) return null;
  return projectActivated(flat, [w.W_gate, w.W_in], [w.b_gate, w.b_in], w.act, true);
}

/**
 * act(x·W + b) for one weight, or act(x·W_gate + b_gate) · (x·W_up + b_up) for two (`gated`), from one segmented
 * product whose split-K sum (where it splits) or one pass after it applies the activation: each weight's own
 * product's numbers (kernels/segmented.ts), one or two dispatches fewer. Null where the backend or the shapes do
 * not take it, or the activation is not one the kernels compute.
 */
function projectActivated(flat: tf.Tensor2D, Ws: Weight2D[], bs: Array<tf.Tensor1D | null>, act: string, gated: boolean): tf.Tensor2D | null {
  if (!fusesActivation(act)) return null;
  if (capability("activatedProjection")) return weightsMatMul(flat, Ws, bs, false, { act: act as FusedActivation, gated });
  // LMPROBE_WEBGPU_ACTIVATION_EPILOGUE=off: the joint product, then its activation pass apart.
  const product = gated ? weightsMatMul(flat, Ws, bs) : null;
  if (!product) return null;
  const post = fusedActivationJoint(product, act);
  product.dispose();
  return post as tf.Tensor2D | null;
}
