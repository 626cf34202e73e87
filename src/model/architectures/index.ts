// The architecture registry: Hugging Face model_type → converter into the canonical layout. Each family has
// one file here; add a family by writing its converter and listing it below.
import type { ModelConfig } from "../../io/config";
import type { WeightSource } from "../../io/weight-source";
import { UnsupportedArchitectureError } from "../../errors";
import type { CanonicalModel } from "../canonical";
import { convertGemma2 } from "./gemma2";
import { convertGpt2 } from "./gpt2";
import { convertGptNeox } from "./gpt_neox";
import { convertLlama, convertMistral, convertQwen2, convertQwen3 } from "./llama";
import { convertGemma3Text } from "./gemma3_text";
import { convertGptOss } from "./gpt_oss";
import { convertMixtral } from "./mixtral";
import { convertOlmo2 } from "./olmo2";
import { convertPhi3 } from "./phi3";
import { convertQwen3Moe } from "./qwen3_moe";
import { convertBloom } from "./bloom";
import { convertGemma1 } from "./gemma";
import { convertGptj } from "./gptj";
import { convertGranite } from "./granite";
import { convertOpt } from "./opt";
import { convertPhi } from "./phi";
import { convertSmollm3 } from "./smollm3";
import { convertStablelm } from "./stablelm";
import { convertStarcoder2 } from "./starcoder2";
import { convertOlmoe } from "./olmoe";
import { convertQwen2Moe } from "./qwen2_moe";
import { convertDeepseekV3 } from "./deepseek_v3";
import { ownEntry, setOwnEntry } from "../../own-key";

/** Reads one family's weights (through the lazy WeightSource) into the canonical layout. */
export type ArchitectureConverter = (config: ModelConfig, weights: WeightSource) => CanonicalModel;

const registry: Record<string, ArchitectureConverter> = {
  gpt2: convertGpt2,
  llama: convertLlama,
  mistral: convertMistral,
  qwen2: convertQwen2,
  qwen3: convertQwen3,
  gemma2: convertGemma2,
  gpt_neox: convertGptNeox,
  gemma3_text: convertGemma3Text,
  phi3: convertPhi3,
  olmo2: convertOlmo2,
  mixtral: convertMixtral,
  qwen3_moe: convertQwen3Moe,
  gpt_oss: convertGptOss,
  gemma: convertGemma1,
  phi: convertPhi,
  gptj: convertGptj,
  opt: convertOpt,
  bloom: convertBloom,
  smollm3: convertSmollm3,
  granite: convertGranite,
  starcoder2: convertStarcoder2,
  stablelm: convertStablelm,
  olmoe: convertOlmoe,
  qwen2_moe: convertQwen2Moe,
  deepseek_v3: convertDeepseekV3,
};

/**
 * Families whose converter builds the model through llama-parts' assembleModel, which can keep only the weights
 * outside the blocks resident and read each block again when the forward pass reaches it (WeightSource.streamLayers):
 * what a checkpoint too large in float32 needs. The other converters read every block once, at load.
 * test/model/layer-streaming.test.ts checks this list against the converters of every fixture (all 25 families).
 */
const layerStreamingFamilies = new Set(["llama", "mistral", "qwen2", "qwen3", "gemma", "gemma2", "gemma3_text", "olmo2", "phi3", "mixtral", "qwen3_moe", "gpt_oss", "smollm3", "granite", "olmoe", "qwen2_moe", "deepseek_v3"]);

/** Whether `modelType`'s converter can read its blocks as the forward pass reaches them (see layerStreamingFamilies). */
export function architectureStreamsLayers(modelType: string): boolean {
  return ownEntry(registry, modelType) !== undefined && layerStreamingFamilies.has(modelType);
}

/**
 * Registers (or replaces) the converter of a model_type. `streamsLayers`: the converter builds through assembleModel
 * (or otherwise honours WeightSource.streamLayers), so a checkpoint too large in float32 can be read a block at a time.
 */
export function registerArchitecture(modelType: string, converter: ArchitectureConverter, options: { streamsLayers?: boolean } = {}): void {
  setOwnEntry(registry, modelType, converter);
  if (options.streamsLayers) layerStreamingFamilies.add(modelType);
  else layerStreamingFamilies.delete(modelType);
}

/** The model_types the engine can build, sorted. */
export function supportedModelTypes(): string[] {
  return Object.keys(registry).sort();
}

/** The converter of config.modelType, or UnsupportedArchitectureError naming config.json and the supported list. */
export function converterFor(config: ModelConfig): ArchitectureConverter {
  const converter = ownEntry(registry, config.modelType);
  if (!converter) throw new UnsupportedArchitectureError(config.modelType, supportedModelTypes(), config.file);
  return converter;
}
