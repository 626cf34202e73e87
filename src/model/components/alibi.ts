// ALiBi (attention with linear biases, BLOOM): each head h adds slope_h · (key position) to its scores. As in
// transformers' build_alibi_tensor the bias depends on the key's position only (the query's own position would
// add the same amount to a whole row, which softmax ignores), and positions count real tokens only
// ((cumsum(mask) − 1) · mask), so left padding shifts nothing.
import * as tf from "@tensorflow/tfjs-core";

const f32 = Math.fround;

/**
 * The slopes of `nHeads` heads, in float32 as build_alibi_tensor computes them: for the largest power of two
 * n ≤ nHeads, base^1 … base^n with base = 2^(−8/n); the remaining heads take every other power of the base of 2n.
 */
export function alibiSlopes(nHeads: number): Float32Array {
  const closest = 2 ** Math.floor(Math.log2(nHeads));
  const base = f32(2 ** -(2 ** -(Math.log2(closest) - 3)));
  const slopes: number[] = [];
  for (let i = 1; i <= closest; i++) slopes.push(f32(Math.pow(base, i)));
  if (closest !== nHeads) {
    const extraBase = f32(2 ** -(2 ** -(Math.log2(2 * closest) - 3)));
    const remaining = Math.min(closest, nHeads - closest);
    for (let i = 1; i < 1 + 2 * remaining; i += 2) slopes.push(f32(Math.pow(extraBase, i)));
  }
  return Float32Array.from(slopes);
}

/**
 * mask [batch, 1, queries, keys] plus each head's bias → [batch, heads, queries, keys]. `keyValid[b][j]` is 0 for
 * padding keys (which the mask already hides). Returns a new tensor; the caller's tidy owns it.
 */
export function withAlibi(mask: tf.Tensor4D, slopes: Float32Array, keyValid: readonly Uint8Array[]): tf.Tensor4D {
  const batch = keyValid.length;
  const keys = keyValid[0].length;
  const heads = slopes.length;
  const bias = new Float32Array(batch * heads * keys);
  for (let b = 0; b < batch; b++) {
    let seen = 0;
    for (let j = 0; j < keys; j++) {
      const valid = keyValid[b][j] === 1;
      if (valid) seen++;
      const position = valid ? seen - 1 : 0;
      for (let h = 0; h < heads; h++) bias[(b * heads + h) * keys + j] = f32(slopes[h] * position);
    }
  }
  return tf.tidy(() => tf.add(mask, tf.tensor4d(bias, [batch, heads, 1, keys])) as tf.Tensor4D);
}
