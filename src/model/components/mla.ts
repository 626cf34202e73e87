// Multi-head latent attention (DeepSeek-V2/V3): keys and values come from one low-rank latent per token, and the
// rotary part of the key is a single head shared by every query head.
//   q = W_Q · RMSNorm(W_QA · x)            (or W_Q · x without q_lora_rank)   [heads, nope + rope]
//   [c, k_rope] = W_KVA · x;  c ← RMSNorm(c)                                  c: [kv_lora_rank], k_rope: [rope]
//   k = [W_K · c (per head: nope), k_rope (the same for every head)]          v = W_V · c  [heads, v_head_dim]
// RoPE rotates the trailing `rope` features of q and k; then attention proceeds as usual (attention.ts's
// attendProjected), with values narrower than keys where v_head_dim < nope + rope.
// Hooks (beside TransformerLens's hook_q/k/v, hook_rot_q/k, hook_z …):
//   attn.hook_q_latent  [batch, pos, q_lora_rank]   the normalised query latent (models with q_lora_rank)
//   attn.hook_kv_latent [batch, pos, kv_lora_rank]  the normalised key/value latent c (what DeepSeek caches)
import * as tf from "@tensorflow/tfjs-core";
import { weightMatMul, type Weight2D } from "../../backend/packed-weight";
import type { AttentionWeights, NormWeights } from "../canonical";
import { applyNorm } from "./norm";
import { applyRotary } from "./rotary";
import { attendProjected, type AttentionContext } from "./attention";

export interface MlaWeights {
  /** [d_model, q_lora_rank] (+ bias) and its RMSNorm; null when W_Q reads d_model directly. */
  W_QA: tf.Tensor2D | null;
  b_QA: tf.Tensor1D | null;
  qANorm: NormWeights | null;
  /** [d_model, kv_lora_rank + ropeDim]: the latent, then the shared rotary key (+ bias). */
  W_KVA: tf.Tensor2D;
  b_KVA: tf.Tensor1D | null;
  kvANorm: NormWeights;
  kvLoraRank: number;
  nopeDim: number;
  ropeDim: number;
  vDim: number;
}

/** x [batch, pos, d_model] → attention output [batch, pos, d_model]. w.W_Q reads the query latent (or x), w.W_K
 *  [kv_lora_rank, heads·nope] and w.W_V [kv_lora_rank, heads·v] read the key/value latent. */
export function mlaAttention(w: AttentionWeights, x: tf.Tensor3D, ctx: AttentionContext): tf.Tensor3D {
  const m = w.mla!;
  const [batch, pos, dModel] = x.shape;
  const H = w.nHeads;
  const qkDim = m.nopeDim + m.ropeDim;
  const n = batch * pos;
  const hook = (local: string, t: tf.Tensor) => ctx.hooks.run(`blocks.${ctx.layer}.attn.${local}`, ctx.layer, t);
  const linear = (t: tf.Tensor, W: Weight2D, b: tf.Tensor1D | null) => weightMatMul(t as tf.Tensor2D, W, b);
  const flat = x.reshape([n, dModel]);

  let qIn: tf.Tensor = flat;
  if (m.W_QA) {
    const qLatent = applyNorm(linear(flat, m.W_QA, m.b_QA), m.qANorm!);
    qIn = hook("hook_q_latent", qLatent.reshape([batch, pos, -1])).reshape([n, -1]);
  }
  const kvA = linear(flat, m.W_KVA, m.b_KVA);
  const latent = applyNorm(kvA.slice([0, 0], [n, m.kvLoraRank]), m.kvANorm);
  const c = hook("hook_kv_latent", latent.reshape([batch, pos, m.kvLoraRank])).reshape([n, m.kvLoraRank]);

  const q = hook("hook_q", linear(qIn, w.W_Q, w.b_Q).reshape([batch, pos, H, qkDim])) as tf.Tensor4D;
  const kRope = kvA.slice([0, m.kvLoraRank], [n, m.ropeDim]).reshape([batch, pos, 1, m.ropeDim]);
  const kNope = weightMatMul(c as tf.Tensor2D, w.W_K).reshape([batch, pos, H, m.nopeDim]);
  const k = hook("hook_k", tf.concat([kNope, tf.broadcastTo(kRope, [batch, pos, H, m.ropeDim])], 3)) as tf.Tensor4D;
  const v = hook("hook_v", weightMatMul(c as tf.Tensor2D, w.W_V).reshape([batch, pos, H, m.vDim])) as tf.Tensor4D;

  const rotate = (t: tf.Tensor4D) => {
    if (!w.rotary || !ctx.rotary) return t;
    const pass = t.slice([0, 0, 0, 0], [-1, -1, -1, m.nopeDim]);
    const rot = t.slice([0, 0, 0, m.nopeDim], [-1, -1, -1, m.ropeDim]) as tf.Tensor4D;
    return tf.concat([pass, applyRotary(rot, ctx.rotary, w.rotary)], 3) as tf.Tensor4D;
  };
  const qRot = hook("hook_rot_q", rotate(q)) as tf.Tensor4D;
  const kRot = hook("hook_rot_k", rotate(k)) as tf.Tensor4D;
  return attendProjected(w, qRot, kRot, v, ctx);
}
