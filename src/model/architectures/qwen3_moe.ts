// Qwen3-MoE: Qwen3's attention (per-head q/k RMSNorm) with mixture-of-experts MLPs (mlp.gate [experts, d],
// mlp.experts.{e}.{gate,up,down}_proj) in the layers that decoder_sparse_step selects and mlp_only_layers does not
// exclude; the others keep a dense SwiGLU of intermediate_size. Routing as Qwen3MoeTopKRouter: softmax over all
// experts, top-k, renormalised only when norm_topk_prob.
import type { ModelConfig } from "../../io/config";
import type { WeightSource } from "../../io/weight-source";
import { ConfigError } from "../../errors";
import { activationFromConfig } from "../components/activations";
import type { MoeWeights } from "../components/moe";
import type { CanonicalModel } from "../canonical";
import { rotaryPerLayer } from "./canonical-parts";
import { assembleModel, preNormBlock, readAttention, readSwiglu } from "./llama-parts";
import { moeSizes, readSeparateExperts, softmaxTopK } from "./mixtral";
import { WeightLoader } from "./weight-loader";

/** Whether layer l has experts: Qwen3MoeDecoderLayer's test on mlp_only_layers and decoder_sparse_step. */
export function isSparseLayer(config: ModelConfig, l: number): boolean {
  const raw = config.raw;
  const step = raw.decoder_sparse_step ?? 1;
  if (typeof step !== "number" || !Number.isInteger(step) || step < 1) {
    throw new ConfigError(config.file, "decoder_sparse_step", `is ${JSON.stringify(step)}, not a positive integer`, "set decoder_sparse_step to 1 for experts in every layer");
  }
  const dense = raw.mlp_only_layers ?? [];
  if (!Array.isArray(dense) || dense.some((v) => typeof v !== "number")) {
    throw new ConfigError(config.file, "mlp_only_layers", "is not a list of layer indices", "give a list such as [] or [0, 3]");
  }
  return !dense.includes(l) && (l + 1) % step === 0;
}

export function convertQwen3Moe(config: ModelConfig, weights: WeightSource): CanonicalModel {
  const w = new WeightLoader(weights, "qwen3_moe");
  const moe = moeSizes(config);
  const rotary = rotaryPerLayer(config);
  const act = activationFromConfig(config.activation);
  const expertWidth = moe.intermediateSize ?? config.intermediateSize;
  return assembleModel(w, config, (l) => {
    const p = `model.layers.${l}.mlp.`;
    const attn = readAttention(w, config, l, rotary[l], { qkvBias: config.attentionBias, oBias: config.attentionBias, qkNorm: "head", sinks: false });
    const mlp: MoeWeights | ReturnType<typeof readSwiglu> = isSparseLayer(config, l)
      ? {
          kind: "moe",
          numExperts: moe.numExperts,
          topK: moe.topK,
          routing: softmaxTopK(moe.topK, moe.normTopkProb),
          W_router: w.linearFloat32(p + "gate.weight", config.hiddenSize, moe.numExperts),
          b_router: null,
          experts: readSeparateExperts(w, config, p + "experts.", { gate: "gate_proj", up: "up_proj", down: "down_proj" }, expertWidth, moe.numExperts),
          glu: { kind: "gated", act },
          dispatch: "auto",
        }
      : readSwiglu(w, config, p, config.intermediateSize);
    return preNormBlock(w, config, l, attn, mlp);
  });
}
