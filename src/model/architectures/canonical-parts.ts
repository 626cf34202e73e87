// Family-neutral builders of the canonical layout that every converter shares: attention and MLP records with
// the defaults of a plain transformer filled in, the model shell around the blocks, the unembedding (lm_head or
// tied) and the rotary settings per layer. Converters state only what their family changes.
import type * as tf from "@tensorflow/tfjs-core";
import type { LayerType, ModelConfig, RopeParameters } from "../../io/config";
import { rotaryFromParameters } from "../components/rotary";
import type { AttentionWeights, BlockWeights, CanonicalModel, DenseMlpWeights, NormWeights, RotarySettings } from "../canonical";
import type { WeightLoader } from "./weight-loader";
import type { Weight2D } from "../../backend/packed-weight";

/** Buffers some checkpoints carry that are not parameters. */
export const ROTARY_BUFFERS = [/\.rotary_emb\.inv_freq$/];

type AttentionDefaults = "qNorm" | "kNorm" | "qkNormScope" | "rotary" | "softcap" | "slidingWindow" | "sinks" | "b_Q" | "b_K" | "b_V" | "b_O";

/** An attention record: no biases, q/k norms, rotary, softcap, window or sinks unless given. */
export function attentionWeights(parts: Omit<AttentionWeights, AttentionDefaults> & Partial<Pick<AttentionWeights, AttentionDefaults>>): AttentionWeights {
  return {
    b_Q: null,
    b_K: null,
    b_V: null,
    b_O: null,
    qNorm: null,
    kNorm: null,
    qkNormScope: "head",
    rotary: null,
    softcap: null,
    slidingWindow: null,
    sinks: null,
    ...parts,
  };
}

/** A dense MLP record: gated exactly when W_gate is given; absent biases are null. */
export function denseMlpWeights(parts: Pick<DenseMlpWeights, "W_in" | "W_out" | "act"> & Partial<Omit<DenseMlpWeights, "kind" | "gated">>): DenseMlpWeights {
  const W_gate = parts.W_gate ?? null;
  return { kind: "dense", gated: W_gate !== null, W_gate, b_gate: null, b_in: null, b_out: null, ...parts };
}

/** A sequential pre-norm block (ln1 → attention, ln2 → MLP) unless the family sets the other norms or parallel. */
export function blockWeights(parts: Pick<BlockWeights, "attn" | "mlp"> & Partial<BlockWeights>): BlockWeights {
  return { ln1: null, postAttnNorm: null, ln2: null, postMlpNorm: null, parallel: false, ...parts };
}

export interface ModelShellParts {
  W_E: Weight2D;
  /** Multiplier after the embedding lookup (Gemma's √d), default none. */
  embedScale?: number | null;
  W_pos?: tf.Tensor2D | null;
  blocks: BlockWeights[];
  lnFinal: NormWeights | null;
  unembed: CanonicalModel["unembed"];
}

/** The model around its blocks, with the sizes config.json gives. */
export function modelShell(config: ModelConfig, parts: ModelShellParts): CanonicalModel {
  return {
    modelType: config.modelType,
    dModel: config.hiddenSize,
    nLayers: config.numLayers,
    vocabSize: config.vocabSize,
    maxPositions: config.maxPositions,
    embed: { W_E: parts.W_E, scale: parts.embedScale ?? null },
    posEmbed: parts.W_pos ? { W_pos: parts.W_pos } : null,
    blocks: parts.blocks,
    lnFinal: parts.lnFinal,
    unembed: parts.unembed,
  };
}

/** The token embedding [vocab, d_model] stored under `name`. */
export function readEmbedding(w: WeightLoader, config: ModelConfig, name: string): Weight2D {
  return w.matrix(name, config.vocabSize, config.hiddenSize);
}

/**
 * lm_head, or the tied embedding (an lm_head stored beside tied embeddings is ignored, as the reference ties it),
 * with the final softcap (Gemma 2) when given.
 */
export function unembedding(w: WeightLoader, config: ModelConfig, name = "lm_head.weight", softcap: number | null = null): CanonicalModel["unembed"] {
  if (config.tieWordEmbeddings) {
    w.skip(name);
    return { W_U: null, b_U: null, softcap };
  }
  return { W_U: w.linear(name, config.hiddenSize, config.vocabSize), b_U: null, softcap };
}

/** Rotary settings per layer, one object per distinct RoPE configuration so that cos/sin are computed once. */
export function rotaryPerLayer(config: ModelConfig, headDim: number = config.headDim): (RotarySettings | null)[] {
  const byParams = new Map<RopeParameters, RotarySettings>();
  return config.layerTypes.map((t: LayerType) => {
    const params = config.ropeByLayerType?.[t] ?? config.rope;
    if (!params) return null;
    if (!byParams.has(params)) byParams.set(params, rotaryFromParameters(params, headDim, config.maxPositions));
    return byParams.get(params)!;
  });
}

/** The window of layer l when config.json makes it a sliding-attention layer, else null. */
export function slidingWindowOf(config: ModelConfig, l: number): number | null {
  return config.layerTypes[l] === "sliding_attention" ? config.slidingWindow : null;
}
