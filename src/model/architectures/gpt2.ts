// GPT-2: learned absolute positions, LayerNorm, fused c_attn (Conv1D, stored [in, out]) split into q|k|v
// column blocks, ungated MLP, tied unembedding. Checkpoints name tensors with or without "transformer.".
import * as tf from "@tensorflow/tfjs-core";
import type { ModelConfig } from "../../io/config";
import type { WeightSource } from "../../io/weight-source";
import { activationFromConfig } from "../components/activations";
import type { AttentionWeights, BlockWeights, CanonicalModel } from "../canonical";
import { attentionWeights, blockWeights, denseMlpWeights, modelShell, readEmbedding, unembedding } from "./canonical-parts";
import { WeightLoader } from "./weight-loader";

export function convertGpt2(config: ModelConfig, weights: WeightSource): CanonicalModel {
  const w = new WeightLoader(weights, "gpt2");
  const prefix = weights.has("transformer.wte.weight") ? "transformer." : "";
  const d = config.hiddenSize;
  const { numHeads: H, headDim, normEps: eps } = config;
  const dMlp = config.intermediateSize;
  const act = activationFromConfig(config.activation, "activation_function");
  const scaleByHeadDim = config.raw.scale_attn_weights !== false;
  const scaleByLayer = config.raw.scale_attn_by_inverse_layer_idx === true;

  // The vocabulary-sized tensors first, while little else is held (see llama-parts' assembleModel).
  const W_E = readEmbedding(w, config, prefix + "wte.weight");
  const unembed = unembedding(w, config);
  const blocks: BlockWeights[] = [];
  for (let l = 0; l < config.numLayers; l++) {
    const p = `${prefix}h.${l}.`;
    const qkv = splitCAttn(w, p, d);
    // The reference folds both factors into one scaling applied to q·kᵀ.
    let scale = scaleByHeadDim ? headDim ** -0.5 : 1;
    if (scaleByLayer) scale /= l + 1;
    blocks.push(
      blockWeights({
        ln1: w.layerNorm(p + "ln_1", d, eps),
        attn: attentionWeights({
          nHeads: H,
          nKVHeads: H,
          dHead: headDim,
          ...qkv,
          W_O: w.conv1d(p + "attn.c_proj.weight", d, d),
          b_O: w.bias(p + "attn.c_proj.bias", d, true),
          scale: Math.fround(scale),
        }),
        ln2: w.layerNorm(p + "ln_2", d, eps),
        mlp: denseMlpWeights({
          W_in: w.conv1d(p + "mlp.c_fc.weight", d, dMlp),
          b_in: w.bias(p + "mlp.c_fc.bias", dMlp, true),
          W_out: w.conv1d(p + "mlp.c_proj.weight", dMlp, d),
          b_out: w.bias(p + "mlp.c_proj.bias", d, true),
          act,
        }),
      }),
    );
  }
  const model = modelShell(config, {
    W_E,
    W_pos: w.tensor(prefix + "wpe.weight", [config.maxPositions, d]) as tf.Tensor2D,
    blocks,
    lnFinal: w.layerNorm(prefix + "ln_f", d, eps),
    unembed,
  });
  // attn.bias / attn.masked_bias are the causal-mask buffers of older checkpoints, not parameters.
  w.assertAllUsed([/\.attn\.(masked_)?bias$/]);
  return model;
}

/** attn.c_attn (Conv1D [d, 3d] and bias [3d]) cut into its q | k | v column blocks. */
function splitCAttn(w: WeightLoader, p: string, d: number): Pick<AttentionWeights, "W_Q" | "b_Q" | "W_K" | "b_K" | "W_V" | "b_V"> {
  const [W_Q, W_K, W_V] = w.conv1dSplit(p + "attn.c_attn.weight", d, [d, d, d]);
  const cAttnBias = w.bias(p + "attn.c_attn.bias", 3 * d, true)!;
  const [b_Q, b_K, b_V] = tf.split(cAttnBias, 3, 0) as tf.Tensor1D[];
  cAttnBias.dispose();
  return { W_Q, b_Q, W_K, b_K, W_V, b_V };
}
