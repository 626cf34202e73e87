// Float64 reference of the lens reduction, for the tensor/ tests: final RMS norm, unembedding (with bias
// and softcap), then the full softmax over the vocabulary.
import { entropy64, logSoftmax64, logSumExp64 } from "./reference";

export interface LensCase {
  rows: number[][]; // [n, d]
  normWeight: number[] | null; // RMS norm scale, or null for no norm
  weight: number[][]; // [V, d]
  bias: number[] | null;
  softcap: number | null;
}

export interface LensRow {
  logits: number[];
  logprobs: number[];
  lse: number;
  entropy: number;
  top: number[]; // ids by descending logit, ties by id
  rank: (id: number) => number;
}

const f32 = Math.fround;

export function lensReference64(c: LensCase): LensRow[] {
  return c.rows.map((row) => {
    let x = row.map(f32);
    if (c.normWeight) {
      const rms = Math.sqrt(x.reduce((s, v) => s + v * v, 0) / x.length + 1e-6);
      x = x.map((v, i) => (v / rms) * f32(c.normWeight![i]));
    }
    let logits = c.weight.map((w, j) => w.reduce((s, wi, i) => s + f32(wi) * x[i], 0) + (c.bias ? f32(c.bias[j]) : 0));
    if (c.softcap) logits = logits.map((v) => c.softcap! * Math.tanh(v / c.softcap!));
    const order = logits.map((v, i) => [v, i]).sort((a, b) => b[0] - a[0] || a[1] - b[1]).map(([, i]) => i);
    return {
      logits,
      logprobs: logSoftmax64(logits),
      lse: logSumExp64(logits),
      entropy: entropy64(logits),
      top: order,
      rank: (id: number) => 1 + logits.filter((v, j) => j !== id && v > logits[id]).length,
    };
  });
}
