// Phi (Phi-1, Phi-1.5, Phi-2): parallel blocks (one input_layernorm feeds attention and MLP; resid_post =
// resid_pre + attn_out + mlp_out), partial rotary (partial_rotary_factor, rotate_half style), q/k/v with biases,
// the attention output projection named "dense", optional per-head LayerNorm on q and k (qk_layernorm), an ungated
// GELU MLP (fc1, fc2), a final LayerNorm (final_layernorm) and an lm_head with a bias.
import type { ModelConfig } from "../../io/config";
import type { WeightSource } from "../../io/weight-source";
import { activationFromConfig } from "../components/activations";
import type { BlockWeights, CanonicalModel } from "../canonical";
import { attentionWeights, blockWeights, denseMlpWeights, modelShell, readEmbedding, ROTARY_BUFFERS, rotaryPerLayer, unembedding } from "./canonical-parts";
import { WeightLoader } from "./weight-loader";

export function convertPhi(config: ModelConfig, weights: WeightSource): CanonicalModel {
  const w = new WeightLoader(weights, "phi");
  const d = config.hiddenSize;
  const { numHeads: H, numKVHeads: KV, headDim: dh, normEps: eps } = config;
  const dMlp = config.intermediateSize;
  const act = activationFromConfig(config.activation);
  const rotary = rotaryPerLayer(config);
  const qkNorm = config.raw.qk_layernorm === true;

  const W_E = readEmbedding(w, config, "model.embed_tokens.weight");
  const unembed = unembedding(w, config);
  unembed.b_U = w.bias("lm_head.bias", config.vocabSize, unembed.W_U !== null);
  const blocks: BlockWeights[] = [];
  for (let l = 0; l < config.numLayers; l++) {
    const p = `model.layers.${l}.`;
    const a = p + "self_attn.";
    const ln = w.layerNorm(p + "input_layernorm", d, eps);
    blocks.push(
      blockWeights({
        ln1: ln,
        attn: attentionWeights({
          nHeads: H,
          nKVHeads: KV,
          dHead: dh,
          W_Q: w.linear(a + "q_proj.weight", d, H * dh),
          b_Q: w.bias(a + "q_proj.bias", H * dh, true),
          W_K: w.linear(a + "k_proj.weight", d, KV * dh),
          b_K: w.bias(a + "k_proj.bias", KV * dh, true),
          W_V: w.linear(a + "v_proj.weight", d, KV * dh),
          b_V: w.bias(a + "v_proj.bias", KV * dh, true),
          W_O: w.linear(a + "dense.weight", H * dh, d),
          b_O: w.bias(a + "dense.bias", d, true),
          // PhiAttention's q_layernorm / k_layernorm: one LayerNorm over head_dim shared by every head.
          qNorm: qkNorm ? w.layerNorm(a + "q_layernorm", dh, eps) : null,
          kNorm: qkNorm ? w.layerNorm(a + "k_layernorm", dh, eps) : null,
          qkNormScope: "head",
          rotary: rotary[l],
          scale: Math.fround(dh ** -0.5),
        }),
        ln2: ln,
        mlp: denseMlpWeights({
          W_in: w.linear(p + "mlp.fc1.weight", d, dMlp),
          b_in: w.bias(p + "mlp.fc1.bias", dMlp, true),
          W_out: w.linear(p + "mlp.fc2.weight", dMlp, d),
          b_out: w.bias(p + "mlp.fc2.bias", d, true),
          act,
        }),
        parallel: true,
      }),
    );
  }
  const model = modelShell(config, { W_E, blocks, lnFinal: w.layerNorm("model.final_layernorm", d, eps), unembed });
  w.assertAllUsed(ROTARY_BUFFERS);
  return model;
}
