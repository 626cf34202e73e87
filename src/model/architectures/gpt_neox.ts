// GPT-NeoX (Pythia): fused query_key_value whose output rows are grouped per head as [q | k | v], partial rotary
// (the first head_dim × partial_rotary_factor features rotate), LayerNorm, ungated MLP with biases, and the
// parallel residual (attention and MLP both read the block input) when use_parallel_residual is set.
import * as tf from "@tensorflow/tfjs-core";
import type { ModelConfig } from "../../io/config";
import type { WeightSource } from "../../io/weight-source";
import { activationFromConfig } from "../components/activations";
import type { AttentionWeights, BlockWeights, CanonicalModel } from "../canonical";
import { attentionWeights, blockWeights, denseMlpWeights, modelShell, readEmbedding, ROTARY_BUFFERS, rotaryPerLayer, unembedding } from "./canonical-parts";
import { WeightLoader } from "./weight-loader";

export function convertGptNeox(config: ModelConfig, weights: WeightSource): CanonicalModel {
  const w = new WeightLoader(weights, "gpt_neox");
  const d = config.hiddenSize;
  const { numHeads: H, normEps: eps } = config;
  // GPT-NeoX always splits hidden_size evenly over the heads.
  const dh = d / H;
  const rotary = rotaryPerLayer(config, dh);
  const act = activationFromConfig(config.activation);
  const bias = config.attentionBias;

  // The vocabulary-sized tensors first, while little else is held (see llama-parts' assembleModel).
  const W_E = readEmbedding(w, config, "gpt_neox.embed_in.weight");
  const unembed = unembedding(w, config, "embed_out.weight");
  const blocks: BlockWeights[] = [];
  for (let l = 0; l < config.numLayers; l++) {
    const p = `gpt_neox.layers.${l}.`;
    const qkv = splitPerHeadQkv(w, p, H, dh, bias);
    blocks.push(
      blockWeights({
        ln1: w.layerNorm(p + "input_layernorm", d, eps),
        attn: attentionWeights({
          nHeads: H,
          nKVHeads: H,
          dHead: dh,
          ...qkv,
          W_O: w.linear(p + "attention.dense.weight", d, d),
          b_O: w.bias(p + "attention.dense.bias", d, bias),
          rotary: rotary[l],
          scale: Math.fround(dh ** -0.5),
        }),
        ln2: w.layerNorm(p + "post_attention_layernorm", d, eps),
        mlp: denseMlpWeights({
          W_in: w.linear(p + "mlp.dense_h_to_4h.weight", d, config.intermediateSize),
          b_in: w.bias(p + "mlp.dense_h_to_4h.bias", config.intermediateSize, true),
          W_out: w.linear(p + "mlp.dense_4h_to_h.weight", config.intermediateSize, d),
          b_out: w.bias(p + "mlp.dense_4h_to_h.bias", d, true),
          act,
        }),
        parallel: config.parallelResidual,
      }),
    );
  }
  const model = modelShell(config, {
    W_E,
    blocks,
    lnFinal: w.layerNorm("gpt_neox.final_layer_norm", d, eps),
    unembed,
  });
  w.assertAllUsed([...ROTARY_BUFFERS, /\.attention\.(masked_)?bias$/]);
  return model;
}

/**
 * A fused query_key_value ([3d, d], rows grouped per head as q | k | v: GPT-NeoX, BLOOM) split into canonical
 * W_Q/W_K/W_V [d, d]. `name` is the module's prefix (".weight" and ".bias" are appended).
 */
export function splitPerHeadQkv(w: WeightLoader, p: string, H: number, dh: number, bias: boolean, name = "attention.query_key_value"): Pick<AttentionWeights, "W_Q" | "b_Q" | "W_K" | "b_K" | "W_V" | "b_V"> {
  const d = H * dh;
  const qkv = w.tensor(p + name + ".weight", [3 * d, d]);
  const qkvBias = w.bias(p + name + ".bias", 3 * d, bias);
  const [W_Q, W_K, W_V] = tf.tidy(() => {
    const perHead = qkv.reshape([H, 3, dh, d]);
    return [0, 1, 2].map((i) => perHead.slice([0, i, 0, 0], [H, 1, dh, d]).reshape([H * dh, d]).transpose() as tf.Tensor2D);
  });
  const [b_Q, b_K, b_V] = qkvBias
    ? tf.tidy(() => {
        const perHead = qkvBias.reshape([H, 3, dh]);
        return [0, 1, 2].map((i) => perHead.slice([0, i, 0], [H, 1, dh]).reshape([H * dh]) as tf.Tensor1D);
      })
    : [null, null, null];
  tf.dispose([qkv, ...(qkvBias ? [qkvBias] : [])]);
  return { W_Q, b_Q, W_K, b_K, W_V, b_V };
}
