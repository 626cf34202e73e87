// Small hand-made tables in the shapes the probes return, for the display tests.
import * as aq from "arquero";

export const INPUT_TOKENS = ["The", " capital", " of", " France", " is"];

/** A logit-lens table: top-3 per (layer, position) for 3 layers × 5 positions; " Paris" wins late at the end. */
export function lensTable() {
  const rows: Record<string, unknown>[] = [];
  for (let layer = 0; layer < 3; layer++) {
    for (let position = 0; position < INPUT_TOKENS.length; position++) {
      const last = position === INPUT_TOKENS.length - 1;
      const top = last && layer === 2 ? " Paris" : last && layer === 1 ? " the" : `tok${layer}${position}`;
      const probs = last && layer === 2 ? [0.81, 0.1, 0.02] : [0.3, 0.2, 0.1];
      const tokens = [top, " Rome", " Berlin"];
      const entropy = -probs.reduce((s, p) => s + p * Math.log(p), 0);
      for (let rank = 1; rank <= 3; rank++) {
        rows.push({ layer, position, token: tokens[rank - 1], rank, token_id: 100 + rank, prob: probs[rank - 1], logprob: Math.log(probs[rank - 1]), entropy });
      }
    }
  }
  return aq.from(rows);
}

export function similarityTable() {
  const rows: Record<string, unknown>[] = [];
  for (let a = 0; a < 4; a++) for (let b = 0; b < 4; b++) rows.push({ layer_a: a, layer_b: b, similarity: 1 - Math.abs(a - b) * 0.3 });
  return aq.from(rows);
}

export function attentionTable(tokens = INPUT_TOKENS) {
  const rows: Record<string, unknown>[] = [];
  for (let head = 0; head < 2; head++)
    for (let q = 0; q < tokens.length; q++)
      for (let k = 0; k <= q; k++) rows.push({ layer: 1, head, query: q, key: k, weight: head === 0 ? (k === q ? 1 : 0) : 1 / (q + 1) });
  return aq.from(rows);
}
