// OLMo 2: no norm before attention or the MLP; instead RMSNorm on each sublayer's output before it joins the
// residual (post_attention_layernorm, post_feedforward_layernorm), and q/k RMSNorm over the whole projection
// (q_norm [heads·head_dim], k_norm [kv_heads·head_dim]) before the head split and RoPE.
import type { ModelConfig } from "../../io/config";
import type { WeightSource } from "../../io/weight-source";
import type { CanonicalModel } from "../canonical";
import { blockWeights, rotaryPerLayer } from "./canonical-parts";
import { assembleModel, readAttention, readSwiglu } from "./llama-parts";
import { WeightLoader } from "./weight-loader";

export function convertOlmo2(config: ModelConfig, weights: WeightSource): CanonicalModel {
  const w = new WeightLoader(weights, "olmo2");
  const d = config.hiddenSize;
  const rotary = rotaryPerLayer(config);
  return assembleModel(w, config, (l) => {
    const p = `model.layers.${l}.`;
    return blockWeights({
      attn: readAttention(w, config, l, rotary[l], { qkvBias: config.attentionBias, oBias: config.attentionBias, qkNorm: "all", sinks: false }),
      postAttnNorm: w.rmsNorm(p + "post_attention_layernorm.weight", d, config.normEps),
      mlp: readSwiglu(w, config, p + "mlp.", config.intermediateSize),
      postMlpNorm: w.rmsNorm(p + "post_feedforward_layernorm.weight", d, config.normEps),
    });
  });
}
