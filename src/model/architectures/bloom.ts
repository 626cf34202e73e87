// BLOOM: no rotary or learned positions but ALiBi (each head adds slope · key position to its scores,
// components/alibi.ts); a LayerNorm on the word embeddings before the first block (word_embeddings_layernorm,
// canonical embed.norm); a fused self_attention.query_key_value laid out per head as [q | k | v] (as GPT-NeoX);
// pre-LN blocks with biases everywhere, a GELU (tanh) MLP, and tied embeddings. Checkpoints name tensors with or
// without the "transformer." prefix.
import type { ModelConfig } from "../../io/config";
import type { WeightSource } from "../../io/weight-source";
import { ConfigError } from "../../errors";
import { alibiSlopes } from "../components/alibi";
import type { BlockWeights, CanonicalModel } from "../canonical";
import { attentionWeights, blockWeights, denseMlpWeights, modelShell, readEmbedding, unembedding } from "./canonical-parts";
import { splitPerHeadQkv } from "./gpt_neox";
import { WeightLoader } from "./weight-loader";

export function convertBloom(config: ModelConfig, weights: WeightSource): CanonicalModel {
  if (config.raw.apply_residual_connection_post_layernorm === true) {
    throw new ConfigError(config.file, "apply_residual_connection_post_layernorm", "is true, a BLOOM variant lmprobe does not support", "use a checkpoint with it false (every released BLOOM)");
  }
  const w = new WeightLoader(weights, "bloom");
  const prefix = weights.has("transformer.word_embeddings.weight") ? "transformer." : "";
  const d = config.hiddenSize;
  const { numHeads: H, normEps: eps } = config;
  const dh = d / H;
  const dMlp = 4 * d; // BloomMLP is always 4 × hidden_size
  const slopes = alibiSlopes(H);

  const W_E = readEmbedding(w, config, prefix + "word_embeddings.weight");
  const unembed = unembedding(w, config);
  const blocks: BlockWeights[] = [];
  for (let l = 0; l < config.numLayers; l++) {
    const p = `${prefix}h.${l}.`;
    blocks.push(
      blockWeights({
        ln1: w.layerNorm(p + "input_layernorm", d, eps),
        attn: attentionWeights({
          nHeads: H,
          nKVHeads: H,
          dHead: dh,
          ...splitPerHeadQkv(w, p, H, dh, true, "self_attention.query_key_value"),
          W_O: w.linear(p + "self_attention.dense.weight", d, d),
          b_O: w.bias(p + "self_attention.dense.bias", d, true),
          scale: Math.fround(1 / Math.sqrt(dh)),
          alibiSlopes: slopes,
        }),
        ln2: w.layerNorm(p + "post_attention_layernorm", d, eps),
        mlp: denseMlpWeights({
          W_in: w.linear(p + "mlp.dense_h_to_4h.weight", d, dMlp),
          b_in: w.bias(p + "mlp.dense_h_to_4h.bias", dMlp, true),
          W_out: w.linear(p + "mlp.dense_4h_to_h.weight", dMlp, d),
          b_out: w.bias(p + "mlp.dense_4h_to_h.bias", d, true),
          act: "gelu_tanh", // bloom_gelu_forward: the tanh approximation
        }),
      }),
    );
  }
  const model = modelShell(config, { W_E, blocks, lnFinal: w.layerNorm(prefix + "ln_f", d, eps), unembed });
  model.embed.norm = w.layerNorm(prefix + "word_embeddings_layernorm", d, eps);
  w.assertAllUsed();
  return model;
}
