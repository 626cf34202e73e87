// Numerically stable softmax along one axis. Differs from tf.softmax in two ways that matter for
// interpretability work: any axis (not only the last), and rows that are entirely -Infinity (a fully
// masked row) give all-zero probabilities instead of NaN.
import * as tf from "@tensorflow/tfjs-core";
import { shiftedByMax } from "./shift";

/** softmax(x) along `axis` (default the last). Fully masked rows (all -Infinity) become zeros. */
export function softmax<T extends tf.Tensor>(x: T, axis = -1): T {
  return tf.tidy(() => {
    const { shifted } = shiftedByMax(x, axis);
    const e = tf.exp(shifted);
    return tf.divNoNan(e, tf.sum(e, axis, true)) as T;
  });
}
