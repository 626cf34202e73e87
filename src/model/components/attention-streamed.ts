// Attention one query head (and, for long sequences, one block of queries) at a time. The batched path holds the
// scores of every head at once, and softmax with its temporaries several times over: [12, 512, 512] floats are
// 12 MiB each, and a block of GPT-2 small peaked at ~200 MiB over its weights at 512 positions. Here each head's
// scores, pattern and output live in their own tidy, so the peak is a few [queries, keys] matrices of one head.
// The products and the softmax are the same per-row computations as the batched path (the same 2-D products on
// the wasm backend), so the numbers agree. Only used when no hook or cache asks for hook_attn_scores or
// hook_pattern, which need every head's matrix at once.
import * as tf from "@tensorflow/tfjs-core";

/** When the scores of a layer (batch × heads × queries × keys floats) exceed minScoreFloats, attention streams. */
export const attentionStreaming = {
  minScoreFloats: 2 ** 21,
  /** Most score entries of one head computed at once (query blocks of at most blockFloats / keys rows). */
  blockFloats: 2 ** 20,
};

export interface StreamedAttentionInputs {
  /** Queries, head-major [batch, heads, queries, dHead] (after norms and rotary). */
  q: tf.Tensor4D;
  /** Keys and values, head-major [batch, kvHeads, keys, dHead] (past and present). */
  k: tf.Tensor4D;
  v: tf.Tensor4D;
  /** Additive mask [batch, 1, queries, keys], or [batch, heads, queries, keys] with a per-head bias (ALiBi). */
  mask: tf.Tensor4D;
  scale: number;
  softcap: number | null;
  /** Per-head sink logits [heads], or null. */
  sinks: tf.Tensor1D | null;
}

/** z [batch, queries, heads, dHead]: softmax(q·kᵀ·scale (softcapped) + mask) · v for every head, one at a time. */
export function streamedAttention(x: StreamedAttentionInputs): tf.Tensor4D {
  const [batch, nHeads, pos] = x.q.shape;
  const dHead = x.v.shape[3]; // z has the values' width (narrower than q/k in multi-head latent attention)
  const nKVHeads = x.k.shape[1];
  const keys = x.k.shape[2];
  const group = nHeads / nKVHeads;
  const blockRows = Math.max(1, Math.floor(attentionStreaming.blockFloats / keys));
  const perBatch: tf.Tensor3D[] = [];
  for (let b = 0; b < batch; b++) {
    const mask = matrixOf(x.mask, b, 0); // [queries, keys]
    const heads: tf.Tensor2D[] = [];
    for (let g = 0; g < nKVHeads; g++) {
      // kᵀ made explicit once per key/value head: the wasm backend multiplies only untransposed operands fast.
      const kT = tf.tidy(() => tf.transpose(matrixOf(x.k, b, g)) as tf.Tensor2D);
      const v = matrixOf(x.v, b, g);
      for (let r = 0; r < group; r++) {
        const h = g * group + r;
        // A mask with one slice per head (ALiBi's per-head bias) is read for each head.
        heads.push(tf.tidy(() => oneHead(matrixOf(x.q, b, h), kT, v, x.mask.shape[1] === 1 ? mask : matrixOf(x.mask, b, h), h, blockRows, x)));
      }
      tf.dispose([kT, v]);
    }
    mask.dispose();
    perBatch.push(tf.tidy(() => tf.stack(heads, 1) as tf.Tensor3D)); // [queries, heads, dHead]
    tf.dispose(heads);
  }
  const z = tf.tidy(() => tf.stack(perBatch, 0) as tf.Tensor4D);
  tf.dispose(perBatch);
  return z.reshape([batch, pos, nHeads, dHead]);
}

/** One head's output [queries, dHead], a block of queries at a time (each block's scores freed before the next). */
function oneHead(q: tf.Tensor2D, kT: tf.Tensor2D, v: tf.Tensor2D, mask: tf.Tensor2D, h: number, blockRows: number, x: StreamedAttentionInputs): tf.Tensor2D {
  const pos = q.shape[0];
  if (pos <= blockRows) return headBlock(q, kT, v, mask, h, x);
  const blocks: tf.Tensor2D[] = [];
  for (let start = 0; start < pos; start += blockRows) {
    const rows = Math.min(blockRows, pos - start);
    blocks.push(tf.tidy(() => headBlock(rowsOf(q, start, rows), kT, v, rowsOf(mask, start, rows), h, x)));
  }
  const z = tf.concat(blocks, 0) as tf.Tensor2D;
  tf.dispose(blocks);
  return z;
}

/** The reference's order: scores · scale → softcap → + mask → softmax (over [keys, sink], sink dropped) → · v. */
function headBlock(q: tf.Tensor2D, kT: tf.Tensor2D, v: tf.Tensor2D, mask: tf.Tensor2D, h: number, x: StreamedAttentionInputs): tf.Tensor2D {
  const keys = kT.shape[1];
  let scores: tf.Tensor = tf.mul(tf.matMul(q, kT), x.scale);
  if (x.softcap !== null) scores = tf.mul(tf.tanh(tf.div(scores, x.softcap)), x.softcap);
  scores = tf.add(scores, mask);
  let pattern: tf.Tensor;
  if (x.sinks) {
    const sink = tf.broadcastTo(tf.reshape(tf.slice(x.sinks, [h], [1]), [1, 1]), [scores.shape[0], 1]);
    const joined = tf.concat([scores, sink], 1);
    pattern = tf.slice(tf.softmax(tf.sub(joined, tf.max(joined, 1, true))), [0, 0], [-1, keys]);
  } else {
    pattern = tf.softmax(scores);
  }
  return tf.matMul(pattern, v) as tf.Tensor2D;
}

/** The [rows, cols] matrix x[i, j] of a 4-D tensor [I, J, rows, cols] (a contiguous block: one copy of it). */
function matrixOf(x: tf.Tensor4D, i: number, j: number): tf.Tensor2D {
  const [I, J, rows, cols] = x.shape;
  if (I === 1 && J === 1) return tf.reshape(x, [rows, cols]);
  return tf.tidy(() => tf.reshape(tf.slice(x, [i, j, 0, 0], [1, 1, rows, cols]), [rows, cols]));
}

function rowsOf(x: tf.Tensor2D, start: number, rows: number): tf.Tensor2D {
  return tf.slice(x, [start, 0], [rows, x.shape[1]]);
}
