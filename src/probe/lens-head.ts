// The model's final norm and unembedding in the form the lens reduction takes. A tied unembedding is the
// embedding matrix itself, read as [vocab, d_model], so no transposed copy of it is ever made.
import * as tf from "@tensorflow/tfjs-core";
import type { Unembedding } from "../tensor/unembedding";
import type { ProbeModel } from "./types";

export interface LensHead {
  finalNorm: (rows: tf.Tensor2D) => tf.Tensor;
  unembedding: Unembedding;
}

export function lensHeadOf(model: Pick<ProbeModel, "weights" | "applyFinalNorm">): LensHead {
  const { W_U, b_U, softcap } = model.weights.unembed;
  const unembedding: Unembedding = W_U
    ? { weight: W_U, layout: "d_vocab", bias: b_U, softcap }
    : { weight: model.weights.embed.W_E, layout: "vocab_d", bias: b_U, softcap };
  // Granite divides its logits (unembed.divisor): dividing the normalised rows instead is the same linear map
  // (its converter never sets a b_U, which would need dividing too), so the lens needs no scaled copy of W_U.
  const divisor = model.weights.unembed.divisor;
  if (divisor && b_U) throw new Error("an unembedding with both a bias and a logit divisor is not supported by the lens");
  const finalNorm = divisor ? (rows: tf.Tensor2D) => tf.div(model.applyFinalNorm(rows), divisor) : (rows: tf.Tensor2D) => model.applyFinalNorm(rows);
  return { finalNorm, unembedding };
}
