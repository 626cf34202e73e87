// OPT: learned absolute positions stored with an offset of 2 (embed_positions has max_position_embeddings + 2 rows;
// position p reads row p + 2), LayerNorm, biases everywhere, a ReLU MLP (fc1, fc2) and tied embeddings; two
// variants of the released models:
//   do_layer_norm_before (every size but 350m): pre-LN blocks and a final LayerNorm;
//   OPT-350m: post-LN blocks (resid_mid = LN(resid_pre + attn_out), resid_post = LN(resid_mid + mlp_out), the
//     canonical residualNorms), no final LayerNorm, and embeddings narrower than the model
//     (word_embed_proj_dim) with project_in / project_out. The two projections are folded into the canonical
//     matrices: W_E = embed_tokens · project_in [vocab, d_model] and W_U = project_out · embed_tokensᵀ
//     [d_model, vocab], so hook_embed holds the projected embedding.
import * as tf from "@tensorflow/tfjs-core";
import type { Weight2D } from "../../backend/packed-weight";
import type { ModelConfig } from "../../io/config";
import type { WeightSource } from "../../io/weight-source";
import { ConfigError } from "../../errors";
import { activationFromConfig } from "../components/activations";
import type { BlockWeights, CanonicalModel, NormWeights } from "../canonical";
import { attentionWeights, blockWeights, denseMlpWeights, modelShell } from "./canonical-parts";
import { WeightLoader } from "./weight-loader";

const POSITION_OFFSET = 2; // OPTLearnedPositionalEmbedding.offset

export function convertOpt(config: ModelConfig, weights: WeightSource): CanonicalModel {
  const w = new WeightLoader(weights, "opt");
  const d = config.hiddenSize;
  const { numHeads: H, normEps: eps } = config;
  const dh = d / H;
  const dMlp = config.intermediateSize;
  const bias = config.raw.enable_bias !== false;
  const preLn = config.raw.do_layer_norm_before !== false;
  if (config.raw.layer_norm_elementwise_affine === false) {
    throw new ConfigError(config.file, "layer_norm_elementwise_affine", "is false, an OPT variant lmprobe does not support", "use a checkpoint whose LayerNorms have weights");
  }
  const act = activationFromConfig(config.activation, "activation_function");
  const proj = typeof config.raw.word_embed_proj_dim === "number" ? config.raw.word_embed_proj_dim : d;
  const p0 = weights.has("model.decoder.embed_tokens.weight") ? "model.decoder." : "decoder.";

  // Embeddings (with the projections folded in) and the unembedding.
  const tokens = w.tensor(p0 + "embed_tokens.weight", [config.vocabSize, proj]) as tf.Tensor2D;
  let W_E = tokens;
  let W_U: Weight2D | null = null;
  if (proj !== d) {
    const projectIn = w.linearFloat32(p0 + "project_in.weight", proj, d);
    const projectOut = w.linearFloat32(p0 + "project_out.weight", d, proj);
    W_E = tf.matMul(tokens, projectIn) as tf.Tensor2D;
    const lmHead = config.tieWordEmbeddings ? tokens : (w.tensor("lm_head.weight", [config.vocabSize, proj]) as tf.Tensor2D);
    W_U = tf.matMul(projectOut, lmHead, false, true) as tf.Tensor2D;
    w.skip("lm_head.weight");
    tf.dispose([tokens, projectIn, projectOut, ...(lmHead !== tokens ? [lmHead] : [])]);
  } else if (!config.tieWordEmbeddings) {
    W_U = w.linear("lm_head.weight", d, config.vocabSize);
  } else {
    w.skip("lm_head.weight");
  }
  const positions = w.tensor(p0 + "embed_positions.weight", [config.maxPositions + POSITION_OFFSET, d]);
  const W_pos = positions.slice([POSITION_OFFSET, 0], [config.maxPositions, d]) as tf.Tensor2D;
  positions.dispose();

  const blocks: BlockWeights[] = [];
  for (let l = 0; l < config.numLayers; l++) {
    const p = `${p0}layers.${l}.`;
    const a = p + "self_attn.";
    const attnNorm = w.layerNorm(p + "self_attn_layer_norm", d, eps);
    const mlpNorm = w.layerNorm(p + "final_layer_norm", d, eps);
    blocks.push(
      blockWeights({
        ln1: preLn ? attnNorm : null,
        attn: attentionWeights({
          nHeads: H,
          nKVHeads: H,
          dHead: dh,
          W_Q: w.linear(a + "q_proj.weight", d, d),
          b_Q: w.bias(a + "q_proj.bias", d, bias),
          W_K: w.linear(a + "k_proj.weight", d, d),
          b_K: w.bias(a + "k_proj.bias", d, bias),
          W_V: w.linear(a + "v_proj.weight", d, d),
          b_V: w.bias(a + "v_proj.bias", d, bias),
          W_O: w.linear(a + "out_proj.weight", d, d),
          b_O: w.bias(a + "out_proj.bias", d, bias),
          scale: Math.fround(dh ** -0.5),
        }),
        ln2: preLn ? mlpNorm : null,
        mlp: denseMlpWeights({
          W_in: w.linear(p + "fc1.weight", d, dMlp),
          b_in: w.bias(p + "fc1.bias", dMlp, bias),
          W_out: w.linear(p + "fc2.weight", dMlp, d),
          b_out: w.bias(p + "fc2.bias", d, bias),
          act,
        }),
        residualNorms: preLn ? null : { attn: attnNorm, mlp: mlpNorm },
      }),
    );
  }
  // OPTDecoder keeps a final LayerNorm only in pre-LN models (and not in the legacy _remove_final_layer_norm ones).
  const lnFinal: NormWeights | null = w.has(p0 + "final_layer_norm.weight") ? w.layerNorm(p0 + "final_layer_norm", d, eps) : null;
  const model = modelShell(config, { W_E, W_pos, blocks, lnFinal, unembed: { W_U, b_U: null, softcap: null } });
  w.assertAllUsed();
  return model;
}
