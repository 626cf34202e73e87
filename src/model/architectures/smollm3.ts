// SmolLM3: Llama's layout where some layers use no rotary embedding at all (NoPE): no_rope_layers[l] is 1 for a
// layer that applies RoPE and 0 for one that does not; when absent, every no_rope_layer_interval-th layer
// (1-based) skips it, as SmolLM3Config derives the list.
import type { ModelConfig } from "../../io/config";
import type { WeightSource } from "../../io/weight-source";
import { ConfigError } from "../../errors";
import type { CanonicalModel } from "../canonical";
import { rotaryPerLayer } from "./canonical-parts";
import { assembleModel, preNormBlock, readAttention, readSwiglu } from "./llama-parts";
import { WeightLoader } from "./weight-loader";

export function convertSmollm3(config: ModelConfig, weights: WeightSource): CanonicalModel {
  const w = new WeightLoader(weights, "smollm3");
  const rotary = rotaryPerLayer(config);
  const usesRope = ropeLayers(config);
  const bias = config.attentionBias;
  return assembleModel(w, config, (l) => {
    const attn = readAttention(w, config, l, usesRope[l] ? rotary[l] : null, { qkvBias: bias, oBias: bias, qkNorm: "none", sinks: false });
    return preNormBlock(w, config, l, attn, readSwiglu(w, config, `model.layers.${l}.mlp.`, config.intermediateSize, config.mlpBias));
  });
}

/** Per layer, whether it applies RoPE. */
export function ropeLayers(config: ModelConfig): boolean[] {
  const given = config.raw.no_rope_layers;
  if (given === undefined || given === null) {
    const interval = config.raw.no_rope_layer_interval;
    if (typeof interval !== "number" || !Number.isInteger(interval) || interval < 1) {
      throw new ConfigError(config.file, "no_rope_layer_interval", `is ${JSON.stringify(interval)}`, "give no_rope_layers or a positive no_rope_layer_interval");
    }
    return Array.from({ length: config.numLayers }, (_, l) => (l + 1) % interval !== 0);
  }
  if (!Array.isArray(given) || given.length !== config.numLayers || given.some((v) => v !== 0 && v !== 1)) {
    throw new ConfigError(config.file, "no_rope_layers", "is not a list of 0/1 with one entry per layer", "give 1 for layers with RoPE and 0 for those without");
  }
  return given.map((v) => v === 1);
}
