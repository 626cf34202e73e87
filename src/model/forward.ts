// The forward pass over a canonical model: embeddings, blocks (pre/post norms, sequential or parallel residual),
// final norm and unembedding, calling the HookRunner at every TransformerLens hook point. Synchronous and
// tensor-only: callers wrap it in tf.tidy; what hooks cache is tf.keep'd by the HookRunner.
import * as tf from "@tensorflow/tfjs-core";
import { capability, mlpRunsInOneCall } from "../backend/capabilities";
import type { BlockWeights, CanonicalModel, RotarySettings } from "./canonical";
import type { HookRunner } from "./hooks";
import { attention, type BlockAttentionContext } from "./components/attention";
import { attentionMask, attentionMaskOnDevice } from "./components/masks";
import { withAlibi } from "./components/alibi";
import { mlp } from "./components/mlp";
import { matMulTransposedWeight } from "./components/linear";
import { weightGather, weightMatMul } from "../backend/packed-weight";
import { applyNorm } from "./components/norm";
import { rotaryTables, type RotaryTables } from "./components/rotary";
import type { KVCache } from "./kv-cache";
import { attentionStreaming } from "./components/attention-streamed";
import { wholeBlock } from "./whole-block";

export interface ForwardInput {
  /** Token ids [batch][pos] of this run (after the cached past). */
  ids: number[][];
  /** Position ids [batch][pos] (cumsum of the mask − 1 under left padding). */
  positions: number[][];
  /** Per row, 1 for real tokens and 0 for padding, over past + this run's positions. */
  keyValid: Uint8Array[];
}

export interface ForwardOptions {
  kv?: KVCache | null;
  /** Unembed only the last position (generation needs nothing else). */
  lastPositionOnly?: boolean;
}

/** Logits [batch, pos, vocab] (or [batch, 1, vocab] with lastPositionOnly). */
export function forward(model: CanonicalModel, input: ForwardInput, hooks: HookRunner, opts: ForwardOptions = {}): tf.Tensor3D {
  const stages = forwardStages(model, input, hooks, opts);
  try {
    let resid = stages.embed();
    for (let layer = 0; layer < model.blocks.length; layer++) resid = stages.block(layer, resid);
    return stages.head(resid);
  } finally {
    stages.dispose();
  }
}

/**
 * The forward pass in its three stages, for a caller that runs blocks on their own (the checkpointed gradient
 * recomputes each block from its input during the backward sweep). The rotary tables and masks the blocks share
 * are kept until dispose(), so a block may run again, inside any scope, after the others.
 */
export interface ForwardStages {
  /** Embeddings (hooked), scaled and normed where the model does, plus learned positions: block 0's input. */
  embed(): tf.Tensor3D;
  /** Block `layer` of its input (in its own tidy). */
  block(layer: number, input: tf.Tensor3D): tf.Tensor3D;
  /** Final norm and unembedding of the last block's output (its last position with lastPositionOnly). */
  head(resid: tf.Tensor3D): tf.Tensor3D;
  /** Frees the shared tables and masks. */
  dispose(): void;
}

export function forwardStages(model: CanonicalModel, input: ForwardInput, hooks: HookRunner, opts: ForwardOptions = {}): ForwardStages {
  const kv = opts.kv ?? null;
  const batch = input.ids.length;
  const pos = input.ids[0].length;
  const pastLength = kv ? kv.length : 0;
  const shared: tf.Tensor[] = [];
  const share = <T extends tf.Tensor>(t: T): T => {
    shared.push(tf.keep(t));
    return t;
  };

  const embed = (): tf.Tensor3D => {
    const idsTensor = tf.tensor2d(input.ids.flat(), [batch, pos], "int32");
    const embedded = hooks.run("hook_embed", null, weightGather(model.embed.W_E, idsTensor));
    let resid: tf.Tensor = model.embed.scale !== null ? tf.mul(embedded, model.embed.scale) : embedded;
    if (model.embed.norm) resid = applyNorm(resid, model.embed.norm);
    if (model.posEmbed) {
      const posIds = tf.tensor2d(input.positions.flat(), [batch, pos], "int32");
      resid = tf.add(resid, hooks.run("hook_pos_embed", null, tf.gather(model.posEmbed.W_pos, posIds)));
    }
    return resid as tf.Tensor3D;
  };

  const seqLen = Math.max(...input.positions.map((row) => Math.max(...row))) + 1;
  const tables = new Map<RotarySettings, RotaryTables>();
  const tablesFor = (r: RotarySettings | null) => {
    if (!r) return null;
    if (!tables.has(r)) {
      const t = rotaryTables(r, input.positions, seqLen);
      share(t.cos);
      share(t.sin);
      tables.set(r, t);
    }
    return tables.get(r)!;
  };
  // One sequence without padding: every query sees its own key, so no mask row is wholly masked (attention's
  // products may then skip what the causal mask leaves out).
  const unpadded = input.keyValid.length === 1 && input.keyValid[0].every((v) => v === 1);
  const masks = new Map<number | null, tf.Tensor4D>();
  const maskFor = (window: number | null) => {
    // webgpu: built by GPU ops (no host loop, no upload); the same 0 / MASKED values.
    const build = capability("buildsOnDevice") ? attentionMaskOnDevice : attentionMask;
    if (!masks.has(window)) masks.set(window, share(build(input.keyValid, pastLength, pos, window)));
    return masks.get(window)!;
  };

  const alibiMasks = new Map<Float32Array, tf.Tensor4D>();
  const alibiMaskFor = (slopes: Float32Array, mask: tf.Tensor4D) => {
    if (!alibiMasks.has(slopes)) alibiMasks.set(slopes, share(withAlibi(mask, slopes, input.keyValid)));
    return alibiMasks.get(slopes)!;
  };

  const block = (layer: number, input: tf.Tensor3D): tf.Tensor3D => {
    const weights = model.blocks[layer];
    model.layerWeights?.acquire(layer); // refills `weights` in place when its weights were freed
    // Tables and masks are shared across blocks, so they are made outside the block's scope. Each block runs
    // in its own tidy: its intermediates (scores, patterns, MLP activations) are freed when it ends instead of
    // piling up over every layer until the caller's tidy (cached hooks and the KV cache are tf.keep'd).
    const ctx: BlockAttentionContext = {
      rotary: tablesFor(weights.attn.rotary),
      mask: weights.attn.alibiSlopes ? alibiMaskFor(weights.attn.alibiSlopes, maskFor(weights.attn.slidingWindow)) : maskFor(weights.attn.slidingWindow),
      extendKV: (k: tf.Tensor4D, v: tf.Tensor4D) => (kv ? kv.extend(layer, k, v) : { k, v }),
      // webgpu without a KV cache: attention may read keys and values where the projections left them.
      ...(capability("keysInPlace") && !kv ? { keysInPlace: true } : {}),
      ...(unpadded ? { causalKeys: true } : {}),
    };
    // A block as one kernel needs its keys and values nowhere else (no KV cache) and its intermediates whole.
    const whole = !kv && !streamsIntermediates(weights, input);
    return tf.tidy(() => runBlock(weights, layer, input, hooks, ctx, whole));
  };

  const head = (resid: tf.Tensor3D): tf.Tensor3D => {
    const last = opts.lastPositionOnly && pos > 1 ? resid.slice([0, pos - 1, 0], [-1, 1, -1]) : resid;
    return unembed(model, finalNorm(model, last, hooks));
  };

  return { embed, block, head, dispose: () => tf.dispose(shared.splice(0)) };
}

function runBlock(
  block: BlockWeights,
  layer: number,
  residPre: tf.Tensor3D,
  hooks: HookRunner,
  attnCtx: BlockAttentionContext,
  wholeAllowed: boolean,
): tf.Tensor3D {
  const p = `blocks.${layer}.`;
  const hook = (name: string, t: tf.Tensor) => hooks.run(p + name, layer, t) as tf.Tensor3D;
  const resid = hook("hook_resid_pre", residPre);
  const whole = wholeBlock(block, layer, resid, { hooks, mask: attnCtx.mask, rotary: attnCtx.rotary, allowed: wholeAllowed });
  if (whole) return hook("hook_resid_post", whole);

  const attnIn = block.ln1 ? hook("ln1.hook_normalized", applyNorm(resid, block.ln1)) : resid;
  if (fusesResidualAdds(block, layer, resid, hooks)) return fusedResidualBlock(block, layer, resid, attnIn, hooks, attnCtx);
  // Attention and the MLP each in their own tidy: their intermediates (q/k/v, scores, the MLP's hidden activations)
  // are freed as soon as their output exists, so a block's peak is the larger of the two, not their sum.
  let attnOut = tf.tidy(() => attention(block.attn, attnIn, { hooks, layer, ...attnCtx }));
  if (block.postAttnNorm) attnOut = applyNorm(attnOut, block.postAttnNorm) as tf.Tensor3D;
  attnOut = hook("hook_attn_out", attnOut);

  // Parallel blocks (GPT-NeoX) feed the MLP the block input; sequential ones the residual after attention.
  const post1 = block.residualNorms ? applyNorm(tf.add(resid, attnOut), block.residualNorms.attn) : tf.add(resid, attnOut);
  const mid = block.parallel ? resid : hook("hook_resid_mid", post1);
  const mlpIn = block.ln2 ? hook("ln2.hook_normalized", applyNorm(mid, block.ln2)) : mid;
  let mlpOut = positionwiseMlp(block, layer, mlpIn as tf.Tensor3D, hooks);
  if (block.postMlpNorm) mlpOut = applyNorm(mlpOut, block.postMlpNorm) as tf.Tensor3D;
  mlpOut = hook("hook_mlp_out", mlpOut);

  // Summation order as the reference: (mlp + attn) + input for parallel blocks, mid + mlp otherwise.
  let post = block.parallel ? tf.add(tf.add(mlpOut, attnOut), resid) : tf.add(mid, mlpOut);
  if (block.residualNorms) post = applyNorm(post, block.residualNorms.mlp);
  return hook("hook_resid_post", post);
}

/**
 * Where the backend has fusedLinearResidual (webgpu, cpu-native): a sequential block without post-norms whose
 * hook_attn_out and hook_mlp_out nobody observes adds each sublayer's output to the residual stream as W_O's and
 * W_out's products are stored (two dispatches or calls and two passes over the stream fewer per block, the same
 * numbers: see fusedLinearResidual). Not where the MLP would run over blocks of positions (positionwiseMlp).
 */
function fusesResidualAdds(block: BlockWeights, layer: number, x: tf.Tensor3D, hooks: HookRunner): boolean {
  if (!capability("fusedLinearResidual")) return false;
  if (block.parallel || block.postAttnNorm || block.postMlpNorm || block.residualNorms || block.mlp.kind !== "dense") return false;
  const p = `blocks.${layer}.`;
  return hooks.idle(p + "hook_attn_out") && hooks.idle(p + "hook_mlp_out") && mlpPositionBlock(block, layer, x, hooks) === null;
}

/** runBlock for the blocks fusesResidualAdds accepts: the same hook points except the two idle ones. */
function fusedResidualBlock(
  block: BlockWeights,
  layer: number,
  resid: tf.Tensor3D,
  attnIn: tf.Tensor,
  hooks: HookRunner,
  attnCtx: BlockAttentionContext,
): tf.Tensor3D {
  const p = `blocks.${layer}.`;
  const hook = (name: string, t: tf.Tensor) => hooks.run(p + name, layer, t) as tf.Tensor3D;
  const mid = hook("hook_resid_mid", tf.tidy(() => attention(block.attn, attnIn as tf.Tensor3D, { hooks, layer, ...attnCtx, residual: resid })));
  const mlpIn = block.ln2 ? hook("ln2.hook_normalized", applyNorm(mid, block.ln2)) : mid;
  const post = tf.tidy(() => mlp(block.mlp, mlpIn as tf.Tensor3D, { hooks, layer, residual: mid }));
  return hook("hook_resid_post", post);
}

/**
 * Whether the host backend would stream this block's attention scores a head at a time (attention-streamed.ts) or
 * its MLP a block of positions at a time (positionwiseMlp) when nothing observes them, to bound memory: a block run
 * as one kernel would hold them whole.
 */
function streamsIntermediates(block: BlockWeights, x: tf.Tensor3D): boolean {
  if (!capability("streamsLargeIntermediates")) return false;
  const [batch, pos] = x.shape;
  if (batch * block.attn.nHeads * pos * pos > attentionStreaming.minScoreFloats) return true;
  return block.mlp.kind === "dense" && batch * pos * block.mlp.W_in.shape[1] > mlpBlockFloats(block.mlp);
}

/**
 * A dense MLP's hidden activations above this many floats are computed a block of positions at a time: `blockFloats`
 * where they are tensors (the activation's temporaries are several [positions, d_mlp] tensors at once), and
 * `oneCallBlockFloats` where the whole MLP is one kernel call (cpu-native's onnxruntime call, mlpRunsInOneCall): there
 * they live only in onnxruntime's arena, while each further block is one more call that packs the MLP's weights
 * again and keeps the block from running as one call (model/whole-block.ts). With 2²⁰ there, Qwen2.5-1.5B's shape at
 * T = 128 (1.15 M floats) ran its MLPs as 117 + 11 positions; with 2²² its blocks run as one call each: forward
 * 1.29× and probe 1.08× faster, 3 of 3 rounds each (`node bench/ab.mjs --cases qwen2.5-1.5b:128`,
 * bench/results/cpu/ab-mlp-one-call-blocks.jsonl); one such MLP alone took 63.6 ms whole, 75.4 in two calls.
 */
export const mlpStreaming = { blockFloats: 2 ** 20, oneCallBlockFloats: 2 ** 22 };

/** The block budget (mlpStreaming) for a dense MLP on the active backend. */
function mlpBlockFloats(mlp: Extract<BlockWeights["mlp"], { kind: "dense" }>): number {
  return mlpRunsInOneCall(mlp.act) ? mlpStreaming.oneCallBlockFloats : mlpStreaming.blockFloats;
}

/**
 * The block's MLP in its own tidy. A dense MLP acts on each position alone, so when nothing observes its hidden
 * activations (hook_pre, hook_pre_linear, hook_post) and they would be large, it runs over blocks of positions:
 * the activation function's temporaries (several [positions, d_mlp] tensors) then exist for one block only.
 */
function positionwiseMlp(block: BlockWeights, layer: number, x: tf.Tensor3D, hooks: HookRunner): tf.Tensor3D {
  const [batch, pos, dModel] = x.shape;
  const positions = mlpPositionBlock(block, layer, x, hooks);
  if (positions === null) return tf.tidy(() => mlp(block.mlp, x, { hooks, layer }));
  const parts: tf.Tensor3D[] = [];
  for (let start = 0; start < pos; start += positions) {
    const size = Math.min(positions, pos - start);
    parts.push(tf.tidy(() => mlp(block.mlp, tf.slice(x, [0, start, 0], [batch, size, dModel]), { hooks, layer })));
  }
  const out = tf.concat(parts, 1) as tf.Tensor3D;
  tf.dispose(parts);
  return out;
}

/** Positions per block for positionwiseMlp on x [batch, pos, d], or null where the MLP runs whole. */
function mlpPositionBlock(block: BlockWeights, layer: number, x: tf.Tensor3D, hooks: HookRunner): number | null {
  // On webgpu memory is not the constraint and each block would repeat the MLP's dispatches: run it whole.
  if (block.mlp.kind !== "dense" || !capability("streamsLargeIntermediates")) return null;
  const [batch, pos] = x.shape;
  const positions = Math.max(1, Math.floor(mlpBlockFloats(block.mlp) / (batch * block.mlp.W_in.shape[1])));
  const observed = ["hook_pre", "hook_pre_linear", "hook_post"].some((h) => !hooks.idle(`blocks.${layer}.mlp.${h}`));
  return pos <= positions || observed ? null : positions;
}

/** ln_final (hooked) of a residual stream [batch, pos, d]. */
export function finalNorm(model: CanonicalModel, resid: tf.Tensor, hooks: HookRunner | null): tf.Tensor {
  if (!model.lnFinal) return resid;
  const normed = applyNorm(resid, model.lnFinal);
  return hooks ? hooks.run("ln_final.hook_normalized", null, normed) : normed;
}

/** Logits of (already final-normed) x [..., d]: W_U (or W_Eᵀ when tied), bias, then the final softcap. */
export function unembed(model: CanonicalModel, x: tf.Tensor): tf.Tensor3D {
  return tf.tidy(() => {
    const d = x.shape[x.rank - 1];
    const flat = x.reshape([-1, d]);
    const { W_U, b_U, softcap, divisor } = model.unembed;
    let logits: tf.Tensor = W_U ? weightMatMul(flat as tf.Tensor2D, W_U) : matMulTransposedWeight(flat as tf.Tensor2D, model.embed.W_E);
    if (b_U) logits = tf.add(logits, b_U);
    if (divisor) logits = tf.div(logits, divisor);
    if (softcap !== null) logits = tf.mul(tf.tanh(tf.div(logits, softcap)), softcap);
    return logits.reshape([...x.shape.slice(0, -1), model.vocabSize]) as tf.Tensor3D;
  });
}
