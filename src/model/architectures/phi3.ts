// Phi-3 (and Phi-3.5 / Phi-4-mini): Llama's block with two fused projections, split here into the canonical layout:
//   self_attn.qkv_proj [q + k + v rows, d]: queries (heads·head_dim), then keys, then values (kv_heads·head_dim each);
//   mlp.gate_up_proj [2·width, d]: the gate's rows first, then up's (Phi3MLP's chunk(2)).
// Partial rotary (partial_rotary_factor) and LongRoPE (short/long factors, switched past
// original_max_position_embeddings) come from the RoPE parameters; a sliding_window applies to every layer.
import * as tf from "@tensorflow/tfjs-core";
import type { ModelConfig } from "../../io/config";
import type { WeightSource } from "../../io/weight-source";
import { activationFromConfig } from "../components/activations";
import type { CanonicalModel } from "../canonical";
import { attentionWeights, denseMlpWeights, rotaryPerLayer, slidingWindowOf } from "./canonical-parts";
import { assembleModel, preNormBlock } from "./llama-parts";
import { WeightLoader } from "./weight-loader";

/** Splits a fused [in, a + b + …] matrix (already in [in, out] orientation) into column blocks of the given widths. */
export function splitColumns(fused: tf.Tensor2D, widths: number[]): tf.Tensor2D[] {
  return tf.split(fused, widths, 1) as tf.Tensor2D[];
}

export function convertPhi3(config: ModelConfig, weights: WeightSource): CanonicalModel {
  const w = new WeightLoader(weights, "phi3");
  const d = config.hiddenSize;
  const { numHeads, numKVHeads, headDim } = config;
  const width = config.intermediateSize;
  const rotary = rotaryPerLayer(config);
  const act = activationFromConfig(config.activation);
  return assembleModel(w, config, (l) => {
    const p = `model.layers.${l}.`;
    const [W_Q, W_K, W_V] = w.linearSplit(p + "self_attn.qkv_proj.weight", d, [numHeads * headDim, numKVHeads * headDim, numKVHeads * headDim]);
    const [W_gate, W_in] = w.linearSplit(p + "mlp.gate_up_proj.weight", d, [width, width]);
    const attn = attentionWeights({
      nHeads: numHeads,
      nKVHeads: numKVHeads,
      dHead: headDim,
      W_Q,
      W_K,
      W_V,
      W_O: w.linear(p + "self_attn.o_proj.weight", numHeads * headDim, d),
      rotary: rotary[l],
      scale: Math.fround(headDim ** -0.5),
      slidingWindow: slidingWindowOf(config, l),
    });
    const mlp = denseMlpWeights({ W_gate, W_in, W_out: w.linear(p + "mlp.down_proj.weight", width, d), act });
    return preNormBlock(w, config, l, attn, mlp);
  });
}
