// Products with weights stored row-per-output ([n, d], such as a tied unembedding's W_E [vocab, d_model]):
// x @ Wᵀ. tfjs-wasm runs a matmul through XNNPACK only when neither side is transposed and both are 2-D;
// a transposed operand falls back to a plain loop about ten times slower (a GPT-2-sized tied unembedding takes
// seconds). There the product is taken as (W @ xᵀ)ᵀ instead: the same dot products, on the fast path.
import * as tf from "@tensorflow/tfjs-core";

/** x [rows, d] @ Wᵀ for W [n, d] → [rows, n]. */
export function matMulTransposedWeight(x: tf.Tensor2D, W: tf.Tensor2D): tf.Tensor2D {
  if (tf.getBackend() !== "wasm") return tf.matMul(x, W, false, true);
  return tf.tidy(() => tf.transpose(tf.matMul(W, tf.transpose(x))) as tf.Tensor2D);
}
