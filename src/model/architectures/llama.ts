// Llama and the families that share its layout (model.layers.{i}.self_attn.{q,k,v,o}_proj, mlp.{gate,up,down}_proj,
// input_layernorm / post_attention_layernorm, model.norm, lm_head): llama (incl. Llama 3 RoPE scaling), mistral
// (sliding window on every layer), qwen2 (q/k/v biases), qwen3 (per-head q/k RMSNorm). Gemma 2 reuses the
// attention part through convertLlamaLike's options.
import type { ModelConfig, LayerType, RopeParameters } from "../../io/config";
import type { WeightSource } from "../../io/weight-source";
import { activationFromConfig } from "../components/activations";
import { rotaryFromParameters } from "../components/rotary";
import type { AttentionWeights, BlockWeights, CanonicalModel, DenseMlpWeights, NormWeights, RotarySettings } from "../canonical";
import { WeightLoader } from "./weight-loader";

export interface LlamaLikeOptions {
  architecture: string;
  qkvBias: boolean;
  oBias: boolean;
  mlpBias: boolean;
  /** Per-head RMSNorm of q and k (self_attn.q_norm / k_norm). */
  qkNorm: boolean;
  /** Gemma: (1 + w) RMSNorm, √d embedding scale, post-attention/pre/post-feedforward norms, softcaps. */
  gemma: boolean;
}

/** Buffers some checkpoints carry that are not parameters. */
export const ROTARY_BUFFERS = [/\.rotary_emb\.inv_freq$/];

/** Rotary settings per layer, one object per distinct RoPE configuration so that cos/sin are computed once. */
export function rotaryPerLayer(config: ModelConfig): (RotarySettings | null)[] {
  const byParams = new Map<RopeParameters, RotarySettings>();
  return config.layerTypes.map((t: LayerType) => {
    const params = config.ropeByLayerType?.[t] ?? config.rope;
    if (!params) return null;
    if (!byParams.has(params)) byParams.set(params, rotaryFromParameters(params, config.headDim, config.maxPositions));
    return byParams.get(params)!;
  });
}

export function convertLlamaLike(config: ModelConfig, weights: WeightSource, o: LlamaLikeOptions): CanonicalModel {
  const w = new WeightLoader(weights, o.architecture);
  const d = config.hiddenSize;
  const { numHeads, numKVHeads, headDim, normEps: eps } = config;
  const offset = o.gemma ? 1 : 0;
  const rotary = rotaryPerLayer(config);
  const act = activationFromConfig(config.activation);
  const scale = Math.fround(o.gemma && config.queryPreAttnScalar !== null ? config.queryPreAttnScalar ** -0.5 : headDim ** -0.5);

  const blocks: BlockWeights[] = [];
  for (let l = 0; l < config.numLayers; l++) {
    const p = `model.layers.${l}.`;
    const attn: AttentionWeights = {
      nHeads: numHeads,
      nKVHeads: numKVHeads,
      dHead: headDim,
      W_Q: w.linear(p + "self_attn.q_proj.weight", d, numHeads * headDim),
      b_Q: w.bias(p + "self_attn.q_proj.bias", numHeads * headDim, o.qkvBias),
      W_K: w.linear(p + "self_attn.k_proj.weight", d, numKVHeads * headDim),
      b_K: w.bias(p + "self_attn.k_proj.bias", numKVHeads * headDim, o.qkvBias),
      W_V: w.linear(p + "self_attn.v_proj.weight", d, numKVHeads * headDim),
      b_V: w.bias(p + "self_attn.v_proj.bias", numKVHeads * headDim, o.qkvBias),
      W_O: w.linear(p + "self_attn.o_proj.weight", numHeads * headDim, d),
      b_O: w.bias(p + "self_attn.o_proj.bias", d, o.oBias),
      qNorm: o.qkNorm ? w.rmsNorm(p + "self_attn.q_norm.weight", headDim, eps, offset) : null,
      kNorm: o.qkNorm ? w.rmsNorm(p + "self_attn.k_norm.weight", headDim, eps, offset) : null,
      qkNormScope: "head",
      rotary: rotary[l],
      scale,
      softcap: o.gemma ? config.attnLogitSoftcap : null,
      slidingWindow: config.layerTypes[l] === "sliding_attention" ? config.slidingWindow : null,
      sinks: null,
    };
    const mlp: DenseMlpWeights = {
      kind: "dense",
      gated: true,
      W_gate: w.linear(p + "mlp.gate_proj.weight", d, config.intermediateSize),
      b_gate: w.bias(p + "mlp.gate_proj.bias", config.intermediateSize, o.mlpBias),
      W_in: w.linear(p + "mlp.up_proj.weight", d, config.intermediateSize),
      b_in: w.bias(p + "mlp.up_proj.bias", config.intermediateSize, o.mlpBias),
      W_out: w.linear(p + "mlp.down_proj.weight", config.intermediateSize, d),
      b_out: w.bias(p + "mlp.down_proj.bias", d, o.mlpBias),
      act,
    };
    const norm = (name: string): NormWeights => w.rmsNorm(p + name + ".weight", d, eps, offset);
    blocks.push(
      o.gemma
        ? {
            ln1: norm("input_layernorm"),
            attn,
            postAttnNorm: norm("post_attention_layernorm"),
            ln2: norm("pre_feedforward_layernorm"),
            mlp,
            postMlpNorm: norm("post_feedforward_layernorm"),
            parallel: false,
          }
        : { ln1: norm("input_layernorm"), attn, postAttnNorm: null, ln2: norm("post_attention_layernorm"), mlp, postMlpNorm: null, parallel: false },
    );
  }

  const W_E = w.tensor("model.embed_tokens.weight", [config.vocabSize, d]);
  const model: CanonicalModel = {
    modelType: config.modelType,
    dModel: d,
    nLayers: config.numLayers,
    vocabSize: config.vocabSize,
    maxPositions: config.maxPositions,
    // Gemma multiplies by √d as a tensor of the compute dtype (float32 here).
    embed: { W_E: W_E as CanonicalModel["embed"]["W_E"], scale: o.gemma ? Math.fround(Math.sqrt(d)) : null },
    posEmbed: null,
    blocks,
    lnFinal: w.rmsNorm("model.norm.weight", d, eps, offset),
    unembed: { ...unembedding(w, config), softcap: o.gemma ? config.finalLogitSoftcap : null },
  };
  w.assertAllUsed(ROTARY_BUFFERS);
  return model;
}

/** lm_head, or the tied embedding (an lm_head stored beside tied embeddings is ignored, as the reference ties it). */
export function unembedding(w: WeightLoader, config: ModelConfig, name = "lm_head.weight"): Pick<CanonicalModel["unembed"], "W_U" | "b_U"> {
  if (config.tieWordEmbeddings) {
    w.skip(name);
    return { W_U: null, b_U: null };
  }
  return { W_U: w.linear(name, config.hiddenSize, config.vocabSize), b_U: null };
}

const llamaBase = { qkvBias: false, oBias: false, mlpBias: false, qkNorm: false, gemma: false };

export function convertLlama(config: ModelConfig, weights: WeightSource): CanonicalModel {
  return convertLlamaLike(config, weights, { ...llamaBase, architecture: "llama", qkvBias: config.attentionBias, oBias: config.attentionBias, mlpBias: config.mlpBias });
}

export function convertMistral(config: ModelConfig, weights: WeightSource): CanonicalModel {
  return convertLlamaLike(config, weights, { ...llamaBase, architecture: "mistral" });
}

export function convertQwen2(config: ModelConfig, weights: WeightSource): CanonicalModel {
  return convertLlamaLike(config, weights, { ...llamaBase, architecture: "qwen2", qkvBias: true });
}

export function convertQwen3(config: ModelConfig, weights: WeightSource): CanonicalModel {
  return convertLlamaLike(config, weights, { ...llamaBase, architecture: "qwen3", qkvBias: config.attentionBias, oBias: config.attentionBias, qkNorm: true });
}
