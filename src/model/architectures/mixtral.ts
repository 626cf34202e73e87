// Mixtral: Llama's attention and norms with a mixture-of-experts MLP in every layer
// (block_sparse_moe.gate [experts, d] and experts.{e}.w1 / w3 / w2 = gate / up / down). Routing as
// MixtralTopKRouter: softmax over all experts, top-k, renormalised to sum to one.
import type { ModelConfig } from "../../io/config";
import type { WeightSource } from "../../io/weight-source";
import { ConfigError } from "../../errors";
import { activationFromConfig } from "../components/activations";
import type { ExpertWeights, MoeWeights, RoutingRule } from "../components/moe";
import type { CanonicalModel } from "../canonical";
import { rotaryPerLayer } from "./canonical-parts";
import { assembleModel, preNormBlock, readAttention } from "./llama-parts";
import { WeightLoader } from "./weight-loader";
import "../components/moe"; // registers the "moe" MLP forward

/** The MoE sizes of config.json, or a ConfigError naming the missing field. */
export function moeSizes(config: ModelConfig): NonNullable<ModelConfig["moe"]> {
  if (!config.moe) throw new ConfigError(config.file, "num_local_experts", "is missing", `a ${config.modelType} checkpoint needs num_local_experts (or num_experts)`);
  if (config.moe.topK > config.moe.numExperts) {
    throw new ConfigError(config.file, "num_experts_per_tok", `(${config.moe.topK}) exceeds the ${config.moe.numExperts} experts`, "set num_experts_per_tok to at most the number of experts");
  }
  return config.moe;
}

/** Per-expert SwiGLU weights stored as separate nn.Linear tensors: `${prefix}${e}.${gate|up|down}.weight`. */
export function readSeparateExperts(
  w: WeightLoader,
  config: ModelConfig,
  prefix: string,
  names: { gate: string; up: string; down: string },
  width: number,
  numExperts: number,
): ExpertWeights[] {
  const d = config.hiddenSize;
  return Array.from({ length: numExperts }, (_, e) => ({
    W_gate: w.linearFloat32(`${prefix}${e}.${names.gate}.weight`, d, width),
    b_gate: null,
    W_in: w.linearFloat32(`${prefix}${e}.${names.up}.weight`, d, width),
    b_in: null,
    W_out: w.linearFloat32(`${prefix}${e}.${names.down}.weight`, width, d),
    b_out: null,
  }));
}

export function softmaxTopK(topK: number, renormalize: boolean): RoutingRule {
  return { order: "softmax-topk", topK, renormalize };
}

export function convertMixtral(config: ModelConfig, weights: WeightSource): CanonicalModel {
  const w = new WeightLoader(weights, "mixtral");
  const moe = moeSizes(config);
  const rotary = rotaryPerLayer(config);
  const act = activationFromConfig(config.activation);
  return assembleModel(w, config, (l) => {
    const p = `model.layers.${l}.block_sparse_moe.`;
    const attn = readAttention(w, config, l, rotary[l], { qkvBias: false, oBias: false, qkNorm: "none", sinks: false });
    const mlp: MoeWeights = {
      kind: "moe",
      numExperts: moe.numExperts,
      topK: moe.topK,
      routing: softmaxTopK(moe.topK, true),
      W_router: w.linearFloat32(p + "gate.weight", config.hiddenSize, moe.numExperts),
      b_router: null,
      experts: readSeparateExperts(w, config, p + "experts.", { gate: "w1", up: "w3", down: "w2" }, config.intermediateSize, moe.numExperts),
      glu: { kind: "gated", act },
      dispatch: "auto",
    };
    return preNormBlock(w, config, l, attn, mlp);
  });
}
