// Two prompts side by side: how far apart their residual streams are at every layer and position (the L2 norm of
// the difference and the cosine between the two runs), and the principal components of the difference vectors at
// one layer. Prompts of different lengths are compared on the positions they share, counted from the start or
// from the end as asked.
import * as tf from "@tensorflow/tfjs-core";
import { ArgumentError } from "../errors";
import { pca } from "../tensor/pca";
import { checkLayerIndex } from "./embedding-pca";
import { residualHookNames } from "./residual-rows";
import { ColumnBuilder, type Table } from "./table";
import { tokenTextLookup } from "./token-texts";
import type { ProbeInput, ProbeModel } from "./types";

/** Alignment, PCA layer and components of compareRuns(). */
export interface CompareRunsOptions {
  /** How to pair positions when the prompts differ in length: "start" or "end" (required then). */
  align?: "start" | "end";
  /** Layer whose difference vectors get a PCA (default the last block's output; 0 = embedding output). */
  pcaLayer?: number;
  /** Principal components of the differences (default 2; 0 skips the PCA). */
  components?: number;
  prependBos?: boolean;
}

/** compareRuns()'s per-cell, per-layer and PCA tables. */
export interface CompareRunsResult {
  /** layer, position, token_a, token_b, l2, cosine, norm_a, norm_b. */
  table: Table;
  /** layer, mean_l2, mean_cosine, last_l2, last_cosine. */
  summary: Table;
  /** position, token_a, token_b, pc1, pc2, …: the differences at pcaLayer (empty with components 0 or one position). */
  differencePca: Table;
  /** component, explained_ratio. */
  differenceComponents: Table;
}

/** The residual streams of two prompts compared at every layer and position (L2 distance, cosine), with a PCA of the differences. */
export async function compareRuns(model: ProbeModel, a: ProbeInput, b: ProbeInput, options: CompareRunsOptions = {}): Promise<CompareRunsResult> {
  const L = model.config.numLayers;
  const names = residualHookNames(L);
  const pcaLayer = options.pcaLayer ?? L;
  checkLayerIndex(pcaLayer, L, "pcaLayer");
  const runA = model.run(a, { cache: names, prependBos: options.prependBos, lastPositionOnly: true });
  const held: tf.Tensor[] = [];
  try {
    const runB = model.run(b, { cache: names, prependBos: options.prependBos, lastPositionOnly: true });
    try {
      const [ta, tb] = [runA.tokens[0], runB.tokens[0]];
      if (ta.length !== tb.length && options.align === undefined) {
        throw new ArgumentError("align", `is not given, and the prompts have ${ta.length} and ${tb.length} tokens`, 'pass align: "start" or "end" to compare the positions they share');
      }
      if (options.align !== undefined && options.align !== "start" && options.align !== "end") {
        throw new ArgumentError("align", `is ${JSON.stringify(options.align)}`, 'use "start" or "end"');
      }
      const P = Math.min(ta.length, tb.length);
      const startA = options.align === "end" ? ta.length - P : 0;
      const startB = options.align === "end" ? tb.length - P : 0;
      const rows = (t: tf.Tensor, start: number) => tf.squeeze(tf.slice(t, [0, start, 0], [1, P, -1]), [0]) as tf.Tensor2D;
      const perLayer = names.map((n) =>
        tf.tidy(() => {
          const xa = rows(runA.cache.get(n), startA);
          const xb = rows(runB.cache.get(n), startB);
          const na = tf.norm(xa, "euclidean", 1);
          const nb = tf.norm(xb, "euclidean", 1);
          const cos = tf.divNoNan(tf.sum(tf.mul(xa, xb), 1), tf.mul(na, nb));
          return tf.stack([tf.norm(tf.sub(xa, xb), "euclidean", 1), cos, na, nb]); // [4, P]
        }),
      );
      held.push(...perLayer);
      const textA = tokenTextLookup(model, ta);
      const textB = tokenTextLookup(model, tb);
      const table = new ColumnBuilder(["layer", "position", "token_a", "token_b", "l2", "cosine", "norm_a", "norm_b"] as const);
      const summary = new ColumnBuilder(["layer", "mean_l2", "mean_cosine", "last_l2", "last_cosine"] as const);
      for (let layer = 0; layer <= L; layer++) {
        const v = await perLayer[layer].data();
        let sumL2 = 0;
        let sumCos = 0;
        for (let i = 0; i < P; i++) {
          table.push({ layer, position: i, token_a: textA(ta[startA + i]), token_b: textB(tb[startB + i]), l2: v[i], cosine: v[P + i], norm_a: v[2 * P + i], norm_b: v[3 * P + i] });
          sumL2 += v[i];
          sumCos += v[P + i];
        }
        summary.push({ layer, mean_l2: sumL2 / P, mean_cosine: sumCos / P, last_l2: v[P - 1], last_cosine: v[2 * P - 1] });
      }
      const k = options.components ?? 2;
      const pcs = Array.from({ length: k }, (_, i) => `pc${i + 1}`);
      const differencePca = new ColumnBuilder(["position", "token_a", "token_b", ...pcs]);
      const differenceComponents = new ColumnBuilder(["component", "explained_ratio"] as const);
      if (k > 0 && P > k) {
        const diff = tf.tidy(() => tf.sub(rows(runA.cache.get(names[pcaLayer]), startA), rows(runB.cache.get(names[pcaLayer]), startB))) as tf.Tensor2D;
        held.push(diff);
        const result = await pca(diff, Math.min(k, diff.shape[1]));
        result.scores.forEach((s, i) => differencePca.push({ position: i, token_a: textA(ta[startA + i]), token_b: textB(tb[startB + i]), ...Object.fromEntries(pcs.map((p, j) => [p, s[j]])) }));
        result.explainedRatio.forEach((r, i) => differenceComponents.push({ component: i + 1, explained_ratio: r }));
      }
      return { table: table.table(), summary: summary.table(), differencePca: differencePca.table(), differenceComponents: differenceComponents.table() };
    } finally {
      runB.dispose();
    }
  } finally {
    tf.dispose(held);
    runA.dispose();
  }
}
