// Gemma 2: Llama's layout plus (1 + w) RMSNorm, √d_model embedding scaling, norms after attention and around the
// MLP, attention and final logit softcapping, query_pre_attn_scalar and alternating sliding-window layers.
import type { ModelConfig } from "../../io/config";
import type { WeightSource } from "../../io/weight-source";
import type { CanonicalModel } from "../canonical";
import { convertLlamaLike } from "./llama";

export function convertGemma2(config: ModelConfig, weights: WeightSource): CanonicalModel {
  return convertLlamaLike(config, weights, {
    architecture: "gemma2",
    qkvBias: config.attentionBias,
    oBias: config.attentionBias,
    mlpBias: false,
    qkNorm: false,
    gemma: true,
  });
}
