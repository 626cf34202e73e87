// The one weight layout every architecture converts into (like TransformerLens's weight conversions).
// Components read only these fields and know nothing of Hugging Face tensor names; an architecture file
// (src/model/architectures/<family>.ts) maps its family's config and weights onto them.
//
// Weights: every projection, W_E and W_U is a Weight2D: a float32 tensor, or on webgpu a bf16/f16 checkpoint's
// values kept packed (backend/packed-weight.ts), read by weightMatMul / weightRows, or as float32 by float32Weight.
//
// Orientation: every projection matrix is stored as [in, out] so that `x @ W` applies it (TransformerLens's
// orientation, the transpose of torch.nn.Linear's [out, in]). The one exception is a tied unembedding, which
// reuses W_E [vocab, d_model] through a transposed matmul instead of holding a second copy.
import type * as tf from "@tensorflow/tfjs-core";
import type { LayerWeightProvider } from "./layer-weights";
import { isPacked, type PackedWeight, type Weight2D } from "../backend/packed-weight";
// Chained tensor methods (x.reshape(…), x.transpose()) for every model/ file: canonical.ts is imported by all.
import "../tensor-methods";

/** Activation functions by what they compute (converters map HF names such as "gelu_new" onto these). */
export type ActivationName =
  | "silu" // x · sigmoid(x)
  | "gelu" // exact: x · Φ(x), with erf
  | "gelu_tanh" // tanh approximation (HF "gelu_new", "gelu_pytorch_tanh", "gelu_fast")
  | "gelu_quick" // x · sigmoid(1.702 x)
  | "relu";

export interface NormWeights {
  /** "rms": x / sqrt(mean(x²) + eps); "layer": (x − mean) / sqrt(var + eps). */
  kind: "rms" | "layer";
  /** [dim], or null when the norm has no learned scale. */
  weight: tf.Tensor1D | null;
  /** [dim] (LayerNorm only), or null. */
  bias: tf.Tensor1D | null;
  eps: number;
  /** Added to the weight before scaling: 1 for Gemma's x · (1 + w), else 0. */
  weightOffset: number;
}

export interface RotarySettings {
  /** Leading dimensions of each head that rotate (head_dim × partial_rotary_factor); the rest pass through. */
  rotaryDim: number;
  /** Inverse frequencies [rotaryDim / 2], float32 as the reference computes them (scaling already applied). */
  invFreq: Float32Array;
  /** Multiplies cos and sin (YaRN / LongRoPE attention factor); 1 otherwise. */
  attentionScaling: number;
  /** "half": rotate_half over the two halves (Llama, NeoX); "interleaved": pairs (2i, 2i+1) (GPT-J style). */
  style: "half" | "interleaved";
  /**
   * Optional: inverse frequencies that depend on the sequence length (dynamic NTK, LongRoPE short/long).
   * When present it is called with the longest position + 1 of the run and its result replaces invFreq.
   */
  invFreqFor?: (seqLen: number) => { invFreq: Float32Array; attentionScaling: number };
}

export interface AttentionWeights {
  nHeads: number;
  nKVHeads: number;
  dHead: number;
  /** [d_model, nHeads·dHead]; biases [nHeads·dHead] or null. */
  W_Q: Weight2D;
  b_Q: tf.Tensor1D | null;
  /** [d_model, nKVHeads·dHead]. */
  W_K: Weight2D;
  b_K: tf.Tensor1D | null;
  W_V: Weight2D;
  b_V: tf.Tensor1D | null;
  /** [nHeads·dHead, d_model]. */
  W_O: Weight2D;
  b_O: tf.Tensor1D | null;
  /** q/k norms (Qwen3, OLMo2, Gemma3): over each head ("head") or over the whole projection before the head split ("all"). */
  qNorm: NormWeights | null;
  kNorm: NormWeights | null;
  qkNormScope: "head" | "all";
  /** null: no rotary embedding (absolute positions, GPT-2). */
  rotary: RotarySettings | null;
  /** Multiplies q·kᵀ (1/√dHead, query_pre_attn_scalar^-½, GPT-2's extra 1/(layer+1)), as one float32 factor. */
  scale: number;
  /** Scores become softcap · tanh(scores / softcap) before the mask (Gemma 2), or null. */
  softcap: number | null;
  /** Keys with query − key ≥ window are masked (each query sees `window` keys including itself), or null. */
  slidingWindow: number | null;
  /** Per-head sink logits [nHeads] joined to the softmax then dropped (gpt-oss), or null. */
  sinks: tf.Tensor1D | null;
  /**
   * ALiBi (BLOOM): per-head slopes [nHeads]; the scores gain slope · (key position) before the mask
   * (components/alibi.ts). Absent or null: no positional bias.
   */
  alibiSlopes?: Float32Array | null;
  /** Multi-head latent attention (DeepSeek-V3): replaces W_Q/W_K/W_V (components/mla.ts). Absent or null: plain. */
  mla?: import("./components/mla").MlaWeights | null;
}

/** The projections of a feed-forward network (a dense MLP, or one expert of a mixture). */
export interface FeedForwardProjections {
  /** [d_model, d_mlp] or null when not gated. */
  W_gate: Weight2D | null;
  b_gate: tf.Tensor1D | null;
  /** [d_model, d_mlp] ("up" in gated models). */
  W_in: Weight2D;
  b_in: tf.Tensor1D | null;
  /** [d_mlp, d_model]. */
  W_out: Weight2D;
  b_out: tf.Tensor1D | null;
}

export interface DenseMlpWeights extends FeedForwardProjections {
  kind: "dense";
  /** Gated (SwiGLU/GeGLU): out = (act(x W_gate) · x W_in) W_out. Ungated: out = act(x W_in) W_out. */
  gated: boolean;
  act: ActivationName;
}

/**
 * Mixture-of-experts slot. Its forward is registered by the MoE component (registerMlpForward("moe", …) in
 * components/mlp.ts); the fields beyond `kind` belong to that component and may be extended there.
 */
export interface MoeMlpWeights {
  kind: "moe";
  numExperts: number;
  topK: number;
  [field: string]: unknown;
}

export type MlpWeights = DenseMlpWeights | MoeMlpWeights;

export interface BlockWeights {
  /** Norm before attention (input_layernorm / ln_1), or null (OLMo2 normalises after instead). */
  ln1: NormWeights | null;
  attn: AttentionWeights;
  /** Norm of the attention output before it joins the residual (Gemma 2/3 post_attention_layernorm, OLMo2). */
  postAttnNorm: NormWeights | null;
  /** Norm before the MLP (Llama's post_attention_layernorm, Gemma's pre_feedforward_layernorm, ln_2), or null. */
  ln2: NormWeights | null;
  mlp: MlpWeights;
  /** Norm of the MLP output before it joins the residual (Gemma post_feedforward_layernorm, OLMo2). */
  postMlpNorm: NormWeights | null;
  /** GPT-NeoX / GPT-J: resid_post = resid_pre + attn(ln1(resid_pre)) + mlp(ln2(resid_pre)). */
  parallel: boolean;
  /**
   * Post-LN (OPT-350m, the original Transformer): resid_mid = attnNorm(resid_pre + attn_out) and
   * resid_post = mlpNorm(resid_mid + mlp_out). Absent or null: the residual stream is never normalised in place.
   */
  residualNorms?: { attn: NormWeights; mlp: NormWeights } | null;
}

export interface CanonicalModel {
  modelType: string;
  dModel: number;
  nLayers: number;
  vocabSize: number;
  /** Longest input the model accepts (max_position_embeddings / n_positions). */
  maxPositions: number;
  embed: {
    /** [vocab, d_model]. */
    W_E: Weight2D;
    /** Multiplier applied after the lookup (Gemma's √d_model rounded to the compute dtype), or null. */
    scale: number | null;
    /** Norm of the embedding before the first block (BLOOM's word_embeddings_layernorm); absent or null: none. */
    norm?: NormWeights | null;
  };
  /** Learned absolute positions [maxPositions, d_model] (GPT-2), or null. */
  posEmbed: { W_pos: tf.Tensor2D } | null;
  blocks: BlockWeights[];
  lnFinal: NormWeights | null;
  unembed: {
    /** [d_model, vocab], or null when tied: the unembedding then uses embed.W_E transposed. */
    W_U: Weight2D | null;
    b_U: tf.Tensor1D | null;
    /** Final logits become softcap · tanh(logits / softcap) (Gemma 2), or null. */
    softcap: number | null;
    /** Logits are divided by this before any softcap (Granite's logits_scaling); absent or null: none. */
    divisor?: number | null;
  };
  /**
   * Present when the block weights are not all resident (quantised checkpoints too large in float32): the forward
   * pass acquires each block from it before running the block.
   */
  layerWeights?: LayerWeightProvider;
}

/** Every tensor a canonical model holds (shared tensors once), for dispose() and memory accounting. */
export function canonicalTensors(model: CanonicalModel): tf.Tensor[] {
  return canonicalLeaves(model, false) as tf.Tensor[];
}

/**
 * Every parameter a canonical model holds, packed weights as themselves (their logical size and shape), not as
 * their words: for counting parameters and multiply-adds.
 */
export function canonicalParameters(model: CanonicalModel): (tf.Tensor | PackedWeight)[] {
  return canonicalLeaves(model, true);
}

function canonicalLeaves(model: CanonicalModel, packedAsLeaves: boolean): (tf.Tensor | PackedWeight)[] {
  const seen = new Set<tf.Tensor | PackedWeight>();
  const visit = (v: unknown): void => {
    if (v === null || v === undefined || typeof v !== "object") return;
    if (isTensor(v) || (packedAsLeaves && isPacked(v))) {
      seen.add(v);
      return;
    }
    if (v instanceof Float32Array || ArrayBuffer.isView(v)) return;
    for (const child of Array.isArray(v) ? v : Object.values(v)) visit(child);
  };
  visit(model);
  return [...seen];
}

function isTensor(v: object): v is tf.Tensor {
  return "dataId" in v && "shape" in v && "dtype" in v && typeof (v as { dispose?: unknown }).dispose === "function";
}
