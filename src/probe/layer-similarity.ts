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
        const one = x.shape[0] === 1 ? x : tf.slice(x, [b, 0, 0], [1, x.shape[1]!, x.shape[2]!]); // no copy for one sequence
        return tf.reshape(one, x.shape.slice(1));
      }),
      1,
    ),
  ) as tf.Tensor3D;
  const [T, n] = stack.shape;
  // One batched product, read back once ([T, L+1, L+1]: what the per-position table holds anyway); the cosines are
  // taken from it on the host in float64. Squares of entries beyond ~1e15 overflow float32 sums: only when a Gram
  // entry is not finite is the stream's largest magnitude read and, if that is the cause, the product redone on the
  // stream scaled by it (a NaN in the stream stays NaN). Read asynchronously: a GPU backend cannot be read
  // synchronously in Node.
  const gramsOf = async (scale: number) => {
    const grams = tf.tidy(() => {
      const scaled = scale === 1 ? stack : tf.div(stack, scale);
      return tf.matMul(scaled, scaled, false, true); // [T, L+1, L+1]
    });
    try {
      return (await grams.data()) as Float32Array;
    } finally {
      grams.dispose();
    }
  };
  let grams: Float32Array;
  try {
    grams = await gramsOf(1);
    if (!grams.every(Number.isFinite)) {
      const maxAbsTensor = tf.tidy(() => tf.max(tf.abs(stack)));
      const maxAbs = (await maxAbsTensor.data())[0];
      maxAbsTensor.dispose();
      if (maxAbs > 1e15) grams = await gramsOf(maxAbs);
    }
  } finally {
    stack.dispose();
  }
  const flatGram = new Float64Array(n * n);
  for (let p = 0; p < T; p++) for (let i = 0; i < n * n; i++) flatGram[i] += grams[p * n * n + i];
  const perPosA = Array.from({ length: T }, (_, p) => cosinesOfGram(grams.subarray(p * n * n, (p + 1) * n * n), n));
  const lastM = perPosA[T - 1];
  const flatM = cosinesOfGram(flatGram, n);
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
}

/** Cosines from an n × n Gram matrix (row-major): G_ij / (√G_ii √G_jj), 0 where a vector is zero, clipped to [−1, 1]. */
function cosinesOfGram(gram: ArrayLike<number>, n: number): number[][] {
  const norms = Array.from({ length: n }, (_, i) => Math.sqrt(gram[i * n + i]));
  return Array.from({ length: n }, (_, i) =>
    Array.from({ length: n }, (_, j) => {
      const outer = norms[i] * norms[j];
      return outer === 0 ? 0 : Math.min(1, Math.max(-1, gram[i * n + j] / outer));
    }),
  );
}
