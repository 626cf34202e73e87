// config.json → ModelConfig: one normalised description of the fields the engine needs, whatever the
// family's spelling (GPT-2's n_embd, GPT-NeoX's rotary_pct) or the transformers version that wrote it (old
// top-level rope_theta / rope_scaling vs the newer rope_parameters). Missing fields take the defaults of the
// family's configuration class in Hugging Face transformers; invalid ones raise ConfigError naming the field.
import { ConfigError } from "../errors";
import { architectureDefaults, fieldAliases } from "./config-defaults";
import { parseRope, type RopeParameters } from "./config-rope";
import { ownEntry, setOwnEntry } from "../own-key";

export type { RopeParameters } from "./config-rope";

export type LayerType = "full_attention" | "sliding_attention";

/** A checkpoint's config.json, normalised to one typed form for every architecture. */
export interface ModelConfig {
  /** The config.json path (for error messages). */
  file: string;
  modelType: string;
  architectures: string[];
  vocabSize: number;
  hiddenSize: number;
  numLayers: number;
  numHeads: number;
  numKVHeads: number;
  headDim: number;
  intermediateSize: number;
  maxPositions: number;
  /** rms_norm_eps / layer_norm_eps / layer_norm_epsilon. */
  normEps: number;
  /** The activation as config.json names it (hidden_act / hidden_activation / activation_function). */
  activation: string;
  tieWordEmbeddings: boolean;
  attentionBias: boolean;
  mlpBias: boolean;
  /** The RoPE of every layer, or null for models without rotary embeddings (GPT-2). */
  rope: RopeParameters | null;
  /** Per layer type RoPE (Gemma 3: local and global bases), or null when one RoPE serves every layer. */
  ropeByLayerType: Partial<Record<LayerType, RopeParameters>> | null;
  /** One entry per layer. */
  layerTypes: LayerType[];
  /** Window of the sliding-attention layers, or null. */
  slidingWindow: number | null;
  attnLogitSoftcap: number | null;
  finalLogitSoftcap: number | null;
  /** Gemma: scores are scaled by query_pre_attn_scalar^-½ instead of head_dim^-½. */
  queryPreAttnScalar: number | null;
  /** GPT-NeoX: attention and MLP both read the block input. */
  parallelResidual: boolean;
  bosTokenId: number | null;
  eosTokenIds: number[];
  padTokenId: number | null;
  /** Mixture-of-experts sizes, or null for dense models. */
  moe: { numExperts: number; topK: number; intermediateSize: number | null; normTopkProb: boolean } | null;
  /** config.json with the family's defaults filled in and aliases resolved, for architecture-specific fields. */
  raw: Record<string, unknown>;
}

/** Normalises a parsed config.json. `file` names it in errors. */
export function normalizeConfig(rawConfig: unknown, file: string): ModelConfig {
  if (rawConfig === null || typeof rawConfig !== "object" || Array.isArray(rawConfig)) {
    throw new ConfigError(file, "(root)", "is not a JSON object", "config.json must hold one JSON object");
  }
  const given = rawConfig as Record<string, unknown>;
  const modelType = given.model_type;
  if (typeof modelType !== "string" || modelType === "") {
    throw new ConfigError(file, "model_type", "is missing", 'add the family, e.g. "model_type": "llama"');
  }
  const { raw, spellings } = withDefaults(given, modelType);
  const f = new FieldReader(raw, file, spellings);

  const hiddenSize = f.positiveInt("hidden_size");
  const numHeads = f.positiveInt("num_attention_heads");
  const numKVHeads = f.optionalPositiveInt("num_key_value_heads") ?? numHeads;
  if (numHeads % numKVHeads !== 0) {
    throw new ConfigError(file, "num_key_value_heads", `(${numKVHeads}) does not divide num_attention_heads (${numHeads})`, "fix the head counts");
  }
  const explicitHeadDim = f.optionalPositiveInt("head_dim");
  if (explicitHeadDim === null && hiddenSize % numHeads !== 0) {
    throw new ConfigError(file, "head_dim", `is absent and hidden_size (${hiddenSize}) is not a multiple of num_attention_heads (${numHeads})`, "add head_dim");
  }
  const headDim = explicitHeadDim ?? hiddenSize / numHeads;
  const numLayers = f.positiveInt("num_hidden_layers");
  const maxPositions = f.positiveInt("max_position_embeddings");

  // Qwen2/3 keep a sliding_window value in config.json but use it only when use_sliding_window is true;
  // without it their "sliding_attention" layers attend to everything.
  const windowOff = f.has("use_sliding_window") && !f.bool("use_sliding_window", true);
  const layerTypes = readLayerTypes(f, numLayers).map((t) => (windowOff ? "full_attention" : t));
  const slidingWindow = windowOff ? null : f.optionalPositiveInt("sliding_window");
  if (slidingWindow === null && layerTypes.includes("sliding_attention")) {
    throw new ConfigError(file, "sliding_window", "is missing but layer_types has sliding_attention layers", "add sliding_window");
  }
  const { rope, ropeByLayerType } = parseRope(raw, file, { headDim, maxPositions, layerTypes });

  const eos = raw.eos_token_id;
  return {
    file,
    modelType,
    architectures: Array.isArray(raw.architectures) ? raw.architectures.map(String) : [],
    vocabSize: f.positiveInt("vocab_size"),
    hiddenSize,
    numLayers,
    numHeads,
    numKVHeads,
    headDim,
    intermediateSize: f.optionalPositiveInt("intermediate_size") ?? 4 * hiddenSize,
    maxPositions,
    normEps: f.positiveNumber("norm_eps"),
    activation: f.string("hidden_act"),
    tieWordEmbeddings: f.bool("tie_word_embeddings", false),
    attentionBias: f.bool("attention_bias", false),
    mlpBias: f.bool("mlp_bias", false),
    rope,
    ropeByLayerType,
    layerTypes,
    slidingWindow: layerTypes.includes("sliding_attention") ? slidingWindow : null,
    attnLogitSoftcap: f.optionalPositiveNumber("attn_logit_softcapping"),
    finalLogitSoftcap: f.optionalPositiveNumber("final_logit_softcapping"),
    queryPreAttnScalar: f.optionalPositiveNumber("query_pre_attn_scalar"),
    parallelResidual: f.bool("use_parallel_residual", false),
    bosTokenId: f.optionalInt("bos_token_id"),
    eosTokenIds: eos === null || eos === undefined ? [] : (Array.isArray(eos) ? eos : [eos]).map((v, i) => f.intValue(v, `eos_token_id[${i}]`)),
    padTokenId: f.optionalInt("pad_token_id"),
    moe: readMoe(f),
    raw,
  };
}

/**
 * Resolves aliases (n_embd → hidden_size …) and fills the family's defaults under what config.json gives.
 * `spellings` maps each normalised field to the key its value was read from, so that errors name that key.
 */
function withDefaults(given: Record<string, unknown>, modelType: string): { raw: Record<string, unknown>; spellings: Map<string, string> } {
  const out: Record<string, unknown> = { ...(ownEntry(architectureDefaults, modelType) ?? {}) };
  for (const [key, value] of Object.entries(given)) {
    if (value === undefined) continue;
    // An explicit null for a field whose family has a default keeps the null only where null means "off".
    if (value === null && Object.hasOwn(out, key) && !NULL_MEANS_OFF.has(key)) continue;
    setOwnEntry(out, key, value);
  }
  // One name per field: the first spelling present (config.json's over the defaults' for the same name).
  const spellings = new Map<string, string>();
  for (const [field, names] of fieldAliases) {
    const found = names.find((name) => out[name] !== undefined && out[name] !== null);
    if (found !== undefined && !(field in given && given[field] !== null)) {
      out[field] = out[found];
      spellings.set(field, found);
    }
  }
  return { raw: out, spellings };
}

/** Fields where config.json's explicit null disables a feature instead of asking for the default. */
const NULL_MEANS_OFF = new Set([
  "sliding_window",
  "attn_logit_softcapping",
  "final_logit_softcapping",
  "pad_token_id",
  "bos_token_id",
  "eos_token_id",
  "rope_scaling",
  "q_lora_rank", // DeepSeek: queries projected directly, without the low-rank path
  "clip_qkv",
]);

function readLayerTypes(f: FieldReader, numLayers: number): LayerType[] {
  const value = f.raw.layer_types;
  if (value === undefined || value === null) return defaultLayerTypes(f, numLayers);
  if (!Array.isArray(value) || value.length !== numLayers) {
    throw new ConfigError(f.file, "layer_types", `must be a list of ${numLayers} entries (num_hidden_layers)`, "give one entry per layer");
  }
  return value.map((v, i) => {
    if (v !== "full_attention" && v !== "sliding_attention") {
      throw new ConfigError(f.file, `layer_types[${i}]`, `is ${JSON.stringify(v)}`, 'use "full_attention" or "sliding_attention"');
    }
    return v;
  });
}

/** The layer types a family's configuration class derives when config.json has no layer_types. */
function defaultLayerTypes(f: FieldReader, numLayers: number): LayerType[] {
  const hasWindow = f.has("sliding_window");
  const pattern = f.optionalPositiveInt("sliding_window_pattern");
  return Array.from({ length: numLayers }, (_, i): LayerType => {
    if (!hasWindow) return "full_attention";
    // Gemma 2/3, gpt-oss: every pattern-th layer is global, the others slide.
    if (pattern !== null) return (i + 1) % pattern !== 0 ? "sliding_attention" : "full_attention";
    // Qwen2/3: layers from max_window_layers on slide, and only when use_sliding_window is on.
    if (f.raw.use_sliding_window !== undefined) {
      const from = f.optionalNonNegativeInt("max_window_layers") ?? 0;
      return f.raw.use_sliding_window === true && i >= from ? "sliding_attention" : "full_attention";
    }
    // Mistral, Mixtral, Phi-3: a sliding_window applies to every layer.
    return f.raw.sliding_window_everywhere === true ? "sliding_attention" : "full_attention";
  });
}

function readMoe(f: FieldReader): ModelConfig["moe"] {
  const numExperts = f.optionalPositiveInt("num_local_experts");
  if (numExperts === null) return null;
  return {
    numExperts,
    topK: f.positiveInt("num_experts_per_tok"),
    intermediateSize: f.optionalPositiveInt("moe_intermediate_size"),
    normTopkProb: f.bool("norm_topk_prob", true),
  };
}

/** Typed reads of config fields; every failure is a ConfigError naming the field. */
export class FieldReader {
  constructor(
    readonly raw: Record<string, unknown>,
    readonly file: string,
    /** Normalised field → the key config.json spells it with (norm_eps ← rms_norm_eps), for messages. */
    private readonly spellings: ReadonlyMap<string, string> = new Map(),
  ) {}

  /** The key a field's value was read from: what the user finds in config.json. */
  keyOf(field: string): string {
    return this.spellings.get(field) ?? field;
  }

  has(field: string): boolean {
    return this.raw[field] !== undefined && this.raw[field] !== null;
  }

  positiveInt(field: string): number {
    const v = this.optionalPositiveInt(field);
    if (v === null) throw new ConfigError(this.file, field, "is missing", `add "${field}" (a positive integer)`);
    return v;
  }

  optionalPositiveInt(field: string): number | null {
    if (!this.has(field)) return null;
    const v = this.raw[field];
    if (typeof v !== "number" || !Number.isInteger(v) || v <= 0) {
      const key = this.keyOf(field);
      throw new ConfigError(this.file, key, `is ${describe(v)}, not a positive integer`, `set "${key}" to a positive integer`);
    }
    return v;
  }

  optionalNonNegativeInt(field: string): number | null {
    if (!this.has(field)) return null;
    const v = this.raw[field];
    if (typeof v !== "number" || !Number.isInteger(v) || v < 0) {
      const key = this.keyOf(field);
      throw new ConfigError(this.file, key, `is ${describe(v)}, not a non-negative integer`, `set "${key}" to an integer ≥ 0`);
    }
    return v;
  }

  positiveNumber(field: string): number {
    const v = this.optionalPositiveNumber(field);
    if (v === null) throw new ConfigError(this.file, field, "is missing", `add "${field}" (a positive number)`);
    return v;
  }

  optionalPositiveNumber(field: string): number | null {
    if (!this.has(field)) return null;
    const v = this.raw[field];
    if (typeof v !== "number" || !Number.isFinite(v) || v <= 0) {
      const key = this.keyOf(field);
      throw new ConfigError(this.file, key, `is ${describe(v)}, not a positive number`, `set "${key}" to a positive number or null`);
    }
    return v;
  }

  optionalInt(field: string): number | null {
    if (!this.has(field)) return null;
    return this.intValue(this.raw[field], field);
  }

  intValue(v: unknown, field: string): number {
    if (typeof v !== "number" || !Number.isInteger(v) || v < 0) {
      throw new ConfigError(this.file, field, `is ${describe(v)}, not a token id`, `set "${field}" to a non-negative integer`);
    }
    return v;
  }

  bool(field: string, fallback: boolean): boolean {
    if (!this.has(field)) return fallback;
    const v = this.raw[field];
    if (typeof v !== "boolean") throw new ConfigError(this.file, this.keyOf(field), `is ${describe(v)}, not true/false`, `set "${this.keyOf(field)}" to true or false`);
    return v;
  }

  string(field: string): string {
    const v = this.raw[field];
    const key = this.keyOf(field);
    if (typeof v !== "string" || v === "") throw new ConfigError(this.file, key, v === undefined ? "is missing" : `is ${describe(v)}`, `set "${key}" to the activation name, e.g. "silu"`);
    return v;
  }
}

/** JSON text of a value, except numbers JSON cannot hold (NaN, Infinity), which JSON.stringify would call null. */
function describe(v: unknown): string {
  return typeof v === "number" ? String(v) : JSON.stringify(v) ?? String(v);
}
