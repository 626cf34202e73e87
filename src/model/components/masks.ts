// Additive attention masks, as transformers' masking_utils builds them for eager attention: 0 where a query may
// attend to a key, the float32 minimum where it may not. Indices are positions in the key/value sequence (the
// cache's past followed by this run's tokens), not position ids, so left padding shifts nothing.
import * as tf from "@tensorflow/tfjs-core";

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
