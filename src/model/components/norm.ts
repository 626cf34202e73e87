// RMSNorm and LayerNorm over the last axis, in float32 as the reference computes them.
import * as tf from "@tensorflow/tfjs-core";
import type { NormWeights } from "../canonical";
import { fusedNorm } from "../../backend/capabilities";

export function applyNorm(x: tf.Tensor, norm: NormWeights): tf.Tensor {
  // webgpu: the same formulas in one pass (backend/kernels/row-programs.ts) instead of 6–9 dispatches.
  const fused = fusedNorm(x, norm);
  if (fused) return fused;
  return tf.tidy(() => {
    const axis = x.rank - 1;
    let normed: tf.Tensor;
    if (norm.kind === "rms") {
      const meanSquare = tf.mean(tf.square(x), axis, true);
      normed = tf.mul(x, tf.rsqrt(tf.add(meanSquare, norm.eps)));
    } else {
      const mean = tf.mean(x, axis, true);
      const centred = tf.sub(x, mean);
      const variance = tf.mean(tf.square(centred), axis, true);
      normed = tf.mul(centred, tf.rsqrt(tf.add(variance, norm.eps)));
    }
    if (norm.weight) {
      // Gemma scales by (1 + w): add the offset to the weight first, as the reference does.
      const scale = norm.weightOffset !== 0 ? tf.add(norm.weight, norm.weightOffset) : norm.weight;
      normed = tf.mul(normed, scale);
    }
    if (norm.bias) normed = tf.add(normed, norm.bias);
    return normed;
  });
}
