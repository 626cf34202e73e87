// The model's final norm and unembedding in the form the lens reduction takes. A tied unembedding is the
// embedding matrix itself, read as [vocab, d_model], so no transposed copy of it is ever made.
import type * as tf from "@tensorflow/tfjs-core";
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
  return { finalNorm: (rows) => model.applyFinalNorm(rows), unembedding };
}
