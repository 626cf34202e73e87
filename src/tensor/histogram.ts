// A histogram computed on the device: only `bins` counts and two range scalars leave it, however large the input.
// Non-finite entries (NaN, ±Infinity) are counted apart, never binned, so they cannot stretch the range.
import * as tf from "@tensorflow/tfjs-core";
import { ArgumentError } from "../errors";

/** The value range a histogram's bins cover. */
export interface HistogramRange {
  min: number;
  max: number;
}

/** Bin counts and range of a device-side histogram (tensors; the caller disposes them). */
export interface DeviceHistogram {
  /** [bins] float32 counts of finite entries; bin i covers [min + i·w, min + (i+1)·w), the last one closed. */
  counts: tf.Tensor1D;
  /** Scalars: the range the bins cover (the finite min and max of `x` unless a range was given). */
  min: tf.Scalar;
  max: tf.Scalar;
  /** Scalar: how many entries were NaN or infinite. */
  nonFinite: tf.Scalar;
}

/** The finite minimum and maximum of `x` as scalars (0, 0 when nothing is finite). New tensors. */
export function finiteRange(x: tf.Tensor): { min: tf.Scalar; max: tf.Scalar } {
  return tf.tidy(() => {
    const flat = tf.reshape(x, [-1]);
    const finite = tf.isFinite(flat);
    const anyFinite = tf.any(finite);
    const min = tf.min(tf.where(finite, flat, tf.fill(flat.shape, Infinity)));
    const max = tf.max(tf.where(finite, flat, tf.fill(flat.shape, -Infinity)));
    return { min: tf.where(anyFinite, min, tf.scalar(0)) as tf.Scalar, max: tf.where(anyFinite, max, tf.scalar(0)) as tf.Scalar };
  });
}

/** Counts of `x`'s finite entries in `bins` equal bins over `range` (default: x's finite range). New tensors. */
export function histogram(x: tf.Tensor, bins: number, range?: HistogramRange | { min: tf.Scalar; max: tf.Scalar }): DeviceHistogram {
  if (!Number.isInteger(bins) || bins < 1) throw new ArgumentError("bins", `is ${bins}`, "use a whole number of bins ≥ 1");
  if (range && typeof range.min === "number" && !((range.max as number) >= range.min)) {
    throw new ArgumentError("range", `is [${range.min}, ${range.max}]`, "give min ≤ max");
  }
  return tf.tidy(() => {
    const flat = tf.reshape(x, [-1]);
    const finite = tf.isFinite(flat);
    const own = range ? null : finiteRange(flat);
    const min = own ? own.min : typeof range!.min === "number" ? tf.scalar(range!.min as number) : (range!.min as tf.Scalar).clone();
    const max = own ? own.max : typeof range!.max === "number" ? tf.scalar(range!.max as number) : (range!.max as tf.Scalar).clone();
    // A zero-width range puts everything in the first bin rather than dividing by zero.
    const width = tf.div(tf.sub(max, min), bins);
    const safeWidth = tf.where(tf.greater(width, 0), width, tf.onesLike(width));
    const clean = tf.where(finite, flat, tf.zerosLike(flat).add(min));
    const inRange = tf.logicalAnd(finite, tf.logicalAnd(tf.greaterEqual(clean, min), tf.lessEqual(clean, max)));
    const index = tf.clipByValue(tf.floor(tf.div(tf.sub(clean, min), safeWidth)), 0, bins - 1).toInt();
    const counts = tf.bincount(index as tf.Tensor1D, tf.cast(inRange, "float32") as tf.Tensor1D, bins) as tf.Tensor1D;
    const nonFinite = tf.sub(tf.scalar(flat.size), tf.sum(tf.cast(finite, "float32"))) as tf.Scalar;
    return { counts, min: min as tf.Scalar, max: max as tf.Scalar, nonFinite };
  });
}
