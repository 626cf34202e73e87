// Gemma 3 (text): Gemma 2's block ((1 + w) RMSNorm, √d embedding scale, norms after attention and around the
// MLP, query_pre_attn_scalar, sliding-window layers from layer_types) plus per-head q/k RMSNorm ((1 + w) as well)
// and a RoPE per layer type: rope_local_base_freq on sliding layers, rope_theta with rope_scaling on global ones
// (both forms of config.json are read by io/config-rope). No attention softcapping by default; any given in
// config.json applies as in Gemma 2.
import type { ModelConfig } from "../../io/config";
import type { WeightSource } from "../../io/weight-source";
import type { CanonicalModel } from "../canonical";
import { convertGemma } from "./gemma2";

export function convertGemma3Text(config: ModelConfig, weights: WeightSource): CanonicalModel {
  return convertGemma(config, weights, "gemma3_text", true);
}
