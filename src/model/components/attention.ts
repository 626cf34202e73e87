// Multi-head attention with grouped key/value heads, rotary embeddings, q/k norms, softcapping, sliding windows
// (through the mask) and sinks, computed in the reference's order: scores = q·kᵀ · scale → softcap → + mask →
// softmax (over [keys, sink] with the sink dropped, where the model has sinks) → pattern · v → W_O.
import * as tf from "@tensorflow/tfjs-core";
import type { AttentionWeights } from "../canonical";
import type { HookRunner } from "../hooks";
import { batchedMatMul, linearProjection, outputProjection as projectOutput } from "./linear";
import type { Weight2D } from "../../backend/packed-weight";
import { capability, jointQkvRows, jointQkvSetting, flashTakesRows, fusedAttention, fusedAttentionInRows, fusedLinears, fusedRotaryHalfFromQkv, fusedScoresSoftmax, headsContext, headsScores, qkvContext, qkvScores, qkvScoresFit, type QkvLayout, type RowsPlacement } from "../../backend/capabilities";
import { isPacked, weightsMatMul } from "../../backend/packed-weight";
import { applyNorm } from "./norm";
import { applyRotary, type RotaryTables } from "./rotary";
import { attentionStreaming, streamedAttention } from "./attention-streamed";
import { mlaAttention } from "./mla";

/** What forward() prepares for one block's attention: shared tables and mask, the KV cache's join. */
export interface BlockAttentionContext {
  /** cos/sin of this layer's rotary setting for the run's positions, or null without rotary. */
  rotary: RotaryTables | null;
  /** Additive mask [batch, 1, queries, keys] for this layer's window. */
  mask: tf.Tensor4D;
  /**
   * Joins this run's keys/values, head-major [batch, kvHeads, pos, dHead], to the cached past ones and returns all
   * of them (head-major, so a cached past is never transposed again).
   */
  extendKV: (k: tf.Tensor4D, v: tf.Tensor4D) => { k: tf.Tensor4D; v: tf.Tensor4D };
  /** webgpu only (forward.ts sets it when no KV cache is kept): extendKV is the identity, keys may stay in place. */
  keysInPlace?: boolean;
  /**
   * The mask is causal (query i sees no key after its own index) and no row of it is wholly masked (one sequence
   * without padding; forward.ts sets it): attention's products may skip what the mask leaves out.
   */
  causalKeys?: boolean;
}

/** Everything attention() reads besides its weights and input: the block's context, its hooks and layer. */
export interface AttentionContext extends BlockAttentionContext {
  hooks: HookRunner;
  layer: number;
  /**
   * Set by forward.ts where the backend fuses the residual add into the product (capability fusedLinearResidual:
   * webgpu, cpu-native) and nothing observes hook_attn_out: the block's input [batch, pos, d_model]. attention()
   * then returns residual + output, the add done as W_O's product is stored.
   */
  residual?: tf.Tensor3D;
}

/** x [batch, pos, d_model] (already normalised) → attention output [batch, pos, d_model] (before any post-norm). */
export function attention(w: AttentionWeights, x: tf.Tensor3D, ctx: AttentionContext): tf.Tensor3D {
  if (w.mla) return mlaAttention(w, x, ctx);
  const [batch, pos, dModel] = x.shape;
  const { nHeads, nKVHeads, dHead } = w;
  const hook = (local: string, t: tf.Tensor) => ctx.hooks.run(`blocks.${ctx.layer}.attn.${local}`, ctx.layer, t);
  const flat = x.reshape([batch * pos, dModel]);
  const joint = ctx.keysInPlace && capability("jointQkvProduct") && jointQkvRows(batch * pos) && jointQkvWorthIt(w, batch, pos, ctx) ? attendJointQkv(w, flat as tf.Tensor2D, batch, pos, ctx) : null;
  if (joint) return joint;

  // cpu-native: q, k and v as one call with three outputs, each the numbers of its own product (the hooks below see
  // them as before); elsewhere, or for packed weights, null and each projection on its own.
  const weights = [w.W_Q, w.W_K, w.W_V];
  const together = weights.some(isPacked) ? null : fusedLinears(flat as tf.Tensor2D, weights as tf.Tensor2D[], [w.b_Q, w.b_K, w.b_V]);
  const project = (W: Weight2D, b: tf.Tensor1D | null, heads: number, norm: typeof w.qNorm, i: number) => {
    // webgpu and cpu-native: the bias is added inside the product's kernel (one dispatch or call).
    let y: tf.Tensor = together?.[i] ?? linearProjection(flat as tf.Tensor2D, W, b);
    if (norm && w.qkNormScope === "all") y = applyNorm(y, norm);
    let h = y.reshape([batch, pos, heads, dHead]);
    if (norm && w.qkNormScope === "head") h = applyNorm(h, norm);
    return h as tf.Tensor4D;
  };
  let q = hook("hook_q", project(w.W_Q, w.b_Q, nHeads, w.qNorm, 0)) as tf.Tensor4D;
  let k = hook("hook_k", project(w.W_K, w.b_K, nKVHeads, w.kNorm, 1)) as tf.Tensor4D;
  const vNew = hook("hook_v", project(w.W_V, w.b_V, nKVHeads, null, 2)) as tf.Tensor4D;
  if (w.rotary && ctx.rotary) {
    q = hook("hook_rot_q", applyRotary(q, ctx.rotary, w.rotary)) as tf.Tensor4D;
    k = hook("hook_rot_k", applyRotary(k, ctx.rotary, w.rotary)) as tf.Tensor4D;
  }
  return attendProjected(w, q, k, vNew, ctx);
}

/**
 * LMPROBE_WEBGPU_JOINT_QKV's default (auto) takes the one q|k|v product only where the flash kernel will read q, k and
 * v from its rows (nothing reads the pattern): the case it was timed in. "on" takes it wherever it can (the three
 * attention dispatches then read the product's rows, with the same causal skip).
 */
function jointQkvWorthIt(w: AttentionWeights, batch: number, pos: number, ctx: AttentionContext): boolean {
  if (jointQkvSetting() === "on") return true;
  return ctx.hooks.idle(`blocks.${ctx.layer}.attn.hook_pattern`) && !streams(ctx, batch * w.nHeads * pos * pos) && flashTakesRows(batch, w.nHeads, pos, pos, w.dHead);
}

/**
 * By default up to 256 rows (capability jointQkvProduct, jointQkvRows: faster there on an H100). webgpu, one sequence without a KV cache, no q/k
 * norms or sinks, rotary (if any) of the "half" kind, nothing observing q, k, v (before rotary) or the scores: q, k
 * and v as one product (backend/kernels/segmented.ts; the same numbers as three). Without rotary the scores read q and k from that product's rows where they lie; with it, q and k are
 * rotated out of them into tensors of their own (hook_rot_q / hook_rot_k see those). pattern · v reads v in place.
 * Where nothing reads the pattern, webgpu's flash kernel (where its default takes it) reads q, k and v from the
 * product's rows; otherwise the scores, softmax and pattern · v run as three dispatches.
 * Null where any of that does not hold (the caller then projects q, k and v apart).
 */
function attendJointQkv(w: AttentionWeights, flat: tf.Tensor2D, batch: number, pos: number, ctx: AttentionContext): tf.Tensor3D | null {
  const rotary = w.rotary && ctx.rotary ? { settings: w.rotary, tables: ctx.rotary } : null;
  if (batch !== 1 || w.sinks || w.qNorm || w.kNorm || (rotary && rotary.settings.style !== "half")) return null;
  const at = `blocks.${ctx.layer}.attn.`;
  if (!["hook_q", "hook_k", "hook_v", "hook_attn_scores"].every((h) => ctx.hooks.idle(at + h))) return null;
  const layout: QkvLayout = { heads: w.nHeads, kvHeads: w.nKVHeads, dHead: w.dHead };
  if (!qkvScoresFit(pos, layout)) return null;
  const product = weightsMatMul(flat, [w.W_Q, w.W_K, w.W_V], [w.b_Q, w.b_K, w.b_V]);
  if (!product) return null;
  const qkv = product.reshape([1, pos, product.shape[1]]) as tf.Tensor3D;
  const { heads, kvHeads, dHead } = layout;
  const part = (start: number, n: number) => tf.slice(product, [0, start * dHead], [pos, n * dHead]).reshape([1, pos, n, dHead]) as tf.Tensor4D;
  const hook = (local: string, t: tf.Tensor) => ctx.hooks.run(at + local, ctx.layer, t);
  const apart = (q: tf.Tensor4D, k: tf.Tensor4D) => attendProjected(w, q, k, part(heads + kvHeads, kvHeads), { ...ctx, keysInPlace: false });
  // Rotated q and k (their hooks run once, here), or none: the scores then read q and k in place.
  let rotated: { q: tf.Tensor4D; k: tf.Tensor4D } | null = null;
  if (rotary) {
    const rotate = (start: number, n: number) =>
      fusedRotaryHalfFromQkv(qkv, start * dHead, n, dHead, rotary.tables.cos, rotary.tables.sin, rotary.settings.rotaryDim) ??
      applyRotary(part(start, n), rotary.tables, rotary.settings);
    rotated = { q: hook("hook_rot_q", rotate(0, heads)) as tf.Tensor4D, k: hook("hook_rot_k", rotate(heads, kvHeads)) as tf.Tensor4D };
  }
  // Nothing reads the pattern: the flash kernel (where its default takes it) reads q, k and v where they lie, the
  // rotated q and k from their own tensors. One dispatch where the scores, softmax and pattern · v are three.
  if (ctx.hooks.idle(at + "hook_pattern") && !streams(ctx, batch * heads * pos * pos)) {
    const row = (heads + 2 * kvHeads) * dHead;
    const placement: RowsPlacement = {
      heads,
      kvHeads,
      dHead,
      q: rotated ? { start: 0, row: heads * dHead } : { start: 0, row },
      k: rotated ? { start: 0, row: kvHeads * dHead } : { start: heads * dHead, row },
      v: { start: (heads + kvHeads) * dHead, row },
    };
    const z = fusedAttentionInRows(rotated?.q ?? qkv, rotated?.k ?? qkv, qkv, placement, ctx.mask, w.scale, w.softcap, ctx.causalKeys === true);
    if (z) return outputProjection(w, hook("hook_z", z), ctx.residual ?? null);
  }
  // The causal skip, as attendInPlace takes it: the scores' blocks after every visible key, and pattern · v's
  // K-slices where the pattern is 0 unless a hook may replace it.
  const causal = ctx.causalKeys === true;
  const scores = rotated ? headsScores(rotated.q, rotated.k, causal) : qkvScores(qkv, layout, causal);
  const pattern = scores ? fusedScoresSoftmax(scores, ctx.mask, w.scale, w.softcap) : null;
  // Not fused after all (sizes these kernels do not take): the general path, from q, k and v apart.
  if (!pattern) return apart(rotated?.q ?? part(0, heads), rotated?.k ?? part(heads, kvHeads));
  const seen = hook("hook_pattern", pattern) as tf.Tensor4D;
  // pattern · v in place where the tiled kernel takes dHead columns (≥ 64); else v as its own tensor.
  const z = qkvContext(seen, qkv, layout, causal && ctx.hooks.idle(at + "hook_pattern")) ?? contextHeadMajor(seen, part(heads + kvHeads, kvHeads));
  return outputProjection(w, hook("hook_z", z), ctx.residual ?? null);
}

/**
 * From rotated queries [batch, pos, heads, dHead] and keys / values [batch, pos, kvHeads, dHead (values: dV)] to
 * the attention output: scores, mask, softmax, pattern · v and W_O, with their hooks. Shared by the plain
 * attention above and multi-head latent attention (mla.ts), whose values may be narrower than its keys.
 */
export function attendProjected(w: AttentionWeights, q: tf.Tensor4D, k: tf.Tensor4D, vNew: tf.Tensor4D, ctx: AttentionContext): tf.Tensor3D {
  const [batch, pos] = q.shape;
  const { nHeads, nKVHeads } = w;
  const dV = vNew.shape[3];
  const dModel = w.W_O.shape[1];
  const hook = (local: string, t: tf.Tensor) => ctx.hooks.run(`blocks.${ctx.layer}.attn.${local}`, ctx.layer, t);
  const idle = (local: string) => ctx.hooks.idle(`blocks.${ctx.layer}.attn.${local}`);
  if (ctx.keysInPlace && !w.mla) {
    // Nothing reads the scores or the pattern: one attention kernel (webgpu's FlashAttentionProgram, up to 256 keys
    // by default; cpu-native's onnxruntime call), keys and values read as the projections laid them out, unless
    // the scores would be streamed a head at a time.
    if (!w.sinks && idle("hook_attn_scores") && idle("hook_pattern") && !streams(ctx, batch * nHeads * pos * k.shape[1])) {
      const z = fusedAttention(q, k, vNew, ctx.mask, w.scale, w.softcap, "positions", ctx.causalKeys === true);
      if (z) return outputProjection(w, hook("hook_z", z), ctx.residual ?? null);
    }
    const inPlace = attendInPlace(w, q, k, vNew, ctx, hook);
    if (inPlace) return outputProjection(w, inPlace, ctx.residual ?? null);
  }
  const all = ctx.extendKV(swapPosAndHeads(k), swapPosAndHeads(vNew)); // [batch, kvHeads, keys, dHead]
  const keys = all.k.shape[2];
  const group = nHeads / nKVHeads;

  // wasm and cpu, long sequences, nobody reading the scores or the pattern: one head at a time, so that the scores
  // of every head (and softmax's temporaries of them) never exist together (attention-streamed.ts).
  if (streams(ctx, batch * nHeads * pos * keys)) {
    const z = hook("hook_z", streamedAttention({ q: swapPosAndHeads(q), k: all.k, v: all.v, mask: ctx.mask, scale: w.scale, softcap: w.softcap, sinks: w.sinks }));
    return outputProjection(w, z, ctx.residual ?? null);
  }

  // cpu-native, nobody reading the scores or the pattern, no sinks: scores → softmax → · v as one kernel (the same
  // ops in the same order); hook_z still sees z.
  if (!w.sinks && idle("hook_attn_scores") && idle("hook_pattern")) {
    const z = fusedAttention(q, all.k, all.v, ctx.mask, w.scale, w.softcap);
    if (z) return outputProjection(w, hook("hook_z", z), ctx.residual ?? null);
  }

  // Query heads h = kv·group + r share key/value head kv (repeat_kv): fold the group into the query axis so that
  // one batched matmul per kv head serves all its query heads without copying keys.
  const qGrouped = swapPosAndHeads(q).reshape([batch, nKVHeads, group * pos, q.shape[3]]);
  const rawScores = batchedMatMul(qGrouped, all.k, true).reshape([batch, nHeads, pos, keys]) as tf.Tensor4D;
  // webgpu, when nothing observes hook_attn_scores and there are no sinks: scale → softcap → + mask → softmax in one
  // pass (backend/kernels/row-programs.ts), the same formulas; hook_pattern still sees the pattern.
  const fusedPattern = !w.sinks && ctx.hooks.idle(`blocks.${ctx.layer}.attn.hook_attn_scores`) ? fusedScoresSoftmax(rawScores, ctx.mask, w.scale, w.softcap) : null;
  let pattern: tf.Tensor;
  if (fusedPattern) {
    pattern = fusedPattern;
  } else {
    let scores: tf.Tensor = tf.mul(rawScores, w.scale);
    if (w.softcap !== null) scores = tf.mul(tf.tanh(tf.div(scores, w.softcap)), w.softcap);
    scores = hook("hook_attn_scores", tf.add(scores, ctx.mask));

    if (w.sinks) {
      const sink = tf.broadcastTo(w.sinks.reshape([1, nHeads, 1, 1]), [batch, nHeads, pos, 1]);
      const joined = tf.concat([scores, sink], 3);
      pattern = tf.softmax(tf.sub(joined, tf.max(joined, 3, true))).slice([0, 0, 0, 0], [-1, -1, -1, keys]);
    } else {
      pattern = tf.softmax(scores);
    }
  }
  pattern = hook("hook_pattern", pattern);

  const zGrouped = batchedMatMul(pattern.reshape([batch, nKVHeads, group * pos, keys]), all.v);
  const z = hook("hook_z", swapPosAndHeads(zGrouped.reshape([batch, nHeads, pos, dV])));
  return outputProjection(w, z, ctx.residual ?? null);
}

/**
 * webgpu, one sequence, no KV cache or sinks, nothing observing hook_attn_scores: q·kᵀ and
 * pattern·v read q, k, v as the projections laid them out ([pos, head, dHead]) and z is written in that layout, so
 * none of the four per-layer transposes run; the same products, softmax and hooks otherwise. Null where any of
 * that does not hold (the caller then takes the general path).
 */
function attendInPlace(w: AttentionWeights, q: tf.Tensor4D, k: tf.Tensor4D, v: tf.Tensor4D, ctx: AttentionContext, hook: (local: string, t: tf.Tensor) => tf.Tensor): tf.Tensor | null {
  if (w.sinks || !ctx.hooks.idle(`blocks.${ctx.layer}.attn.hook_attn_scores`)) return null;
  // A causal mask without wholly masked rows: the scores' blocks after every visible key are skipped (the mask makes
  // them its minimum either way) and pattern · v skips where the pattern is 0, unless a hook may replace it.
  const causal = ctx.causalKeys === true;
  const rawScores = headsScores(q, k, causal);
  if (!rawScores) return null;
  const fused = fusedScoresSoftmax(rawScores, ctx.mask, w.scale, w.softcap);
  if (!fused) return null;
  const pattern = hook("hook_pattern", fused) as tf.Tensor4D;
  const z = headsContext(pattern, v, causal && ctx.hooks.idle(`blocks.${ctx.layer}.attn.hook_pattern`)) ?? contextHeadMajor(pattern, v);
  return hook("hook_z", z);
}

/**
 * pattern [batch, heads, pos, keys] · v [batch, keys, kvHeads, dV] → z [batch, pos, heads, dV] through head-major
 * products, query heads folded per key/value head as in attendProjected's general path.
 */
function contextHeadMajor(pattern: tf.Tensor4D, v: tf.Tensor4D): tf.Tensor4D {
  const [batch, heads, pos, keys] = pattern.shape;
  const [, , kvHeads, dV] = v.shape;
  const grouped = pattern.reshape([batch, kvHeads, (heads / kvHeads) * pos, keys]);
  return swapPosAndHeads(batchedMatMul(grouped, swapPosAndHeads(v)).reshape([batch, heads, pos, dV]));
}

/** z [batch, pos, heads, dHead] → z·W_O + b_O [batch, pos, d_model], plus the residual where forward.ts passes one. */
function outputProjection(w: AttentionWeights, z: tf.Tensor, residualIn: tf.Tensor3D | null): tf.Tensor3D {
  const [batch, pos, nHeads, dHead] = z.shape;
  const dModel = w.W_O.shape[1];
  const flatZ = z.reshape([batch * pos, nHeads * dHead]) as tf.Tensor2D;
  const residual = residualIn ? (residualIn.reshape([batch * pos, dModel]) as tf.Tensor2D) : null;
  return projectOutput(flatZ, w.W_O, w.b_O, residual).reshape([batch, pos, dModel]) as tf.Tensor3D;
}

function streams(ctx: AttentionContext, scoreFloats: number): boolean {
  if (scoreFloats <= attentionStreaming.minScoreFloats || !capability("streamsLargeIntermediates")) return false;
  const p = `blocks.${ctx.layer}.attn.`;
  return ctx.hooks.idle(p + "hook_attn_scores") && ctx.hooks.idle(p + "hook_pattern");
}

/**
 * [batch, a, b, dHead] → [batch, b, a, dHead]. When a or b is 1 (one new token while generating, one key/value
 * head) the elements keep their order, so a reshape does it without copying.
 */
function swapPosAndHeads(x: tf.Tensor): tf.Tensor4D {
  const [batch, a, b, dHead] = x.shape;
  return (a === 1 || b === 1 ? x.reshape([batch, b, a, dHead]) : x.transpose([0, 2, 1, 3])) as tf.Tensor4D;
}
