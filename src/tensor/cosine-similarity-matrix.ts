// Pairwise cosine similarity of the rows of one or two matrices: normalise every row once, then ONE
// matmul, so n rows cost one [n, d] × [d, m] product rather than n² dot products.
import * as tf from "@tensorflow/tfjs-core";
import { ArgumentError } from "../errors";
import { norm } from "./norm";

/** [n, m] cosine similarities between the rows of `a` [n, d] and `b` [m, d] (default `a`). Zero rows give 0. */
export function cosineSimilarityMatrix(a: tf.Tensor, b?: tf.Tensor): tf.Tensor2D {
  if (a.rank !== 2) throw new ArgumentError("a", `has shape [${a.shape}], not [rows, features]`, "reshape it to 2-D first (e.g. x.reshape([n, -1]))");
  if (b && (b.rank !== 2 || b.shape[1] !== a.shape[1])) {
    throw new ArgumentError("b", `has shape [${b.shape}], incompatible with a's [${a.shape}]`, "give both matrices the same number of columns");
  }
  return tf.tidy(() => {
    const an = unitRows(a);
    const bn = b ? unitRows(b) : an;
    // Rounding can push |cos| a hair above 1; clip so that acos() and colour scales behave.
    return tf.clipByValue(tf.matMul(an, bn, false, true), -1, 1) as tf.Tensor2D;
  });
}

function unitRows(x: tf.Tensor): tf.Tensor {
  // The norm's full-size temporaries are freed before the normalised copy is made.
  const n = tf.tidy(() => norm(x, { axis: 1, keepDims: true }));
  return tf.divNoNan(x, n);
}
