// Gemma (1): Llama's pre-norm layout with Gemma's (1 + w) RMSNorm everywhere, the embedding scaled by √d_model
// (rounded to the compute dtype), a GeGLU MLP (tanh-approximated GELU) and tied embeddings; scores scale by
// head_dim^-½ (no query_pre_attn_scalar, no softcaps, no sliding window: those came with Gemma 2).
import type { ModelConfig } from "../../io/config";
import type { WeightSource } from "../../io/weight-source";
import type { CanonicalModel } from "../canonical";
import { rotaryPerLayer } from "./canonical-parts";
import { assembleModel, preNormBlock, readAttention, readSwiglu } from "./llama-parts";
import { WeightLoader } from "./weight-loader";

export function convertGemma1(config: ModelConfig, weights: WeightSource): CanonicalModel {
  const w = new WeightLoader(weights, "gemma");
  const rotary = rotaryPerLayer(config);
  const bias = config.attentionBias;
  const block = (l: number) => {
    const attn = readAttention(w, config, l, rotary[l], { qkvBias: bias, oBias: bias, qkNorm: "none", sinks: false });
    return preNormBlock(w, config, l, attn, readSwiglu(w, config, `model.layers.${l}.mlp.`, config.intermediateSize), 1);
  };
  return assembleModel(w, config, block, { normOffset: 1, embedScale: Math.fround(Math.sqrt(config.hiddenSize)) });
}
