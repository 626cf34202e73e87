// Top-k along the last axis with argument checks and a defined order: values descending, ties between
// finite values broken by the lower index (ties between -Infinity entries come in the backend's order).
import * as tf from "@tensorflow/tfjs-core";
import { ArgumentError } from "../errors";

/** The k largest values along the last axis and their indices. */
export interface TopK {
  values: tf.Tensor;
  /** int32 indices into the last axis. */
  indices: tf.Tensor;
}

/** The k largest entries of each row of `x` (last axis), sorted descending. */
export function topK(x: tf.Tensor, k: number): TopK {
  const n = x.shape[x.rank - 1] ?? 0;
  if (x.rank === 0) throw new ArgumentError("x", "is a scalar", "pass a tensor of rank ≥ 1");
  if (!Number.isInteger(k) || k < 1 || k > n) {
    throw new ArgumentError("k", `is ${k}, but the last axis has ${n} entries`, `use an integer in [1, ${n}]`);
  }
  const { values, indices } = tf.topk(x, k, true);
  return { values, indices };
}
