// Qwen2-MoE (Qwen1.5-MoE, Qwen2-57B-A14B): Qwen2's attention (q/k/v biases) with a mixture-of-experts MLP in the
// layers that decoder_sparse_step selects and mlp_only_layers does not exclude (dense SwiGLU of intermediate_size
// elsewhere). Each sparse MLP routes as Qwen3-MoE (softmax over all experts, top-k, renormalised only when
// norm_topk_prob) and adds a shared expert every token uses (mlp.shared_expert, width
// shared_expert_intermediate_size) scaled by sigmoid(mlp.shared_expert_gate · x).
import type { ModelConfig } from "../../io/config";
import type { WeightSource } from "../../io/weight-source";
import { ConfigError } from "../../errors";
import { activationFromConfig } from "../components/activations";
import type { MoeWeights } from "../components/moe";
import type { CanonicalModel, DenseMlpWeights } from "../canonical";
import { rotaryPerLayer } from "./canonical-parts";
import { assembleModel, preNormBlock, readAttention, readSwiglu } from "./llama-parts";
import { moeSizes, softmaxTopK } from "./mixtral";
import { readExperts, sharedExpert } from "./moe-parts";
import { isSparseLayer } from "./qwen3_moe";
import { WeightLoader } from "./weight-loader";

export function convertQwen2Moe(config: ModelConfig, weights: WeightSource): CanonicalModel {
  const w = new WeightLoader(weights, "qwen2_moe");
  const moe = moeSizes(config);
  const rotary = rotaryPerLayer(config);
  const act = activationFromConfig(config.activation);
  const expertWidth = moe.intermediateSize ?? config.intermediateSize;
  const sharedWidth = config.raw.shared_expert_intermediate_size;
  if (typeof sharedWidth !== "number" || !Number.isInteger(sharedWidth) || sharedWidth <= 0) {
    throw new ConfigError(config.file, "shared_expert_intermediate_size", `is ${JSON.stringify(sharedWidth)}`, "set the shared expert's width");
  }
  const qkvBias = config.raw.qkv_bias !== false;
  return assembleModel(w, config, (l) => {
    const p = `model.layers.${l}.mlp.`;
    const attn = readAttention(w, config, l, rotary[l], { qkvBias, oBias: false, qkNorm: "none", sinks: false });
    const mlp: MoeWeights | DenseMlpWeights = isSparseLayer(config, l)
      ? {
          kind: "moe",
          numExperts: moe.numExperts,
          topK: moe.topK,
          routing: softmaxTopK(moe.topK, moe.normTopkProb),
          W_router: w.linearFloat32(p + "gate.weight", config.hiddenSize, moe.numExperts),
          b_router: null,
          experts: readExperts(w, config, p + "experts.", expertWidth, moe.numExperts),
          glu: { kind: "gated", act },
          dispatch: "auto",
          shared: {
            expert: sharedExpert(w, config, p + "shared_expert.", sharedWidth),
            glu: { kind: "gated", act },
            gate: w.linearFloat32(p + "shared_expert_gate.weight", config.hiddenSize, 1),
          },
        }
      : readSwiglu(w, config, p, config.intermediateSize);
    return preNormBlock(w, config, l, attn, mlp);
  });
}
