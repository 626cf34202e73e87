// Gemma 2: Llama's layout plus (1 + w) RMSNorm, √d_model embedding scaling, norms after attention and around the
// MLP, attention and final logit softcapping, query_pre_attn_scalar and alternating sliding-window layers.
import type { ModelConfig } from "../../io/config";
import type { WeightSource } from "../../io/weight-source";
import type { CanonicalModel } from "../canonical";
import { rotaryPerLayer } from "./canonical-parts";
import { assembleModel, readAttention, readSwiglu, sandwichBlock } from "./llama-parts";
import { WeightLoader } from "./weight-loader";

/** The Gemma 2 / Gemma 3 model; `qkNorm` adds Gemma 3's per-head (1 + w) q/k RMSNorm. */
export function convertGemma(config: ModelConfig, weights: WeightSource, architecture: string, qkNorm: boolean): CanonicalModel {
  const w = new WeightLoader(weights, architecture);
  const rotary = rotaryPerLayer(config);
  const bias = config.attentionBias;
  const block = (l: number) => {
    const attn = readAttention(w, config, l, rotary[l], { qkvBias: bias, oBias: bias, qkNorm: qkNorm ? "head" : "none", normOffset: 1, sinks: false, gemmaScaling: true });
    return sandwichBlock(w, config, l, attn, readSwiglu(w, config, `model.layers.${l}.mlp.`, config.intermediateSize));
  };
  // Gemma multiplies the embedding by √d as a tensor of the compute dtype (float32 here).
  return assembleModel(w, config, block, { normOffset: 1, embedScale: Math.fround(Math.sqrt(config.hiddenSize)), finalSoftcap: config.finalLogitSoftcap });
}

export function convertGemma2(config: ModelConfig, weights: WeightSource): CanonicalModel {
  return convertGemma(config, weights, "gemma2", false);
}
