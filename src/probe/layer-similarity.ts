// Layer-to-layer similarity of the residual stream: cosine similarity between layers at the last position,
// over the whole sequence flattened, and per position. Each is one matmul of normalised rows on the device.
import * as tf from "@tensorflow/tfjs-core";
import { checkBatch, residualHookNames } from "./residual-rows";
import * as aq from "arquero";
import type { Table } from "./table";
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
    if (!allFinite(grams)) {
      const maxAbsTensor = tf.tidy(() => tf.max(tf.abs(stack)));
      const maxAbs = (await maxAbsTensor.data())[0];
      maxAbsTensor.dispose();
      if (maxAbs > 1e15) grams = await gramsOf(maxAbs);
    }
  } finally {
    stack.dispose();
  }
  // Cosines in float64 from the float32 Gram entries, the tables filled a column at a time (per entry, arrays of
  // arrays and row objects took ~0.7 ms of the demo model's 14 ms probe).
  const flatGram = new Float64Array(n * n);
  for (let p = 0; p < T; p++) for (let i = 0; i < n * n; i++) flatGram[i] += grams[p * n * n + i];
  const lastM = cosinesOfGram(grams.subarray((T - 1) * n * n, T * n * n), n);
  const flatM = cosinesOfGram(flatGram, n);
  const nn = n * n;
  const pair = { layer_a: new Int32Array(nn), layer_b: new Int32Array(nn) };
  for (let i = 0; i < n; i++) pair.layer_a.fill(i, i * n, (i + 1) * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) pair.layer_b[i * n + j] = j;
  const lastValues = Float64Array.from(lastM.flat());
  const flatValues = Float64Array.from(flatM.flat());
  const both = (a: Int32Array) => {
    const out = new Int32Array(2 * nn);
    out.set(a);
    out.set(a, nn);
    return out;
  };
  const bothValues = new Float64Array(2 * nn);
  bothValues.set(lastValues);
  bothValues.set(flatValues, nn);
  const scope = new Array<string>(2 * nn).fill("last", 0, nn).fill("flat", nn);
  const table = aq.table({ layer_a: both(pair.layer_a), layer_b: both(pair.layer_b), similarity: bothValues, scope });
  const lastTable = aq.table({ layer_a: pair.layer_a.slice(), layer_b: pair.layer_b.slice(), similarity: lastValues });
  const flatTable = aq.table({ layer_a: pair.layer_a.slice(), layer_b: pair.layer_b.slice(), similarity: flatValues });
  return { last: lastM, flat: flatM, table, lastTable, flatTable, perPosition: perPositionTable(grams, T, n, mode) };
}

/** position, layer_a, layer_b, similarity for every position: adjacent layers (i, i + 1) or every ordered pair. */
function perPositionTable(grams: Float32Array, T: number, n: number, mode: "adjacent" | "all"): Table {
  const pairs: Array<[number, number]> = [];
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) if (mode === "all" || j === i + 1) pairs.push([i, j]);
  const rows = T * pairs.length;
  const out = { position: new Int32Array(rows), layer_a: new Int32Array(rows), layer_b: new Int32Array(rows), similarity: new Float64Array(rows) };
  const norms = new Float64Array(n);
  let r = 0;
  for (let p = 0; p < T; p++) {
    const base = p * n * n;
    for (let i = 0; i < n; i++) norms[i] = Math.sqrt(grams[base + i * n + i]);
    for (const [i, j] of pairs) {
      out.position[r] = p;
      out.layer_a[r] = i;
      out.layer_b[r] = j;
      out.similarity[r] = cosine(grams[base + i * n + j], norms[i], norms[j]);
      r++;
    }
  }
  return aq.table(out);
}

/** G_ij / (√G_ii √G_jj), 0 where a vector is zero, clipped to [−1, 1]. */
function cosine(gram: number, normI: number, normJ: number): number {
  const outer = normI * normJ;
  return outer === 0 ? 0 : Math.min(1, Math.max(-1, gram / outer));
}

/** Cosines from an n × n Gram matrix (row-major): G_ij / (√G_ii √G_jj), 0 where a vector is zero, clipped to [−1, 1]. */
function cosinesOfGram(gram: ArrayLike<number>, n: number): number[][] {
  const norms = Array.from({ length: n }, (_, i) => Math.sqrt(gram[i * n + i]));
  return Array.from({ length: n }, (_, i) => Array.from({ length: n }, (_, j) => cosine(gram[i * n + j], norms[i], norms[j])));
}

function allFinite(values: Float32Array): boolean {
  for (let i = 0; i < values.length; i++) if (values[i] - values[i] !== 0) return false; // NaN and ±Infinity give NaN
  return true;
}
