// Numerically stable log-softmax along any axis: x − max − log Σ exp(x − max). A fully masked row (all
// -Infinity) stays -Infinity instead of becoming NaN.
import * as tf from "@tensorflow/tfjs-core";
import { shiftedByMax } from "./shift";

/** log softmax(x) along `axis` (default the last). */
export function logSoftmax<T extends tf.Tensor>(x: T, axis = -1): T {
  return tf.tidy(() => {
    const { shifted } = shiftedByMax(x, axis);
    const sumExp = tf.sum(tf.exp(shifted), axis, true);
    const out = tf.sub(shifted, tf.log(sumExp));
    // Where the whole row is masked, sumExp is 0 and shifted is -Inf: -Inf − (−Inf) would be NaN.
    return tf.where(tf.greater(sumExp, 0), out, tf.fill(out.shape, -Infinity)) as T;
  });
}

/** log Σ exp(x) along `axis`; -Infinity for a fully masked row. */
export function logSumExp(x: tf.Tensor, axis = -1, keepDims = false): tf.Tensor {
  return tf.tidy(() => {
    const { shifted, safeMax } = shiftedByMax(x, axis);
    const lse = tf.add(tf.log(tf.sum(tf.exp(shifted), axis, true)), safeMax);
    return keepDims ? lse : tf.squeeze(lse, [axis < 0 ? axis + x.rank : axis]);
  });
}
