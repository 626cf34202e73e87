// Selecting rows of a cached activation [batch, pos, d] for one batch entry and some positions, as [P, d].
import * as tf from "@tensorflow/tfjs-core";
import { ArgumentError } from "../errors";

/** Throws unless `batch` indexes one of the run's `sequences` sequences. */
export function checkBatch(batch: number, sequences: number): void {
  if (!Number.isInteger(batch) || batch < 0 || batch >= sequences) {
    throw new ArgumentError("batch", `is ${batch}, the run has ${sequences} sequence(s)`, `use 0 … ${sequences - 1}`);
  }
}

/** [P, d] rows of `x` [batch, pos, d] at `batch` and `positions`. A new tensor; the caller disposes it. */
export function selectRows(x: tf.Tensor, batch: number, positions: number[]): tf.Tensor2D {
  if (x.rank !== 3) throw new ArgumentError("activation", `has shape [${x.shape}], not [batch, pos, d]`);
  const [B, T, d] = x.shape;
  checkBatch(batch, B);
  return tf.tidy(() => {
    // One sequence, every position: a reshape, which shares x's values instead of copying them.
    const seq = B === 1 ? tf.reshape(x, [T, d]) : tf.reshape(tf.slice(x, [batch, 0, 0], [1, T, d]), [T, d]);
    if (positions.length === T && positions.every((p, i) => p === i)) return seq as tf.Tensor2D;
    const contiguous = positions.every((p, i) => p === positions[0] + i);
    return (contiguous ? tf.slice(seq, [positions[0], 0], [positions.length, d]) : tf.gather(seq, tf.tensor1d(positions, "int32"))) as tf.Tensor2D;
  });
}

/** The residual stream entries of the logit lens: layer 0 = embedding output, layer l + 1 = block l's output. */
export function residualHookNames(nLayers: number): string[] {
  return ["blocks.0.hook_resid_pre", ...Array.from({ length: nLayers }, (_, l) => `blocks.${l}.hook_resid_post`)];
}
