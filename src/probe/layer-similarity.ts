// Layer-to-layer similarity of the residual stream: cosine similarity between layers at the last position,
// over the whole sequence flattened, and per position. Each is one matmul of normalised rows on the device.
import * as tf from "@tensorflow/tfjs-core";
import { cosineSimilarityMatrix } from "../tensor/cosine-similarity-matrix";
import { norm } from "../tensor/norm";
import { residualHookNames } from "./residual-rows";
import { ColumnBuilder, type Table } from "./table";
import type { CacheLike, ProbeInput, ProbeModel } from "./types";

export interface LayerSimilarityOptions {
  /** Batch entry of the cache (default 0). */
  batch?: number;
  /** Per-position similarities between adjacent layers (default) or between every pair of layers. */
  perPosition?: "adjacent" | "all";
  prependBos?: boolean;
}

export interface LayerSimilarityResult {
  /** [L+1][L+1] cosine similarity of the residual stream at the last position (layer 0 = embedding output). */
  last: number[][];
  /** [L+1][L+1] cosine similarity of the whole residual stream, flattened over positions. */
  flat: number[][];
  /** layer_a, layer_b, similarity, scope ("last" | "flat"): both matrices, long form. */
  table: Table;
  /** layer_a, layer_b, similarity of one matrix each (what a similarity heatmap draws). */
  lastTable: Table;
  flatTable: Table;
  /** position, layer_a, layer_b, similarity. */
  perPosition: Table;
}

export async function layerSimilarity(model: ProbeModel, input: ProbeInput, options: LayerSimilarityOptions = {}): Promise<LayerSimilarityResult> {
  const names = new Set(residualHookNames(model.config.numLayers));
  const run = model.run(input, { cache: (n) => names.has(n), prependBos: options.prependBos, lastPositionOnly: true });
  try {
    return await layerSimilarityFromCache(run.cache, model.config.numLayers, options);
  } finally {
    run.dispose();
  }
}

export async function layerSimilarityFromCache(cache: CacheLike, nLayers: number, options: LayerSimilarityOptions = {}): Promise<LayerSimilarityResult> {
  const b = options.batch ?? 0;
  const mode = options.perPosition ?? "adjacent";
  // [L+1, T, d]: the one stacked copy of the residual stream this probe makes.
  const stack = tf.tidy(() =>
    tf.stack(residualHookNames(nLayers).map((n) => {
      const x = cache.get(n);
      return tf.reshape(tf.slice(x, [b, 0, 0], [1, x.shape[1]!, x.shape[2]!]), x.shape.slice(1));
    })),
  ) as tf.Tensor3D;
  const [L1, T, d] = stack.shape;
  const [last, flat, perPos] = tf.tidy(() => [
    cosineSimilarityMatrix(tf.reshape(tf.slice(stack, [0, T - 1, 0], [L1, 1, d]), [L1, d])),
    cosineSimilarityMatrix(tf.reshape(stack, [L1, T * d])),
    perPositionCosines(stack),
  ]);
  stack.dispose();
  try {
    const [lastM, flatM, perPosA] = (await Promise.all([last.array(), flat.array(), perPos.array()])) as [number[][], number[][], number[][][]];
    const table = new ColumnBuilder(["layer_a", "layer_b", "similarity", "scope"] as const);
    const one = { last: new ColumnBuilder(["layer_a", "layer_b", "similarity"] as const), flat: new ColumnBuilder(["layer_a", "layer_b", "similarity"] as const) };
    for (const [scope, m] of [["last", lastM], ["flat", flatM]] as const) {
      m.forEach((row, i) =>
        row.forEach((v, j) => {
          table.push({ layer_a: i, layer_b: j, similarity: v, scope });
          one[scope].push({ layer_a: i, layer_b: j, similarity: v });
        }),
      );
    }
    const perPosition = new ColumnBuilder(["position", "layer_a", "layer_b", "similarity"] as const);
    perPosA.forEach((m, p) =>
      m.forEach((row, i) =>
        row.forEach((v, j) => {
          if (mode === "all" || j === i + 1) perPosition.push({ position: p, layer_a: i, layer_b: j, similarity: v });
        }),
      ),
    );
    return { last: lastM, flat: flatM, table: table.table(), lastTable: one.last.table(), flatTable: one.flat.table(), perPosition: perPosition.table() };
  } finally {
    tf.dispose([last, flat, perPos]);
  }
}

/** [T, L+1, L+1]: cosine similarity between layers at each position, as one batched matmul. */
function perPositionCosines(stack: tf.Tensor3D): tf.Tensor3D {
  return tf.tidy(() => {
    const byPosition = tf.transpose(stack, [1, 0, 2]); // [T, L+1, d]
    const n = norm(byPosition, { axis: 2, keepDims: true });
    const unit = tf.divNoNan(byPosition, n);
    return tf.clipByValue(tf.matMul(unit, unit, false, true), -1, 1) as tf.Tensor3D;
  });
}
