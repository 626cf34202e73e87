// Granite (IBM Granite 3): Llama's layout with four multipliers, folded into the canonical weights where they
// commute with the hook points:
//   embedding_multiplier scales the embedding (embed.scale, after hook_embed);
//   attention_multiplier replaces head_dim^-½ as the score scale;
//   residual_multiplier scales each sublayer's output before it joins the residual: folded into W_O / b_O and
//     W_out / b_out, so hook_attn_out and hook_mlp_out are what is added to the residual stream;
//   logits_scaling divides the logits (unembed.divisor; the logit lens divides too).
import * as tf from "@tensorflow/tfjs-core";
import type { ModelConfig } from "../../io/config";
import type { WeightSource } from "../../io/weight-source";
import { ConfigError } from "../../errors";
import type { CanonicalModel } from "../canonical";
import { rotaryPerLayer } from "./canonical-parts";
import { assembleModel, preNormBlock, readAttention, readSwiglu } from "./llama-parts";
import { WeightLoader } from "./weight-loader";
import { float32Weight, isPacked, type Weight2D } from "../../backend/packed-weight";

export function convertGranite(config: ModelConfig, weights: WeightSource): CanonicalModel {
  const w = new WeightLoader(weights, "granite");
  const rotary = rotaryPerLayer(config);
  const bias = config.attentionBias;
  const residual = multiplier(config, "residual_multiplier");
  // A packed 16-bit weight is widened first: its product with the multiplier is kept in float32, as before.
  const scaled = <T extends Weight2D | tf.Tensor1D | null>(t: T): T => {
    if (t === null || residual === 1) return t;
    const out = tf.tidy(() => tf.mul(isPacked(t) ? float32Weight(t) : (t as tf.Tensor), residual)) as unknown as T;
    t.dispose();
    return out;
  };
  const model = assembleModel(
    w,
    config,
    (l) => {
      const attn = readAttention(w, config, l, rotary[l], { qkvBias: bias, oBias: bias, qkNorm: "none", sinks: false });
      attn.scale = Math.fround(multiplier(config, "attention_multiplier"));
      attn.W_O = scaled(attn.W_O);
      attn.b_O = scaled(attn.b_O);
      const mlp = readSwiglu(w, config, `model.layers.${l}.mlp.`, config.intermediateSize, config.mlpBias);
      mlp.W_out = scaled(mlp.W_out);
      mlp.b_out = scaled(mlp.b_out);
      return preNormBlock(w, config, l, attn, mlp);
    },
    { embedScale: multiplier(config, "embedding_multiplier") },
  );
  const divisor = multiplier(config, "logits_scaling");
  model.unembed.divisor = divisor === 1 ? null : divisor;
  return model;
}

function multiplier(config: ModelConfig, field: string): number {
  const v = config.raw[field];
  if (typeof v !== "number" || !Number.isFinite(v) || v <= 0) {
    throw new ConfigError(config.file, field, `is ${JSON.stringify(v)}, not a positive number`, `set "${field}" as in the released checkpoint`);
  }
  return v;
}
