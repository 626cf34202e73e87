// A GGUF model's architecture in Hugging Face terms: the config.json transformers would have (from the
// `<arch>.*` metadata llama.cpp's convert_hf_to_gguf.py writes) and the Hugging Face name of every tensor,
// with the two changes that converter makes to the values undone:
//  - llama: q_proj/k_proj rows are permuted from the half-split RoPE layout to llama.cpp's interleaved one
//    (LlamaModel.permute); reading back applies the inverse permutation.
//  - gemma2: RMSNorm weights are stored +1 (Gemma2Model.modify_tensors), since llama.cpp multiplies by the
//    weight where transformers multiplies by (1 + weight); reading back subtracts 1.
import { UnsupportedFormatError } from "../../errors";
import { dequantize } from "./dequantize";
import type { GgufFile } from "./gguf-file";
import { GgufMetadata } from "./gguf-metadata";

/** GGUF architectures lmprobe maps, with the Hugging Face model_type and class they come from. */
const ARCHITECTURES: Record<string, { modelType: string; hfClass: string; activation: string }> = {
  llama: { modelType: "llama", hfClass: "LlamaForCausalLM", activation: "silu" },
  qwen2: { modelType: "qwen2", hfClass: "Qwen2ForCausalLM", activation: "silu" },
  gemma2: { modelType: "gemma2", hfClass: "Gemma2ForCausalLM", activation: "gelu_pytorch_tanh" },
};

export const GGUF_ARCHITECTURES = Object.keys(ARCHITECTURES);

const GLOBAL_NAMES: Record<string, string> = {
  "token_embd.weight": "model.embed_tokens.weight",
  "output_norm.weight": "model.norm.weight",
  "output.weight": "lm_head.weight",
};

const LAYER_NAMES: Record<string, string> = {
  attn_norm: "input_layernorm",
  attn_q: "self_attn.q_proj",
  attn_k: "self_attn.k_proj",
  attn_v: "self_attn.v_proj",
  attn_output: "self_attn.o_proj",
  ffn_gate: "mlp.gate_proj",
  ffn_up: "mlp.up_proj",
  ffn_down: "mlp.down_proj",
};

const LAYER_NAMES_BY_ARCH: Record<string, Record<string, string>> = {
  llama: { ...LAYER_NAMES, ffn_norm: "post_attention_layernorm" },
  qwen2: { ...LAYER_NAMES, ffn_norm: "post_attention_layernorm" },
  gemma2: {
    ...LAYER_NAMES,
    post_attention_norm: "post_attention_layernorm",
    ffn_norm: "pre_feedforward_layernorm",
    post_ffw_norm: "post_feedforward_layernorm",
  },
};

/** How a stored tensor's values become the Hugging Face tensor's. */
export type ValueTransform = { kind: "none" } | { kind: "unpermute-rope"; heads: number } | { kind: "minus-one" };

export interface GgufModel {
  architecture: string;
  /** config.json as transformers would write it. */
  rawConfig: Record<string, unknown>;
  /** Hugging Face tensor name → GGUF tensor name. */
  names: Map<string, string>;
  transforms: Map<string, ValueTransform>;
}

/** The Hugging Face name of a GGUF tensor, or null when the architecture has no such tensor. */
export function huggingFaceName(architecture: string, ggufName: string): string | null {
  if (GLOBAL_NAMES[ggufName]) return GLOBAL_NAMES[ggufName];
  const m = /^blk\.(\d+)\.([a-z_]+)\.(weight|bias)$/.exec(ggufName);
  const part = m && LAYER_NAMES_BY_ARCH[architecture]?.[m[2]];
  return part ? `model.layers.${m![1]}.${part}.${m![3]}` : null;
}

/** The GGUF name of a Hugging Face tensor (the inverse of huggingFaceName; used to write GGUF files). */
export function ggufName(architecture: string, hfName: string): string | null {
  for (const [g, h] of Object.entries(GLOBAL_NAMES)) if (h === hfName) return g;
  const m = /^model\.layers\.(\d+)\.(.+)\.(weight|bias)$/.exec(hfName);
  if (!m) return null;
  const entry = Object.entries(LAYER_NAMES_BY_ARCH[architecture] ?? {}).find(([, h]) => h === m[2]);
  return entry ? `blk.${m[1]}.${entry[0]}.${m[3]}` : null;
}

export function describeGgufModel(gguf: GgufFile): GgufModel {
  const meta = GgufMetadata.of(gguf);
  const arch = meta.string("general.architecture");
  const known = ARCHITECTURES[arch];
  if (!known) {
    throw new UnsupportedFormatError(gguf.file, `GGUF architecture "${arch}" (metadata["general.architecture"])`, `lmprobe reads GGUF files of ${GGUF_ARCHITECTURES.join(", ")}; load the model's Hugging Face safetensors release instead`);
  }
  const k = (name: string) => `${arch}.${name}`;
  const hidden = meta.positiveInt(k("embedding_length"));
  const heads = meta.uniformPositiveInt(k("attention.head_count")) ?? meta.positiveInt(k("attention.head_count"));
  const kvHeads = meta.uniformPositiveInt(k("attention.head_count_kv")) ?? heads;
  const headDim = meta.optionalPositiveInt(k("attention.key_length")) ?? hidden / heads;
  const layers = meta.positiveInt(k("block_count"));
  const tokens = meta.has("tokenizer.ggml.tokens") ? meta.stringArray("tokenizer.ggml.tokens").length : null;
  const vocab = meta.optionalPositiveInt(k("vocab_size")) ?? tokens ?? gguf.tensors.get("token_embd.weight")?.dims[1];
  const ropeDims = meta.optionalPositiveInt(k("rope.dimension_count"));
  if (ropeDims !== null && ropeDims !== headDim) {
    throw new UnsupportedFormatError(gguf.file, `partial rotary embeddings (metadata["${k("rope.dimension_count")}"] ${ropeDims} of head size ${headDim})`);
  }
  const ropeScaling = meta.optionalString(k("rope.scaling.type"));
  if (ropeScaling !== null && ropeScaling !== "none") {
    throw new UnsupportedFormatError(gguf.file, `RoPE scaling "${ropeScaling}" (metadata["${k("rope.scaling.type")}"])`);
  }
  const raw: Record<string, unknown> = {
    model_type: known.modelType,
    architectures: [known.hfClass],
    vocab_size: vocab,
    hidden_size: hidden,
    num_hidden_layers: layers,
    num_attention_heads: heads,
    num_key_value_heads: kvHeads,
    head_dim: headDim,
    intermediate_size: meta.uniformPositiveInt(k("feed_forward_length")) ?? meta.positiveInt(k("feed_forward_length")),
    max_position_embeddings: meta.positiveInt(k("context_length")),
    rms_norm_eps: meta.number(k("attention.layer_norm_rms_epsilon")),
    rope_parameters: ropeParameters(gguf, meta.optionalNumber(k("rope.freq_base")) ?? 10000, headDim),
    hidden_act: known.activation,
    tie_word_embeddings: !gguf.tensors.has("output.weight"),
    attention_bias: gguf.tensors.has("blk.0.attn_q.bias"),
    bos_token_id: meta.optionalNumber("tokenizer.ggml.bos_token_id"),
    eos_token_id: meta.optionalNumber("tokenizer.ggml.eos_token_id"),
  };
  if (arch === "gemma2") {
    const window = meta.optionalPositiveInt(k("attention.sliding_window"));
    Object.assign(raw, {
      hidden_activation: known.activation,
      attn_logit_softcapping: meta.optionalNumber(k("attn_logit_softcapping")),
      final_logit_softcapping: meta.optionalNumber(k("final_logit_softcapping")),
      sliding_window: window,
      // llama.cpp's gemma2 graph: every even layer uses the sliding window (as transformers' layer_types).
      layer_types: Array.from({ length: layers }, (_, i) => (window !== null && i % 2 === 0 ? "sliding_attention" : "full_attention")),
      // llama.cpp scales queries by 1/sqrt(head size), except the 46-layer (27B) model, which uses
      // hidden/heads: the query_pre_attn_scalar of Gemma 2's configs.
      query_pre_attn_scalar: layers === 46 ? hidden / heads : headDim,
    });
  }
  const names = new Map<string, string>();
  const transforms = new Map<string, ValueTransform>();
  for (const name of gguf.tensors.keys()) {
    if (name === ROPE_FREQS) continue; // consumed into rope_parameters
    const hf = huggingFaceName(arch, name) ?? name; // unknown tensors keep their name; the converter reports them unused
    names.set(hf, name);
    transforms.set(hf, transformFor(arch, name, heads, kvHeads));
  }
  return { architecture: arch, rawConfig: raw, names, transforms };
}

function transformFor(arch: string, name: string, heads: number, kvHeads: number): ValueTransform {
  if (arch === "llama" && /^blk\.\d+\.attn_q\.(weight|bias)$/.test(name)) return { kind: "unpermute-rope", heads };
  if (arch === "llama" && /^blk\.\d+\.attn_k\.(weight|bias)$/.test(name)) return { kind: "unpermute-rope", heads: kvHeads };
  if (arch === "gemma2" && /norm\.weight$/.test(name)) return { kind: "minus-one" };
  return { kind: "none" };
}

/**
 * Rows of a [heads·headDim, cols] matrix from llama.cpp's layout (per head: pairs (i, i + headDim/2) adjacent)
 * back to transformers' (per head: first half, then second half). Applied in place through a copy.
 */
export function unpermuteRope(data: Float32Array, heads: number, rows: number, cols: number, inverse = false): Float32Array {
  const headDim = rows / heads;
  const half = headDim / 2;
  const out = new Float32Array(data.length);
  for (let h = 0; h < heads; h++) {
    for (let i = 0; i < half; i++) {
      for (let pair = 0; pair < 2; pair++) {
        const hfRow = h * headDim + pair * half + i; // transformers: [h, 2, half]
        const ggRow = h * headDim + i * 2 + pair; // llama.cpp: [h, half, 2]
        const [from, to] = inverse ? [hfRow, ggRow] : [ggRow, hfRow];
        out.set(data.subarray(from * cols, from * cols + cols), to * cols);
      }
    }
  }
  return out;
}

const ROPE_FREQS = "rope_freqs.weight";

/**
 * RoPE parameters. Llama 3.1+ GGUFs carry no rope_scaling keys but a `rope_freqs.weight` tensor: one divisor per
 * frequency, which llama.cpp's converter computes from transformers' llama3 parameters (1 for high frequencies,
 * `factor` for low ones, 1 / ((1 − s) / factor + s) between, s linear in 1/wavelength). The parameters are recovered
 * from it: factor is the largest divisor, and s's line (fitted through the in-between divisors) fixes
 * original_max_position_embeddings / (high − low) and low / (high − low), which is all the llama3 rule depends on;
 * low is taken as 1 (Meta's value). The recovered parameters must reproduce every divisor, else the file is refused.
 */
function ropeParameters(gguf: GgufFile, theta: number, headDim: number): Record<string, unknown> {
  const tensor = gguf.tensors.get(ROPE_FREQS);
  if (!tensor) return { rope_type: "default", rope_theta: theta };
  const n = headDim / 2;
  const refuse = (why: string): never => {
    throw new UnsupportedFormatError(gguf.file, `tensor "${ROPE_FREQS}" (${why})`, "load the Hugging Face safetensors release, whose config.json carries rope_scaling");
  };
  if (tensor.elements !== n) refuse(`${tensor.elements} divisors for ${n} frequencies`);
  const divisors = Array.from(dequantize(tensor.type, gguf.bytes(tensor), n));
  const factor = Math.max(...divisors);
  if (!(factor >= 1) || divisors.some((d) => !(d >= 1 - 1e-6))) refuse("divisors below 1: not llama3 scaling");
  if (factor - 1 < 1e-6) return { rope_type: "default", rope_theta: theta };
  const x = divisors.map((_, i) => theta ** (-(2 * i) / headDim) / (2 * Math.PI)); // 1 / wavelength
  const near = (a: number, b: number) => Math.abs(a - b) <= 1e-5 * b;
  const smooth = divisors.flatMap((d, i) => (near(d, 1) || near(d, factor) ? [] : [{ x: x[i], s: (1 / d - 1 / factor) / (1 - 1 / factor) }]));
  let a: number, b: number;
  if (smooth.length >= 2) {
    const [p, q] = [smooth[0], smooth[smooth.length - 1]];
    a = (q.s - p.s) / (q.x - p.x);
    b = p.s - a * p.x;
  } else if (smooth.length === 1) {
    // One interior point fixes one relation: take Meta's low/high (1 and 4) and solve for the original context.
    a = (3 * smooth[0].s + 1) / smooth[0].x / 3;
    b = -1 / 3;
  } else {
    // No interior point to fit: put s = 0 and s = 1 at the last scaled and the first unscaled frequency.
    const scaledX = Math.max(...x.filter((_, i) => near(divisors[i], factor)));
    const unscaledX = Math.min(...x.filter((_, i) => near(divisors[i], 1)));
    if (!Number.isFinite(scaledX) || !Number.isFinite(unscaledX) || unscaledX <= scaledX) refuse("divisors not ordered by frequency");
    a = 1 / (unscaledX - scaledX);
    b = -scaledX * a;
  }
  if (!(a > 0) || !(b < 0)) refuse("no llama3 parameters reproduce them");
  // Scaled so that low_freq_factor is 1 (Meta's value): then high_freq_factor and the original context come out
  // as released (4 and 8192 for Llama 3.1-3.3) up to rounding, which is removed.
  const tidy = (v: number) => (Math.abs(v - Math.round(v)) <= 1e-6 * Math.abs(v) ? Math.round(v) : v);
  const span = -1 / b;
  const params = { rope_type: "llama3", rope_theta: theta, factor: tidy(factor), original_max_position_embeddings: tidy(a * span), low_freq_factor: 1, high_freq_factor: tidy(1 + span) };
  // Check: the llama3 rule with these parameters gives back every divisor.
  divisors.forEach((d, i) => {
    const s = Math.min(1, Math.max(0, a * x[i] + b));
    const back = 1 / ((1 - s) / factor + s);
    if (Math.abs(back - d) > 1e-4 * d) refuse(`divisor ${i} is ${d}, the llama3 rule gives ${back}`);
  });
  return params;
}
