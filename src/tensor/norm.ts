// L2 norm along any axis (or axes). Scales by the largest magnitude first so that squaring values of 1e20
// does not overflow float32 (and tiny values do not underflow to 0).
import * as tf from "@tensorflow/tfjs-core";
import { resolveAxis } from "./shift";

/** Options of norm(): the axes reduced and whether they are kept. */
export interface NormOptions {
  /** Axis or axes to reduce; default the last. `null` reduces every axis. */
  axis?: number | number[] | null;
  keepDims?: boolean;
}

/** ‖x‖₂ along `axis`. */
export function norm(x: tf.Tensor, options: NormOptions = {}): tf.Tensor {
  const { keepDims = false } = options;
  const axes = options.axis === null ? [...Array(x.rank).keys()] : [options.axis ?? -1].flat().map((a) => resolveAxis(a, x.rank));
  return tf.tidy(() => {
    // Nested scopes free each full-size temporary (|x|, x / scale, its square) as soon as it is reduced.
    const safeScale = tf.tidy(() => {
      const scale = tf.max(tf.abs(x), axes, true);
      return tf.where(tf.greater(scale, 0), scale, tf.onesLike(scale));
    });
    const sumSquares = tf.tidy(() => tf.sum(tf.square(tf.div(x, safeScale)), axes, true));
    const n = tf.mul(tf.sqrt(sumSquares), safeScale);
    return keepDims ? n : tf.squeeze(n, axes);
  });
}
