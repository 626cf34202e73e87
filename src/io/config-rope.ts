// RoPE settings from config.json in any of its historical forms, normalised as transformers'
// standardize_rope_params does: the newer `rope_parameters` dict (flat, or nested per layer type), the older
// top-level `rope_theta` + `rope_scaling`, and family spellings (GPT-NeoX's rotary_emb_base / rotary_pct,
// Gemma 3's rope_local_base_freq).
import { ConfigError } from "../errors";

export type RopeType = "default" | "linear" | "dynamic" | "yarn" | "longrope" | "llama3";

export interface RopeParameters {
  ropeType: RopeType;
  theta: number;
  /** Fraction of each head's dimensions that rotate. */
  partialRotaryFactor: number;
  /** Scaling factor (linear, dynamic, yarn, llama3, longrope); null where unused or derived. */
  factor: number | null;
  lowFreqFactor: number | null;
  highFreqFactor: number | null;
  /** The pre-training context (llama3, yarn, longrope). */
  originalMaxPositions: number | null;
  attentionFactor: number | null;
  betaFast: number | null;
  betaSlow: number | null;
  mscale: number | null;
  mscaleAllDim: number | null;
  truncate: boolean;
  shortFactor: number[] | null;
  longFactor: number[] | null;
}

type LayerType = "full_attention" | "sliding_attention";

/** Families without rotary embeddings (learned absolute positions). */
const NO_ROTARY = new Set(["gpt2", "opt", "bloom"]);
const KNOWN_TYPES: readonly RopeType[] = ["default", "linear", "dynamic", "yarn", "longrope", "llama3"];

export function parseRope(
  raw: Record<string, unknown>,
  file: string,
  ctx: { headDim: number; maxPositions: number; layerTypes: LayerType[] },
): { rope: RopeParameters | null; ropeByLayerType: Partial<Record<LayerType, RopeParameters>> | null } {
  const modelType = String(raw.model_type);
  if (NO_ROTARY.has(modelType)) return { rope: null, ropeByLayerType: null };

  const given = asObject(raw.rope_parameters, file, "rope_parameters");
  const scaling = asObject(raw.rope_scaling, file, "rope_scaling");
  const sourceField = given ? "rope_parameters" : "rope_scaling";

  const nestedKeys = given ? Object.keys(given).filter((k) => k === "full_attention" || k === "sliding_attention") : [];
  if (nestedKeys.length > 0 || modelType === "gemma3_text") {
    const perType = nestedKeys.length > 0 ? nestedFromRopeParameters(given!, file) : gemma3FromOldForm(raw, scaling, file);
    const byType: Partial<Record<LayerType, RopeParameters>> = {};
    for (const [layerType, params] of Object.entries(perType) as [LayerType, Record<string, unknown>][]) {
      byType[layerType] = readParams(params, raw, file, `rope_parameters.${layerType}`, ctx.maxPositions);
    }
    for (const t of new Set(ctx.layerTypes)) {
      if (!byType[t]) throw new ConfigError(file, `rope_parameters.${t}`, "is missing although layer_types uses it", `add rope_parameters.${t}`);
    }
    return { rope: byType.full_attention ?? byType.sliding_attention ?? null, ropeByLayerType: byType };
  }
  const rope = readParams(given ?? scaling ?? {}, raw, file, sourceField, ctx.maxPositions);
  if (given && scaling) checkSameScaling(rope, given, scaling, raw, file, ctx.maxPositions);
  return { rope, ropeByLayerType: null };
}

/**
 * config.json holding both `rope_parameters` and the older `rope_scaling`: transformers' config classes take
 * `rope_scaling or rope_parameters` (the older field wins), lmprobe reads `rope_parameters`. Where both say the
 * same, either reading is right; where they differ, neither choice can be trusted silently, so it is an error
 * naming both fields. The rope_theta of rope_parameters fills in a rope_scaling without one (it never had one).
 */
function checkSameScaling(rope: RopeParameters, given: Record<string, unknown>, scaling: Record<string, unknown>, raw: Record<string, unknown>, file: string, maxPositions: number): void {
  const theta = { rope_theta: given.rope_theta, partial_rotary_factor: given.partial_rotary_factor };
  const other = readParams({ ...theta, ...scaling }, raw, file, "rope_scaling", maxPositions);
  if (JSON.stringify(other) === JSON.stringify(rope)) return;
  const differing = (Object.keys(rope) as (keyof RopeParameters)[]).filter((k) => JSON.stringify(rope[k]) !== JSON.stringify(other[k]));
  throw new ConfigError(
    file,
    "rope_scaling",
    `disagrees with rope_parameters (${differing.map((k) => `${k}: ${JSON.stringify(other[k])} vs ${JSON.stringify(rope[k])}`).join(", ")})`,
    "keep one of them: transformers reads rope_scaling when both are present, lmprobe refuses to guess; remove the one that is wrong",
  );
}

function nestedFromRopeParameters(given: Record<string, unknown>, file: string): Record<string, Record<string, unknown>> {
  const out: Record<string, Record<string, unknown>> = {};
  for (const key of ["full_attention", "sliding_attention"]) {
    const v = asObject(given[key], file, `rope_parameters.${key}`);
    if (v) out[key] = v;
  }
  return out;
}

/** Gemma 3's older form: rope_theta (global layers, with rope_scaling) and rope_local_base_freq (sliding layers). */
function gemma3FromOldForm(raw: Record<string, unknown>, scaling: Record<string, unknown> | null, file: string): Record<string, Record<string, unknown>> {
  // Checked here, under the names config.json uses: below they are read as rope_parameters.<layer type>.rope_theta.
  const global = firstNumber(file, [[raw.rope_theta, "rope_theta"]]) ?? { value: 1_000_000, key: "rope_theta" };
  const local = firstNumber(file, [[raw.rope_local_base_freq, "rope_local_base_freq"]]) ?? { value: 10_000, key: "rope_local_base_freq" };
  for (const { value, key } of [global, local]) positiveTheta(value, key, file);
  return {
    full_attention: { rope_type: "default", ...(scaling ?? {}), rope_theta: global.value },
    sliding_attention: { rope_type: "default", rope_theta: local.value },
  };
}

function readParams(p: Record<string, unknown>, raw: Record<string, unknown>, file: string, where: string, maxPositions: number): RopeParameters {
  const num = (key: string): number | null => {
    const v = p[key];
    if (v === undefined || v === null) return null;
    if (typeof v !== "number" || !Number.isFinite(v)) throw new ConfigError(file, `${where}.${key}`, `is ${describeValue(v)}, not a finite number`, `set ${where}.${key} to a number`);
    return v;
  };
  const need = (key: string, type: string): number => {
    const v = num(key);
    if (v === null) throw new ConfigError(file, `${where}.${key}`, `is missing (required by rope_type "${type}")`, `add ${where}.${key}`);
    return v;
  };
  let ropeType = String(p.rope_type ?? p.type ?? "default");
  if (ropeType === "su") ropeType = "longrope"; // Phi-3's earlier name for LongRoPE
  if (!(KNOWN_TYPES as readonly string[]).includes(ropeType)) {
    throw new ConfigError(file, `${where}.rope_type`, `is "${ropeType}", which lmprobe does not implement`, `supported rope types: ${KNOWN_TYPES.join(", ")}`);
  }
  const type = ropeType as RopeType;
  // The first spelling present is the one read; a present value that is not a number is an error, never a
  // reason to fall through to the next spelling or the default.
  const theta =
    firstNumber(file, [[p.rope_theta, `${where}.rope_theta`], [raw.rope_theta, "rope_theta"], [raw.rotary_emb_base, "rotary_emb_base"], [raw.default_rope_theta, "default_rope_theta"]]) ??
    { value: 10_000, key: "rope_theta" };
  const partial =
    firstNumber(file, [[p.partial_rotary_factor, `${where}.partial_rotary_factor`], [raw.partial_rotary_factor, "partial_rotary_factor"], [raw.rotary_pct, "rotary_pct"]]) ??
    { value: raw.model_type === "gpt_neox" ? 0.25 : 1, key: "partial_rotary_factor" };
  positiveTheta(theta.value, theta.key, file);
  if (!(partial.value > 0 && partial.value <= 1)) throw new ConfigError(file, partial.key, `is ${partial.value}`, `set "${partial.key}" to a fraction in (0, 1]`);

  // Phi-3 keeps the pre-training length outside the rope dict and it takes priority there.
  const originalMax =
    type === "llama3" || type === "yarn" || type === "longrope"
      ? firstNumber(file, [[raw.original_max_position_embeddings, "original_max_position_embeddings"], [p.original_max_position_embeddings, `${where}.original_max_position_embeddings`]])?.value ?? maxPositions
      : num("original_max_position_embeddings");

  const params: RopeParameters = {
    ropeType: type,
    theta: theta.value,
    partialRotaryFactor: partial.value,
    factor: num("factor"),
    lowFreqFactor: num("low_freq_factor"),
    highFreqFactor: num("high_freq_factor"),
    originalMaxPositions: originalMax,
    attentionFactor: num("attention_factor"),
    betaFast: num("beta_fast"),
    betaSlow: num("beta_slow"),
    mscale: num("mscale"),
    mscaleAllDim: num("mscale_all_dim"),
    truncate: readBoolean(p.truncate, true, file, `${where}.truncate`),
    shortFactor: numberList(p.short_factor, file, `${where}.short_factor`),
    longFactor: numberList(p.long_factor, file, `${where}.long_factor`),
  };
  if (type === "linear" || type === "dynamic") need("factor", type);
  // transformers only warns about a factor below 1 (modeling_rope_utils' validators) and then computes with it;
  // a factor of 0 or below is no scaling at all (positions divided by zero or mirrored), so it is refused here.
  // Factors in (0, 1) are kept, as transformers keeps them.
  if (type !== "default" && params.factor !== null && !(params.factor > 0)) {
    throw new ConfigError(file, `${where}.factor`, `is ${params.factor}`, `set ${where}.factor to a positive scaling factor (1 or more; e.g. 2 doubles the context), or remove the RoPE scaling`);
  }
  if (type === "llama3") {
    need("factor", type);
    need("low_freq_factor", type);
    need("high_freq_factor", type);
    // llama3 divides by low_freq_factor and by (high_freq_factor - low_freq_factor).
    if (!(params.lowFreqFactor! > 0)) throw new ConfigError(file, `${where}.low_freq_factor`, `is ${params.lowFreqFactor}`, "set it to a positive number (Llama 3.1 uses 1)");
    if (!(params.highFreqFactor! > params.lowFreqFactor!)) {
      throw new ConfigError(file, `${where}.high_freq_factor`, `is ${params.highFreqFactor}, not above low_freq_factor (${params.lowFreqFactor})`, "Llama 3.1 uses low_freq_factor 1 and high_freq_factor 4");
    }
  }
  if (type === "yarn" && params.factor === null && params.originalMaxPositions === maxPositions) need("factor", type);
  if (type === "longrope" && (!params.shortFactor || !params.longFactor)) {
    throw new ConfigError(file, `${where}.${params.shortFactor ? "long_factor" : "short_factor"}`, 'is missing (required by rope_type "longrope")', "add short_factor and long_factor lists");
  }
  return params;
}

function asObject(v: unknown, file: string, field: string): Record<string, unknown> | null {
  if (v === undefined || v === null) return null;
  if (typeof v !== "object" || Array.isArray(v)) throw new ConfigError(file, field, `is ${JSON.stringify(v)}, not an object`, `make ${field} a JSON object or remove it`);
  return v as Record<string, unknown>;
}

/**
 * The first of `sources` ([value, key as config.json spells it]) that is present (not undefined or null), with its
 * key; null when none is. A present value that is not a finite number raises ConfigError naming its key.
 */
function firstNumber(file: string, sources: Array<[value: unknown, key: string]>): { value: number; key: string } | null {
  for (const [value, key] of sources) {
    if (value === undefined || value === null) continue;
    if (typeof value !== "number" || !Number.isFinite(value)) {
      throw new ConfigError(file, key, `is ${describeValue(value)}, not a finite number`, `set "${key}" to a number, or remove it to use the default`);
    }
    return { value, key };
  }
  return null;
}

function positiveTheta(theta: number, key: string, file: string): void {
  if (theta <= 0) throw new ConfigError(file, key, `is ${theta}`, `set "${key}" to a positive RoPE base, e.g. 10000`);
}

function readBoolean(v: unknown, fallback: boolean, file: string, field: string): boolean {
  if (v === undefined || v === null) return fallback;
  if (typeof v !== "boolean") throw new ConfigError(file, field, `is ${describeValue(v)}, not true/false`, `set "${field}" to true or false`);
  return v;
}

/** JSON text of a value, except numbers JSON cannot hold (NaN, Infinity), which JSON.stringify would call null. */
function describeValue(v: unknown): string {
  return typeof v === "number" ? String(v) : JSON.stringify(v) ?? String(v);
}

function numberList(v: unknown, file: string, field: string): number[] | null {
  if (v === undefined || v === null) return null;
  if (!Array.isArray(v) || v.some((x) => typeof x !== "number" || !Number.isFinite(x))) throw new ConfigError(file, field, "is not a list of numbers", `make ${field} a list of numbers`);
  return v as number[];
}
