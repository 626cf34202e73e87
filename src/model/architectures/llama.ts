// Llama and the families that share its layout unchanged apart from a few switches: llama (incl. Llama 3 RoPE
// scaling; attention_bias, mlp_bias), mistral (sliding window on every layer), qwen2 (q/k/v biases), qwen3
// (per-head q/k RMSNorm). The layout itself is read by llama-parts.ts.
import type { ModelConfig } from "../../io/config";
import type { WeightSource } from "../../io/weight-source";
import type { CanonicalModel } from "../canonical";
import { rotaryPerLayer } from "./canonical-parts";
import { assembleModel, preNormBlock, readAttention, readSwiglu, type AttentionOptions } from "./llama-parts";
import { WeightLoader } from "./weight-loader";

export interface LlamaVariant {
  architecture: string;
  attention: Pick<AttentionOptions, "qkvBias" | "oBias" | "qkNorm">;
  mlpBias: boolean;
}

/** Pre-norm blocks of Llama's attention and SwiGLU MLP, in the Llama shell. */
export function convertLlamaVariant(config: ModelConfig, weights: WeightSource, v: LlamaVariant): CanonicalModel {
  const w = new WeightLoader(weights, v.architecture);
  const rotary = rotaryPerLayer(config);
  return assembleModel(w, config, (l) => {
    const attn = readAttention(w, config, l, rotary[l], { ...v.attention, sinks: false });
    const mlp = readSwiglu(w, config, `model.layers.${l}.mlp.`, config.intermediateSize, v.mlpBias);
    return preNormBlock(w, config, l, attn, mlp);
  });
}

export function convertLlama(config: ModelConfig, weights: WeightSource): CanonicalModel {
  const bias = config.attentionBias;
  return convertLlamaVariant(config, weights, { architecture: "llama", attention: { qkvBias: bias, oBias: bias, qkNorm: "none" }, mlpBias: config.mlpBias });
}

export function convertMistral(config: ModelConfig, weights: WeightSource): CanonicalModel {
  return convertLlamaVariant(config, weights, { architecture: "mistral", attention: { qkvBias: false, oBias: false, qkNorm: "none" }, mlpBias: false });
}

export function convertQwen2(config: ModelConfig, weights: WeightSource): CanonicalModel {
  return convertLlamaVariant(config, weights, { architecture: "qwen2", attention: { qkvBias: true, oBias: false, qkNorm: "none" }, mlpBias: false });
}

export function convertQwen3(config: ModelConfig, weights: WeightSource): CanonicalModel {
  const bias = config.attentionBias;
  return convertLlamaVariant(config, weights, { architecture: "qwen3", attention: { qkvBias: bias, oBias: bias, qkNorm: "head" }, mlpBias: false });
}
