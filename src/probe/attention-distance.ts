// How far back each head looks: attention mass by relative distance (query − key), read from the exact patterns
// the model computed (blocks.{l}.attn.hook_pattern: RoPE, masks, sliding windows, softcaps and sinks included),
// the distances that hold 50 % and 90 % of a head's attention, a class from them, and the keys a head attends most.
//
// The profile of a head is the mean over queries of each query's attention at each distance, so it sums to the
// head's mean attention mass (1, or less where a sink takes some). Quantiles are taken on the profile normalised
// to 1. Everything up to [heads, keys] is reduced on the device; only those small matrices are read back.
import * as tf from "@tensorflow/tfjs-core";
import { ArgumentError } from "../errors";
import { entropy } from "../tensor/entropy";
import { patternOf, resolveLayers, patternHook } from "./attention";
import { ColumnBuilder, type Table } from "./table";
import { tokenTextLookup } from "./token-texts";
import type { CacheLike, ProbeInput, ProbeModel } from "./types";

/** How far a head looks: very local, local, mixed or global. */
export type DistanceClass = "very local" | "local" | "mixed" | "global";

/** Layers, thresholds and key count of attentionDistance(). */
export interface AttentionDistanceOptions {
  layers?: number[];
  batch?: number;
  prependBos?: boolean;
  /** Keys most attended per head (default 5). */
  topKeys?: number;
  /** "very local": 90 % of the attention within this distance (default 2). */
  veryLocal?: number;
  /** "local": 90 % within this distance; "global": more than half beyond it (default 8). */
  local?: number;
  /** "diffuse": mean normalised entropy (entropy / ln(keys visible)) at least this (default 0.8). */
  diffuse?: number;
  /** "recent": at least half the attention on the previous `recentSpan` tokens, the query itself excluded (default 3). */
  recentSpan?: number;
}

/** attentionDistance()'s profile, per-head and most-attended tables. */
export interface AttentionDistanceResult {
  /** layer, head, distance, mass: mean attention over queries at each distance (0 = the query itself). */
  profile: Table;
  /** layer, head, d50, d90, mean_distance, distance_class, normalised_entropy, recent_mass, self_mass, labels. */
  heads: Table;
  /** layer, head, rank, key, key_token, mass: the keys with the highest mean attention over queries. */
  attended: Table;
  strTokens: string[];
}

interface Thresholds {
  veryLocal: number;
  local: number;
  diffuse: number;
  recentSpan: number;
}

/** Attention mass by distance per head from the exact patterns, with 50 % / 90 % distances, a distance class, labels and the most attended keys. */
export async function attentionDistance(model: ProbeModel, input: ProbeInput, options: AttentionDistanceOptions = {}): Promise<AttentionDistanceResult> {
  const layers = resolveLayers(options.layers, model.config.numLayers);
  const names = new Set(layers.map(patternHook));
  const run = model.run(input, { cache: (n) => names.has(n), prependBos: options.prependBos, lastPositionOnly: true });
  try {
    const text = tokenTextLookup(model, run.tokens[0]);
    return await attentionDistanceFromCache(run.cache, layers, run.tokens[0].map(text), options);
  } finally {
    run.dispose();
  }
}

/** Index of key q + offset − d in the flattened [Q·K] pattern for every (q, d), and whether that key exists. */
function distanceGather(Q: number, K: number): { index: Int32Array; valid: Float32Array } {
  const offset = K - Q;
  const index = new Int32Array(Q * K);
  const valid = new Float32Array(Q * K);
  for (let q = 0; q < Q; q++) {
    for (let d = 0; d < K; d++) {
      const key = q + offset - d;
      if (key < 0) continue;
      index[q * K + d] = q * K + key;
      valid[q * K + d] = 1;
    }
  }
  return { index, valid };
}

/** Per head: mass by distance [H, K], mean attention received per key [H, K], mean normalised entropy [H]. */
function headStatistics(p: tf.Tensor3D): { profile: tf.Tensor2D; received: tf.Tensor2D; spread: tf.Tensor1D } {
  const [H, Q, K] = p.shape;
  const { index, valid } = distanceGather(Q, K);
  return tf.tidy(() => {
    const byDistance = tf.mul(tf.gather(tf.reshape(p, [H, Q * K]), tf.tensor1d(index, "int32"), 1), tf.tensor1d(valid));
    const profile = tf.mean(tf.reshape(byDistance, [H, Q, K]), 1) as tf.Tensor2D;
    const received = tf.mean(p, 1) as tf.Tensor2D;
    // Entropy over the keys a query can see, divided by its maximum ln(n); queries seeing one key are left out.
    const visible = tf.sum(tf.cast(tf.greater(p, 0), "float32"), -1);
    const several = tf.cast(tf.greater(visible, 1), "float32");
    const normalised = tf.mul(tf.divNoNan(entropy(p, { input: "probs" }), tf.log(tf.maximum(visible, 2))), several);
    const spread = tf.divNoNan(tf.sum(normalised, 1), tf.sum(several, 1)) as tf.Tensor1D;
    return { profile, received, spread };
  });
}

/** Smallest distance at which the normalised cumulative profile reaches `q`. */
function quantileDistance(profile: ArrayLike<number>, total: number, q: number): number {
  let cumulative = 0;
  for (let d = 0; d < profile.length; d++) {
    cumulative += profile[d] / total;
    if (cumulative >= q - 1e-9) return d;
  }
  return profile.length - 1;
}

/** The distance class of a head from its 50 % and 90 % distances. */
export function classifyDistance(d50: number, d90: number, t: Pick<Thresholds, "veryLocal" | "local">): DistanceClass {
  if (d90 <= t.veryLocal) return "very local";
  if (d90 <= t.local) return "local";
  return d50 > t.local ? "global" : "mixed";
}

function thresholdsOf(o: AttentionDistanceOptions): Thresholds {
  const t = { veryLocal: o.veryLocal ?? 2, local: o.local ?? 8, diffuse: o.diffuse ?? 0.8, recentSpan: o.recentSpan ?? 3 };
  for (const k of ["veryLocal", "local", "recentSpan"] as const) {
    if (!Number.isInteger(t[k]) || t[k] < 1) throw new ArgumentError(k, `is ${t[k]}`, "use a whole number of tokens ≥ 1");
  }
  if (t.local < t.veryLocal) throw new ArgumentError("local", `(${t.local}) is below veryLocal (${t.veryLocal})`, "use local ≥ veryLocal");
  if (!(t.diffuse > 0 && t.diffuse <= 1)) throw new ArgumentError("diffuse", `is ${t.diffuse}`, "use a normalised entropy in (0, 1]");
  return t;
}

/** attentionDistance() from a cache holding the layers' hook_pattern. */
export async function attentionDistanceFromCache(
  cache: CacheLike,
  layers: number[],
  strTokens: string[],
  options: AttentionDistanceOptions = {},
): Promise<AttentionDistanceResult> {
  const t = thresholdsOf(options);
  const topKeys = options.topKeys ?? 5;
  if (!Number.isInteger(topKeys) || topKeys < 1) throw new ArgumentError("topKeys", `is ${topKeys}`, "use a whole number ≥ 1");
  const profile = new ColumnBuilder(["layer", "head", "distance", "mass"] as const);
  const heads = new ColumnBuilder(["layer", "head", "d50", "d90", "mean_distance", "distance_class", "normalised_entropy", "recent_mass", "self_mass", "labels"] as const);
  const attended = new ColumnBuilder(["layer", "head", "rank", "key", "key_token", "mass"] as const);
  for (const layer of layers) {
    const p = patternOf(cache, layer, options.batch ?? 0);
    const stats = headStatistics(p);
    p.dispose();
    const [H, K] = stats.profile.shape;
    const keep = Math.min(topKeys, K);
    const top = tf.topk(stats.received, keep);
    try {
      const [prof, spread, topValues, topIndices] = await Promise.all([stats.profile.data(), stats.spread.data(), top.values.data(), top.indices.data()]);
      const offset = strTokens.length - K; // keys are the last K tokens
      for (let h = 0; h < H; h++) {
        const row = prof.subarray(h * K, (h + 1) * K);
        let total = 0;
        for (const v of row) total += v;
        let mean = 0;
        let recent = 0;
        row.forEach((m, d) => {
          profile.push({ layer, head: h, distance: d, mass: m });
          mean += d * m;
          if (d >= 1 && d <= t.recentSpan) recent += m;
        });
        const d50 = quantileDistance(row, total, 0.5);
        const d90 = quantileDistance(row, total, 0.9);
        const labels: string[] = [];
        if (spread[h] >= t.diffuse) labels.push("diffuse");
        if (recent / total >= 0.5) labels.push("recent");
        heads.push({
          layer,
          head: h,
          d50,
          d90,
          mean_distance: mean / total,
          distance_class: classifyDistance(d50, d90, t),
          normalised_entropy: spread[h],
          recent_mass: recent / total,
          self_mass: row[0] / total,
          labels: labels.join(", "),
        });
        for (let r = 0; r < keep; r++) {
          const key = topIndices[h * keep + r];
          attended.push({ layer, head: h, rank: r + 1, key, key_token: strTokens[key + offset] ?? null, mass: topValues[h * keep + r] });
        }
      }
    } finally {
      tf.dispose([stats.profile, stats.received, stats.spread, top.values, top.indices]);
    }
  }
  return { profile: profile.table(), heads: heads.table(), attended: attended.table(), strTokens };
}
