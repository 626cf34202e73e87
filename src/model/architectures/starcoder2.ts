// StarCoder2: Llama's attention layout with biases on every projection (use_bias), LayerNorm (with bias) instead of
// RMSNorm, an ungated MLP (mlp.c_fc → GELU (tanh) → mlp.c_proj, with biases) and a sliding window on every layer.
import type { ModelConfig } from "../../io/config";
import type { WeightSource } from "../../io/weight-source";
import { activationFromConfig } from "../components/activations";
import type { CanonicalModel } from "../canonical";
import { blockWeights, denseMlpWeights, modelShell, readEmbedding, ROTARY_BUFFERS, rotaryPerLayer, unembedding } from "./canonical-parts";
import { readAttention } from "./llama-parts";
import { WeightLoader } from "./weight-loader";

export function convertStarcoder2(config: ModelConfig, weights: WeightSource): CanonicalModel {
  const w = new WeightLoader(weights, "starcoder2");
  const d = config.hiddenSize;
  const width = config.intermediateSize;
  const bias = config.raw.use_bias !== false;
  const rotary = rotaryPerLayer(config);
  const act = activationFromConfig(config.activation);
  const W_E = readEmbedding(w, config, "model.embed_tokens.weight");
  const unembed = unembedding(w, config);
  const blocks = Array.from({ length: config.numLayers }, (_, l) => {
    const p = `model.layers.${l}.`;
    return blockWeights({
      ln1: w.layerNorm(p + "input_layernorm", d, config.normEps),
      attn: readAttention(w, config, l, rotary[l], { qkvBias: bias, oBias: bias, qkNorm: "none", sinks: false }),
      ln2: w.layerNorm(p + "post_attention_layernorm", d, config.normEps),
      mlp: denseMlpWeights({
        W_in: w.linear(p + "mlp.c_fc.weight", d, width),
        b_in: w.bias(p + "mlp.c_fc.bias", width, bias),
        W_out: w.linear(p + "mlp.c_proj.weight", width, d),
        b_out: w.bias(p + "mlp.c_proj.bias", d, bias),
        act,
      }),
    });
  });
  const model = modelShell(config, { W_E, blocks, lnFinal: w.layerNorm("model.norm", d, config.normEps), unembed });
  w.assertAllUsed(ROTARY_BUFFERS);
  return model;
}
