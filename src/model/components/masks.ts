// Additive attention masks, as transformers' masking_utils builds them for eager attention: 0 where a query may
// attend to a key, the float32 minimum where it may not. Indices are positions in the key/value sequence (the
// cache's past followed by this run's tokens), not position ids, so left padding shifts nothing.
import * as tf from "@tensorflow/tfjs-core";
import { fusedAttentionMask } from "../../backend/capabilities";

export const MASKED = -3.4028234663852886e38; // torch.finfo(torch.float32).min

/**
 * Mask [batch, 1, queries, keys] for queries at key indices past..past+queries−1. `keyValid[b][j]` is 0 for
 * padding keys. A key is visible when j ≤ query, (window === null or query − j < window) and keyValid.
 */
export function attentionMask(keyValid: readonly Uint8Array[], pastLength: number, queries: number, window: number | null): tf.Tensor4D {
  const batch = keyValid.length;
  const keys = keyValid[0].length;
  const data = new Float32Array(batch * queries * keys);
  for (let b = 0; b < batch; b++) {
    const valid = keyValid[b];
    for (let i = 0; i < queries; i++) {
      const q = pastLength + i;
      const row = (b * queries + i) * keys;
      for (let j = 0; j < keys; j++) {
        const visible = j <= q && (window === null || j > q - window) && valid[j] === 1;
        if (!visible) data[row + j] = MASKED;
      }
    }
  }
  return tf.tensor4d(data, [batch, 1, queries, keys]);
}

/**
 * The same mask as attentionMask, built on the device instead of by a loop on the host: on webgpu one dispatch
 * (fusedAttentionMask) from the [batch, keys] validity flags, replacing a [batch, queries, keys] host loop and its
 * upload (4 MiB at 1024 tokens) on every forward. Elsewhere, or with the fused kernels off, a few tensor ops. Every
 * element is exactly 0 or MASKED either way.
 *
 * Not the tensor ops on webgpu: tfjs-webgpu runs an op on the CPU when all its inputs are host tensors of under
 * 1000 elements (WEBGPU_CPU_HANDOFF_SIZE_THRESHOLD), as the two index ranges are for prompts under 1000 tokens,
 * and its CPU subtraction broadcasts them to [queries, keys] with index arithmetic per element: 1.4 ms of a
 * GPT-2-small forward at 128 tokens on an H100's host, growing with the square of the prompt.
 */
export function attentionMaskOnDevice(keyValid: readonly Uint8Array[], pastLength: number, queries: number, window: number | null): tf.Tensor4D {
  const batch = keyValid.length;
  const keys = keyValid[0].length;
  const flags = tf.tensor2d(Int32Array.from(keyValid.flatMap((row) => Array.from(row))), [batch, keys], "int32");
  const fused = fusedAttentionMask(flags, pastLength, queries, window);
  flags.dispose();
  if (fused) return fused;
  return tf.tidy(() => {
    const queryIndex = tf.reshape(tf.range(pastLength, pastLength + queries, 1, "int32"), [queries, 1]);
    const keyIndex = tf.reshape(tf.range(0, keys, 1, "int32"), [1, keys]);
    const behind = tf.sub(queryIndex, keyIndex); // query − key index, [queries, keys]
    let visible: tf.Tensor = tf.greaterEqual(behind, 0);
    if (window !== null) visible = tf.logicalAnd(visible, tf.less(behind, window));
    visible = tf.reshape(visible, [1, 1, queries, keys]);
    const padded = keyValid.some((row) => row.some((v) => v !== 1));
    if (padded) {
      const valid = tf.tensor4d(Int32Array.from(keyValid.flatMap((row) => Array.from(row))), [batch, 1, 1, keys], "int32");
      visible = tf.logicalAnd(visible, tf.cast(valid, "bool"));
    }
    const shape: [number, number, number, number] = [batch, 1, queries, keys];
    return tf.where(tf.broadcastTo(visible, shape), tf.zeros(shape), tf.fill(shape, MASKED)) as tf.Tensor4D;
  });
}
