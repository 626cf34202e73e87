// Pieces of the Llama checkpoint layout that the families beside it share (Mixtral, Qwen3-MoE, gpt-oss, OLMo2,
// Phi-3): self_attn.{q,k,v,o}_proj with optional biases, q/k norms and sinks; a SwiGLU MLP; and the model shell
// (embed_tokens, model.norm, lm_head). Each family's converter assembles its blocks from these.
import type { ModelConfig } from "../../io/config";
import { activationFromConfig } from "../components/activations";
import type { AttentionWeights, BlockWeights, CanonicalModel, DenseMlpWeights, RotarySettings } from "../canonical";
import { ROTARY_BUFFERS, unembedding } from "./llama";
import type { WeightLoader } from "./weight-loader";

export interface AttentionOptions {
  qkvBias: boolean;
  oBias: boolean;
  /** q_norm / k_norm: none, per head (Qwen3, Gemma 3) or over the whole projection (OLMo2). */
  qkNorm: "none" | "head" | "all";
  /** Added to RMSNorm weights: 1 for Gemma's (1 + w). */
  normOffset?: number;
  /** self_attn.sinks [heads] (gpt-oss). */
  sinks: boolean;
}

/** The attention of layer `l` (model.layers.{l}.self_attn.*). */
export function readAttention(w: WeightLoader, config: ModelConfig, l: number, rotary: RotarySettings | null, o: AttentionOptions): AttentionWeights {
  const p = `model.layers.${l}.self_attn.`;
  const d = config.hiddenSize;
  const { numHeads, numKVHeads, headDim, normEps } = config;
  const normDim = (heads: number) => (o.qkNorm === "all" ? heads * headDim : headDim);
  const norm = (name: string, heads: number) => (o.qkNorm === "none" ? null : w.rmsNorm(p + name, normDim(heads), normEps, o.normOffset ?? 0));
  return {
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
    scale: Math.fround(headDim ** -0.5),
    softcap: null,
    slidingWindow: config.layerTypes[l] === "sliding_attention" ? config.slidingWindow : null,
    sinks: o.sinks ? (w.tensor(p + "sinks", [numHeads]) as AttentionWeights["sinks"]) : null,
  };
}

/** A bias-free SwiGLU MLP under `prefix` (gate_proj, up_proj, down_proj) of width `width`. */
export function readSwiglu(w: WeightLoader, config: ModelConfig, prefix: string, width: number): DenseMlpWeights {
  const d = config.hiddenSize;
  return {
    kind: "dense",
    gated: true,
    W_gate: w.linear(prefix + "gate_proj.weight", d, width),
    b_gate: null,
    W_in: w.linear(prefix + "up_proj.weight", d, width),
    b_in: null,
    W_out: w.linear(prefix + "down_proj.weight", width, d),
    b_out: null,
    act: activationFromConfig(config.activation),
  };
}

/** A pre-norm block: input_layernorm → attention, post_attention_layernorm → MLP (Llama's placement). */
export function preNormBlock(w: WeightLoader, config: ModelConfig, l: number, attn: AttentionWeights, mlp: BlockWeights["mlp"]): BlockWeights {
  const p = `model.layers.${l}.`;
  const d = config.hiddenSize;
  return {
    ln1: w.rmsNorm(p + "input_layernorm.weight", d, config.normEps),
    attn,
    postAttnNorm: null,
    ln2: w.rmsNorm(p + "post_attention_layernorm.weight", d, config.normEps),
    mlp,
    postMlpNorm: null,
    parallel: false,
  };
}

/** The model around the blocks: embed_tokens, model.norm, lm_head (or tied); then checks every tensor was used. */
export function assembleModel(w: WeightLoader, config: ModelConfig, blocks: BlockWeights[]): CanonicalModel {
  const d = config.hiddenSize;
  const model: CanonicalModel = {
    modelType: config.modelType,
    dModel: d,
    nLayers: config.numLayers,
    vocabSize: config.vocabSize,
    maxPositions: config.maxPositions,
    embed: { W_E: w.tensor("model.embed_tokens.weight", [config.vocabSize, d]) as CanonicalModel["embed"]["W_E"], scale: null },
    posEmbed: null,
    blocks,
    lnFinal: w.rmsNorm("model.norm.weight", d, config.normEps),
    unembed: { ...unembedding(w, config), softcap: null },
  };
  w.assertAllUsed(ROTARY_BUFFERS);
  return model;
}
