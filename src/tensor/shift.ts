// Shared step of softmax, logSoftmax, entropy and the lens reduction: subtract each row's maximum so that
// exp() never overflows, without turning a fully masked row (max = -Infinity) into NaN (-Inf - -Inf).
import * as tf from "@tensorflow/tfjs-core";
import { ArgumentError } from "../errors";

/** Resolves a possibly negative axis against a rank, throwing ArgumentError when out of range. */
export function resolveAxis(axis: number, rank: number, argument = "axis"): number {
  if (!Number.isInteger(axis) || axis < -rank || axis >= rank) {
    throw new ArgumentError(argument, `is ${axis}, outside the tensor's ${rank} axes`, `use an integer in [${-rank}, ${rank - 1}]`);
  }
  return axis < 0 ? axis + rank : axis;
}

/**
 * x − max(x) along `axis` (keepdims), with the max replaced by 0 where it is not finite, and that safe max.
 * Must be called inside tf.tidy (returns intermediate tensors).
 */
export function shiftedByMax(x: tf.Tensor, axis: number): { shifted: tf.Tensor; safeMax: tf.Tensor } {
  const ax = resolveAxis(axis, x.rank);
  const m = tf.max(x, ax, true);
  const safeMax = tf.where(tf.isFinite(m), m, tf.zerosLike(m));
  return { shifted: tf.sub(x, safeMax), safeMax };
}
