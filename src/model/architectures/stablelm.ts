// StableLM (StableLM-2, StableLM-3B-4E1T, Zephyr): partial rotary (partial_rotary_factor of each head, rotate_half
// style), LayerNorm with bias, a SwiGLU MLP, q/k/v biases when use_qkv_bias, and two options:
//   qk_layernorm: a separate bias-free LayerNorm per head on q and k (q_layernorm.norms.{h}.weight), before RoPE;
//     the per-head weights are stacked into [heads, head_dim] so one broadcast applies them all;
//   use_parallel_residual: attention and MLP both read input_layernorm's output (post_attention_layernorm is
//     absent) and resid_post = resid_pre + attn_out + mlp_out.
import * as tf from "@tensorflow/tfjs-core";
import type { ModelConfig } from "../../io/config";
import type { WeightSource } from "../../io/weight-source";
import type { CanonicalModel, NormWeights } from "../canonical";
import { blockWeights, modelShell, readEmbedding, ROTARY_BUFFERS, rotaryPerLayer, unembedding } from "./canonical-parts";
import { readAttention, readSwiglu } from "./llama-parts";
import { WeightLoader } from "./weight-loader";

export function convertStablelm(config: ModelConfig, weights: WeightSource): CanonicalModel {
  const w = new WeightLoader(weights, "stablelm");
  const d = config.hiddenSize;
  const eps = config.normEps;
  const qkvBias = config.raw.use_qkv_bias === true;
  const qkNorm = config.raw.qk_layernorm === true;
  const parallel = config.raw.use_parallel_residual === true;
  const rotary = rotaryPerLayer(config);
  const W_E = readEmbedding(w, config, "model.embed_tokens.weight");
  const unembed = unembedding(w, config);
  const blocks = Array.from({ length: config.numLayers }, (_, l) => {
    const p = `model.layers.${l}.`;
    const attn = readAttention(w, config, l, rotary[l], { qkvBias, oBias: false, qkNorm: "none", sinks: false });
    if (qkNorm) {
      attn.qNorm = perHeadLayerNorm(w, `${p}self_attn.q_layernorm.norms.`, config.numHeads, config.headDim, eps);
      attn.kNorm = perHeadLayerNorm(w, `${p}self_attn.k_layernorm.norms.`, config.numKVHeads, config.headDim, eps);
      attn.qkNormScope = "head";
    }
    const ln1 = w.layerNorm(p + "input_layernorm", d, eps);
    return blockWeights({
      ln1,
      attn,
      // Parallel: the MLP reads the same normalised input as attention.
      ln2: parallel ? ln1 : w.layerNorm(p + "post_attention_layernorm", d, eps),
      mlp: readSwiglu(w, config, p + "mlp.", config.intermediateSize),
      parallel,
    });
  });
  const model = modelShell(config, { W_E, blocks, lnFinal: w.layerNorm("model.norm", d, eps), unembed });
  w.assertAllUsed(ROTARY_BUFFERS);
  return model;
}

/** StableLmLayerNormPerHead: one bias-free LayerNorm per head, weights stacked [heads, head_dim]. */
function perHeadLayerNorm(w: WeightLoader, prefix: string, heads: number, headDim: number, eps: number): NormWeights {
  const perHead = Array.from({ length: heads }, (_, h) => w.tensor(`${prefix}${h}.weight`, [headDim]));
  const weight = tf.stack(perHead) as unknown as tf.Tensor1D; // [heads, head_dim], broadcast over [.., heads, head_dim]
  tf.dispose(perHead);
  return { kind: "layer", weight, bias: null, eps, weightOffset: 0 };
}
