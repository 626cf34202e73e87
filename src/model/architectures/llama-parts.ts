// The Llama checkpoint layout, read once for every family that shares it (Llama, Mistral, Qwen2/3, Gemma 2/3,
// OLMo2, Phi-3, Mixtral, Qwen3-MoE, gpt-oss): model.layers.{l}.self_attn.{q,k,v,o}_proj with optional biases,
// q/k norms and sinks; a SwiGLU MLP (gate_proj, up_proj, down_proj); the block norms in Llama's or Gemma's
// placement; and the model shell (model.embed_tokens, model.norm, lm_head). Each converter assembles its blocks
// from these and states only what its family changes.
import * as tf from "@tensorflow/tfjs-core";
import type { ModelConfig } from "../../io/config";
import { rebuildingLayerWeights } from "../layer-weights";
import { activationFromConfig } from "../components/activations";
import type { AttentionWeights, BlockWeights, CanonicalModel, DenseMlpWeights, RotarySettings } from "../canonical";
import { attentionWeights, blockWeights, denseMlpWeights, modelShell, readEmbedding, ROTARY_BUFFERS, slidingWindowOf, unembedding } from "./canonical-parts";
import type { WeightLoader } from "./weight-loader";

export interface AttentionOptions {
  /** Read q/k/v biases (required when true; read when present otherwise). */
  qkvBias: boolean;
  oBias: boolean;
  /** q_norm / k_norm: none, per head (Qwen3, Gemma 3) or over the whole projection (OLMo2). */
  qkNorm: "none" | "head" | "all";
  /** Added to RMSNorm weights: 1 for Gemma's (1 + w). */
  normOffset?: number;
  /** self_attn.sinks [heads] (gpt-oss). */
  sinks: boolean;
  /** Gemma: scores scale by query_pre_attn_scalar^-½ and are softcapped by attn_logit_softcapping. */
  gemmaScaling?: boolean;
}

/** The attention of layer `l` (model.layers.{l}.self_attn.*). */
export function readAttention(w: WeightLoader, config: ModelConfig, l: number, rotary: RotarySettings | null, o: AttentionOptions): AttentionWeights {
  const p = `model.layers.${l}.self_attn.`;
  const d = config.hiddenSize;
  const { numHeads, numKVHeads, headDim, normEps } = config;
  const normDim = (heads: number) => (o.qkNorm === "all" ? heads * headDim : headDim);
  const norm = (name: string, heads: number) => (o.qkNorm === "none" ? null : w.rmsNorm(p + name, normDim(heads), normEps, o.normOffset ?? 0));
  const gemma = o.gemmaScaling === true;
  return attentionWeights({
    nHeads: numHeads,
    nKVHeads: numKVHeads,
    dHead: headDim,
    W_Q: w.linear(p + "q_proj.weight", d, numHeads * headDim),
    b_Q: w.bias(p + "q_proj.bias", numHeads * headDim, o.qkvBias),
    W_K: w.linear(p + "k_proj.weight", d, numKVHeads * headDim),
    b_K: w.bias(p + "k_proj.bias", numKVHeads * headDim, o.qkvBias),
    W_V: w.linear(p + "v_proj.weight", d, numKVHeads * headDim),
    b_V: w.bias(p + "v_proj.bias", numKVHeads * headDim, o.qkvBias),
    W_O: w.linear(p + "o_proj.weight", numHeads * headDim, d),
    b_O: w.bias(p + "o_proj.bias", d, o.oBias),
    qNorm: norm("q_norm.weight", numHeads),
    kNorm: norm("k_norm.weight", numKVHeads),
    qkNormScope: o.qkNorm === "all" ? "all" : "head",
    rotary,
    scale: Math.fround(gemma && config.queryPreAttnScalar !== null ? config.queryPreAttnScalar ** -0.5 : headDim ** -0.5),
    softcap: gemma ? config.attnLogitSoftcap : null,
    slidingWindow: slidingWindowOf(config, l),
    sinks: o.sinks ? (w.tensor(p + "sinks", [numHeads]) as AttentionWeights["sinks"]) : null,
  });
}

/**
 * A SwiGLU MLP under `prefix` (gate_proj, up_proj, down_proj) of width `width`, with biases only when `bias`
 * (Llama's mlp_bias): a bias the configuration does not announce is reported as unused rather than applied.
 */
export function readSwiglu(w: WeightLoader, config: ModelConfig, prefix: string, width: number, bias = false): DenseMlpWeights {
  const d = config.hiddenSize;
  const b = (name: string, dim: number) => (bias ? w.bias(prefix + name, dim, true) : null);
  return denseMlpWeights({
    W_gate: w.linear(prefix + "gate_proj.weight", d, width),
    b_gate: b("gate_proj.bias", width),
    W_in: w.linear(prefix + "up_proj.weight", d, width),
    b_in: b("up_proj.bias", width),
    W_out: w.linear(prefix + "down_proj.weight", width, d),
    b_out: b("down_proj.bias", d),
    act: activationFromConfig(config.activation),
  });
}

/** A pre-norm block: input_layernorm → attention, post_attention_layernorm → MLP (Llama's placement). */
export function preNormBlock(w: WeightLoader, config: ModelConfig, l: number, attn: AttentionWeights, mlp: BlockWeights["mlp"], normOffset = 0): BlockWeights {
  const p = `model.layers.${l}.`;
  const norm = (name: string) => w.rmsNorm(`${p}${name}.weight`, config.hiddenSize, config.normEps, normOffset);
  return blockWeights({ ln1: norm("input_layernorm"), attn, ln2: norm("post_attention_layernorm"), mlp });
}

/**
 * Gemma's sandwich block: input_layernorm → attention → post_attention_layernorm, then pre_feedforward_layernorm
 * → MLP → post_feedforward_layernorm, every norm (1 + w).
 */
export function sandwichBlock(w: WeightLoader, config: ModelConfig, l: number, attn: AttentionWeights, mlp: BlockWeights["mlp"]): BlockWeights {
  const p = `model.layers.${l}.`;
  const norm = (name: string) => w.rmsNorm(`${p}${name}.weight`, config.hiddenSize, config.normEps, 1);
  return blockWeights({
    ln1: norm("input_layernorm"),
    attn,
    postAttnNorm: norm("post_attention_layernorm"),
    ln2: norm("pre_feedforward_layernorm"),
    mlp,
    postMlpNorm: norm("post_feedforward_layernorm"),
  });
}

export interface ShellOptions {
  /** Added to model.norm's weight: 1 for Gemma's (1 + w). */
  normOffset?: number;
  /** Multiplier after the embedding lookup (Gemma's √d_model as a float32), or null. */
  embedScale?: number | null;
  /** Final logit softcap (Gemma 2), or null. */
  finalSoftcap?: number | null;
}

/**
 * The model around its blocks: model.embed_tokens and lm_head (or the tied embedding) are read first, then each
 * block through `block(l)`, then model.norm; finally every checkpoint tensor must have been used. The two
 * vocabulary-sized matrices are the largest tensors: read while little else is held, their temporary copies (the
 * float32 array read from disk, lm_head's [vocab, d] before its transpose) are released before the blocks fill
 * memory, instead of adding to the peak at the end of the load.
 */
export function assembleModel(w: WeightLoader, config: ModelConfig, block: (l: number) => BlockWeights, o: ShellOptions = {}): CanonicalModel {
  const W_E = readEmbedding(w, config, "model.embed_tokens.weight");
  const unembed = unembedding(w, config, "lm_head.weight", o.finalSoftcap ?? null);
  // Streaming (a quantised checkpoint too large in float32): each block is built once to check it and give the
  // skeleton its shapes, then freed; the forward pass rebuilds it through model.layerWeights.
  const streaming = w.weights.streamLayers === true;
  const blocks = Array.from({ length: config.numLayers }, (_, l) => {
    const b = block(l);
    if (streaming) tf.dispose(b as unknown as tf.TensorContainer);
    return b;
  });
  const model = modelShell(config, {
    W_E,
    embedScale: o.embedScale ?? null,
    blocks,
    lnFinal: w.rmsNorm("model.norm.weight", config.hiddenSize, config.normEps, o.normOffset ?? 0),
    unembed,
  });
  w.assertAllUsed(ROTARY_BUFFERS);
  if (streaming) model.layerWeights = rebuildingLayerWeights(blocks, block, () => w.weights.close());
  return model;
}
