// How the lens reduction reaches the unembedding: the matrix in either orientation (models with tied
// embeddings keep it as [vocab, d_model]), an optional bias and Gemma 2's final logit softcap. Kept
// separate from the model so that the reduction can be tested on any matrix.
import * as tf from "@tensorflow/tfjs-core";
import { isPacked, weightColumnRange, weightColumnsAsRows, weightGather, weightMatMul, weightMatMulTransposed, weightRowRange, type Weight2D } from "../backend/packed-weight";
import { ArgumentError } from "../errors";

/** A model's unembedding matrix in either layout, with its bias and softcap. */
export interface Unembedding {
  /** [d_model, vocab] when layout is "d_vocab" (TransformerLens's W_U), [vocab, d_model] when "vocab_d" (HF lm_head / tied embedding). */
  weight: Weight2D;
  layout: "d_vocab" | "vocab_d";
  /** [vocab] bias added after the product (b_U), if the model has one. */
  bias?: tf.Tensor1D | null;
  /** Final logit softcap c: logits ← c · tanh(logits / c) (Gemma 2). */
  softcap?: number | null;
}

export function vocabSize(u: Unembedding): number {
  return u.layout === "d_vocab" ? u.weight.shape[1] : u.weight.shape[0];
}

export function modelWidth(u: Unembedding): number {
  return u.layout === "d_vocab" ? u.weight.shape[0] : u.weight.shape[1];
}

export function checkUnembedding(u: Unembedding, dModel: number): void {
  if (!u || !u.weight || u.weight.rank !== 2) {
    throw new ArgumentError("unembedding.weight", "is not a 2-D tensor", "pass the model's unembedding matrix (W_U or lm_head)");
  }
  if (u.layout !== "d_vocab" && u.layout !== "vocab_d") {
    throw new ArgumentError("unembedding.layout", `is ${JSON.stringify(u.layout)}`, 'use "d_vocab" for [d_model, vocab] or "vocab_d" for [vocab, d_model]');
  }
  if (modelWidth(u) !== dModel) {
    throw new ArgumentError("unembedding.weight", `has shape [${u.weight.shape}] (layout ${u.layout}) but the residual rows have width ${dModel}`, "check the layout and that the residual comes from this model");
  }
  if (u.bias && (u.bias.rank !== 1 || u.bias.shape[0] !== vocabSize(u))) {
    throw new ArgumentError("unembedding.bias", `has shape [${u.bias.shape}], not [${vocabSize(u)}]`);
  }
  if (u.softcap != null && !(u.softcap > 0)) {
    throw new ArgumentError("unembedding.softcap", `is ${u.softcap}`, "use a positive number, or null for no softcap");
  }
}

/**
 * Logits of `rows` [n, d] for the vocabulary ids [start, end): [n, end − start]. Call inside tf.tidy.
 * The vocabulary chunk of the matrix is taken with gather, not slice: the wasm backend's slice reads the whole
 * input out of its heap (the full unembedding, 150 MB for GPT-2) on every call. A [vocab, d] chunk is then
 * multiplied as chunk · rowsᵀ (a plain product; a transposed operand is several times slower on wasm), so
 * `rowsT` [d, n] is passed in, computed once per row chunk.
 */
export function unembedSlice(rows: tf.Tensor2D, rowsT: tf.Tensor2D | null, u: Unembedding, start: number, end: number): tf.Tensor2D {
  if (isPacked(u.weight)) {
    // A vocabulary chunk of a packed matrix is a view of its stored rows: no gather, no float32 copy.
    let packedLogits: tf.Tensor2D =
      u.layout === "vocab_d" ? weightMatMulTransposed(rows, weightRowRange(u.weight, start, end)) : weightMatMul(rows, weightColumnRange(u.weight, start, end));
    if (u.bias) packedLogits = tf.add(packedLogits, tf.slice(u.bias, [start], [end - start]));
    return applySoftcap(packedLogits, u.softcap);
  }
  const weight = u.weight;
  const ids = tf.range(start, end, 1, "int32");
  let logits: tf.Tensor =
    u.layout === "vocab_d"
      ? tf.transpose(tf.matMul(tf.gather(weight, ids, 0), rowsT ?? tf.transpose(rows)))
      : tf.matMul(rows, tf.gather(weight, ids, 1));
  if (u.bias) logits = tf.add(logits, tf.gather(u.bias, ids));
  return applySoftcap(logits as tf.Tensor2D, u.softcap);
}

/** Logits of `rows` [n, d] for per-row token ids `ids` [n, t] (int32): [n, t]. Call inside tf.tidy. */
export function unembedIds(rows: tf.Tensor2D, u: Unembedding, ids: tf.Tensor2D): tf.Tensor2D {
  const [n, t] = ids.shape;
  const flat = tf.reshape(ids, [n * t]);
  // Columns of W_U (rows of the [vocab, d] layout) for every requested id: [n·t, d].
  const w = u.layout === "vocab_d" ? weightGather(u.weight, flat) : weightColumnsAsRows(u.weight, flat as tf.Tensor1D);
  let logits = tf.sum(tf.mul(tf.reshape(w, [n, t, -1]), tf.expandDims(rows, 1)), 2) as tf.Tensor2D;
  if (u.bias) logits = tf.add(logits, tf.reshape(tf.gather(u.bias, flat), [n, t]));
  return applySoftcap(logits, u.softcap);
}

function applySoftcap<T extends tf.Tensor>(logits: T, softcap: number | null | undefined): T {
  if (softcap == null) return logits;
  return tf.mul(tf.tanh(tf.div(logits, softcap)), softcap) as T;
}
