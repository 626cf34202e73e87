// GPT-J: parallel blocks (attention and MLP both read ln_1's output; resid_post = resid_pre + attn_out + mlp_out),
// rotary on the first rotary_dim features of each head in the interleaved style (rotate_every_two: pairs
// (2i, 2i+1)), q/k/v/out projections without biases, an ungated MLP with biases, and an lm_head with a bias.
import type { ModelConfig } from "../../io/config";
import type { WeightSource } from "../../io/weight-source";
import { ConfigError } from "../../errors";
import { activationFromConfig } from "../components/activations";
import { defaultInvFreq } from "../components/rotary";
import type { BlockWeights, CanonicalModel, RotarySettings } from "../canonical";
import { attentionWeights, blockWeights, denseMlpWeights, modelShell, readEmbedding, unembedding } from "./canonical-parts";
import { WeightLoader } from "./weight-loader";

export function convertGptj(config: ModelConfig, weights: WeightSource): CanonicalModel {
  const w = new WeightLoader(weights, "gptj");
  const d = config.hiddenSize;
  const { numHeads: H, normEps: eps } = config;
  const dh = d / H;
  const dMlp = config.intermediateSize;
  const act = activationFromConfig(config.activation, "activation_function");
  const rotaryDim = config.raw.rotary_dim === null || config.raw.rotary_dim === undefined ? dh : config.raw.rotary_dim;
  if (typeof rotaryDim !== "number" || !Number.isInteger(rotaryDim) || rotaryDim <= 0 || rotaryDim > dh || rotaryDim % 2 !== 0) {
    throw new ConfigError(config.file, "rotary_dim", `is ${JSON.stringify(rotaryDim)}`, `set an even number of features ≤ head size ${dh}`);
  }
  // create_sinusoidal_positions: base 10000 over rotary_dim.
  const rotary: RotarySettings = { rotaryDim, invFreq: defaultInvFreq(10000, rotaryDim), attentionScaling: 1, style: "interleaved" };

  const W_E = readEmbedding(w, config, "transformer.wte.weight");
  const unembed = unembedding(w, config);
  unembed.b_U = w.bias("lm_head.bias", config.vocabSize, unembed.W_U !== null);
  const blocks: BlockWeights[] = [];
  for (let l = 0; l < config.numLayers; l++) {
    const p = `transformer.h.${l}.`;
    const ln = w.layerNorm(p + "ln_1", d, eps);
    blocks.push(
      blockWeights({
        ln1: ln,
        attn: attentionWeights({
          nHeads: H,
          nKVHeads: H,
          dHead: dh,
          W_Q: w.linear(p + "attn.q_proj.weight", d, d),
          W_K: w.linear(p + "attn.k_proj.weight", d, d),
          W_V: w.linear(p + "attn.v_proj.weight", d, d),
          W_O: w.linear(p + "attn.out_proj.weight", d, d),
          rotary,
          scale: Math.fround(1 / Math.sqrt(dh)),
        }),
        ln2: ln,
        mlp: denseMlpWeights({
          W_in: w.linear(p + "mlp.fc_in.weight", d, dMlp),
          b_in: w.bias(p + "mlp.fc_in.bias", dMlp, true),
          W_out: w.linear(p + "mlp.fc_out.weight", dMlp, d),
          b_out: w.bias(p + "mlp.fc_out.bias", d, true),
          act,
        }),
        parallel: true,
      }),
    );
  }
  const model = modelShell(config, { W_E, blocks, lnFinal: w.layerNorm("transformer.ln_f", d, eps), unembed });
  // attn.bias / attn.masked_bias: causal-mask buffers of older checkpoints.
  w.assertAllUsed([/\.attn\.(masked_)?bias$/, /\.embed_positions$/]);
  return model;
}
