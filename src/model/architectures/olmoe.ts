// OLMoE: OLMo's attention with q/k RMSNorm over the whole projection (q_norm [heads·head_dim], k_norm
// [kv_heads·head_dim], before the head split and RoPE) and a mixture-of-experts MLP in every layer without shared
// experts: softmax over all experts, top-k, renormalised only when norm_topk_prob. clip_qkv (clamping q, k, v) is
// refused rather than ignored.
import type { ModelConfig } from "../../io/config";
import type { WeightSource } from "../../io/weight-source";
import { ConfigError } from "../../errors";
import { activationFromConfig } from "../components/activations";
import type { MoeWeights } from "../components/moe";
import type { CanonicalModel } from "../canonical";
import { rotaryPerLayer } from "./canonical-parts";
import { assembleModel, preNormBlock, readAttention } from "./llama-parts";
import { moeSizes, softmaxTopK } from "./mixtral";
import { readExperts } from "./moe-parts";
import { WeightLoader } from "./weight-loader";

export function convertOlmoe(config: ModelConfig, weights: WeightSource): CanonicalModel {
  if (config.raw.clip_qkv !== null && config.raw.clip_qkv !== undefined) {
    throw new ConfigError(config.file, "clip_qkv", `is ${JSON.stringify(config.raw.clip_qkv)}; lmprobe does not clamp q/k/v yet`, "use a checkpoint with clip_qkv null (every released OLMoE)");
  }
  const w = new WeightLoader(weights, "olmoe");
  const moe = moeSizes(config);
  const rotary = rotaryPerLayer(config);
  const act = activationFromConfig(config.activation);
  const expertWidth = moe.intermediateSize ?? config.intermediateSize;
  const bias = config.attentionBias;
  return assembleModel(w, config, (l) => {
    const p = `model.layers.${l}.mlp.`;
    const attn = readAttention(w, config, l, rotary[l], { qkvBias: bias, oBias: bias, qkNorm: "all", sinks: false });
    const mlp: MoeWeights = {
      kind: "moe",
      numExperts: moe.numExperts,
      topK: moe.topK,
      routing: softmaxTopK(moe.topK, moe.normTopkProb),
      W_router: w.linearFloat32(p + "gate.weight", config.hiddenSize, moe.numExperts),
      b_router: null,
      experts: readExperts(w, config, p + "experts.", expertWidth, moe.numExperts),
      glu: { kind: "gated", act },
      dispatch: "auto",
    };
    return preNormBlock(w, config, l, attn, mlp);
  });
}
