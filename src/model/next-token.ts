// The next token of each row from the last position's logits [batch, 1, vocab], reading back as little as the
// choice needs. Greedy decoding reads each row's top two (the id, and the top-2 margin generate reports), found
// on the device; a row whose top two are equal reads its whole row so that the tie goes to the first maximum, as
// torch.argmax does. Sampling needs the whole distribution and reads every row.
import * as tf from "@tensorflow/tfjs-core";
import { argmax, sampleToken, topTwo, type SamplingOptions } from "./sampling";

export interface NextTokens {
  /** Per row the chosen id, or null for a row that was skipped (finished rows, when sampling). */
  ids: (number | null)[];
  /** Per row the largest minus the second-largest logit. */
  margins: number[];
}

/** Chooses each row's next token; rows with skip[b] set draw no random number. Disposes nothing it did not make. */
export async function nextTokens(logits: tf.Tensor, opts: SamplingOptions, random: () => number, skip: readonly boolean[]): Promise<NextTokens> {
  const vocab = logits.shape[logits.rank - 1];
  const batch = logits.size / vocab;
  if ((opts.temperature ?? 0) === 0 && vocab >= 2) return greedy(logits, batch, vocab);
  const rows = (await logits.data()) as Float32Array;
  const ids: (number | null)[] = [];
  const margins: number[] = [];
  for (let b = 0; b < batch; b++) {
    const row = rows.subarray(b * vocab, (b + 1) * vocab);
    const [first, second] = topTwo(row);
    margins.push(first - second);
    ids.push(skip[b] ? null : sampleToken(row, opts, random));
  }
  return { ids, margins };
}

async function greedy(logits: tf.Tensor, batch: number, vocab: number): Promise<NextTokens> {
  const flat = tf.reshape(logits, [batch, vocab]);
  const top = tf.topk(flat, 2);
  try {
    const [values, indices] = (await Promise.all([top.values.data(), top.indices.data()])) as [Float32Array, Int32Array];
    const ids: number[] = [];
    const margins: number[] = [];
    for (let b = 0; b < batch; b++) {
      const [first, second] = [values[2 * b], values[2 * b + 1]];
      margins.push(first - second);
      if (first !== second) {
        ids.push(indices[2 * b]);
        continue;
      }
      const rowTensor = tf.slice(flat, [b, 0], [1, vocab]);
      try {
        ids.push(argmax((await rowTensor.data()) as Float32Array));
      } finally {
        rowTensor.dispose();
      }
    }
    return { ids, margins };
  } finally {
    tf.dispose([flat, top.values, top.indices]);
  }
}
