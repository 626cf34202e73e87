// Layer-to-layer similarity of the residual stream: cosine similarity between layers at the last position,
// over the whole sequence flattened, and per position. Each is one matmul of normalised rows on the device.
import * as tf from "@tensorflow/tfjs-core";
import { checkBatch, residualHookNames } from "./residual-rows";
import { ColumnBuilder, type Table } from "./table";
import type { CacheLike, ProbeInput, ProbeModel } from "./types";
import { ArgumentError } from "../errors";
import { withNonFiniteCheck, type NonFiniteReport } from "./non-finite";

/** Options of layerSimilarity(): batch row and which layer pairs get per-position similarities. */
export interface LayerSimilarityOptions {
  /** Batch entry of the cache (default 0). */
  batch?: number;
  /** Per-position similarities between adjacent layers (default) or between every pair of layers. */
  perPosition?: "adjacent" | "all";
  prependBos?: boolean;
}

/** What layerSimilarity() returns: the matrices and the per-position table. */
export interface LayerSimilarityResult {
  /** Set by the probe that ran the model: where its forward pass first produced NaN/±Infinity, or null. Absent from the *FromCache variants. */
  nonFinite?: NonFiniteReport | null;
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

/**
 * Cosine similarity of the residual stream between every pair of layers: at the last position, flattened over
 * positions, and per position.
 */
export async function layerSimilarity(model: ProbeModel, input: ProbeInput, options: LayerSimilarityOptions = {}): Promise<LayerSimilarityResult> {
  const names = new Set(residualHookNames(model.config.numLayers));
  const run = model.run(input, { cache: (n) => names.has(n), prependBos: options.prependBos, lastPositionOnly: true });
  try {
    return await withNonFiniteCheck(await layerSimilarityFromCache(run.cache, model.config.numLayers, options), model, run, input, options.prependBos);
  } finally {
    run.dispose();
  }
}

/** layerSimilarity() on a cache that holds the residual stream (see residualHookNames). */
export async function layerSimilarityFromCache(cache: CacheLike, nLayers: number, options: LayerSimilarityOptions = {}): Promise<LayerSimilarityResult> {
  const b = options.batch ?? 0;
  checkBatch(b, cache.get(residualHookNames(nLayers)[0]).shape[0]);
  const mode = options.perPosition ?? "adjacent";
  if (mode !== "adjacent" && mode !== "all") throw new ArgumentError("perPosition", `is ${JSON.stringify(mode)}`, 'use "adjacent" or "all"');
  // [T, L+1, d]: the one stacked copy of the residual stream this probe makes. One batched product gives every
  // position's Gram matrix [T, L+1, L+1]; their sum over positions is the Gram matrix of the flattened stream,
  // and the last one that of the last position. Normalising those small matrices by their diagonals gives the
  // cosines without a normalised copy of the stream.
  const stack = tf.tidy(() =>
    tf.stack(
      residualHookNames(nLayers).map((n) => {
        const x = cache.get(n);
        return tf.reshape(tf.slice(x, [b, 0, 0], [1, x.shape[1]!, x.shape[2]!]), x.shape.slice(1));
      }),
      1,
    ),
  ) as tf.Tensor3D;
  const [T] = stack.shape;
  // Squares of entries beyond ~1e15 would overflow float32 sums: such (corrupt) streams are scaled first.
  // Read asynchronously: a GPU backend cannot be read synchronously in Node.
  const maxAbsTensor = tf.tidy(() => tf.max(tf.abs(stack)));
  const maxAbs = (await maxAbsTensor.data())[0];
  maxAbsTensor.dispose();
  const [last, flat, perPos] = tf.tidy(() => {
    const scaled = maxAbs > 1e15 ? tf.div(stack, maxAbs) : stack;
    const grams = tf.matMul(scaled, scaled, false, true); // [T, L+1, L+1]
    return [
      cosinesOfGram(tf.squeeze(tf.slice(grams, [T - 1, 0, 0], [1, -1, -1]), [0])),
      cosinesOfGram(tf.sum(grams, 0)),
      cosinesOfGram(grams),
    ];
  });
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

/** Cosines from Gram matrices [..., n, n]: G_ij / √(G_ii G_jj), 0 where a vector is zero, clipped to [−1, 1]. */
function cosinesOfGram(gram: tf.Tensor): tf.Tensor {
  return tf.tidy(() => {
    const n = gram.shape[gram.rank - 1];
    const eye = tf.eye(n);
    const diag = tf.sqrt(tf.sum(tf.mul(gram, eye), -1)); // [..., n]
    const outer = tf.mul(tf.expandDims(diag, -1), tf.expandDims(diag, -2));
    return tf.clipByValue(tf.divNoNan(gram, outer), -1, 1);
  });
}
