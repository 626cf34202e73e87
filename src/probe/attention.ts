// Attention patterns exactly as the model computed them (blocks.{l}.attn.hook_pattern, after every mask,
// softcap, window and sink), as a long table, and per-head summaries: entropy and the attention paid to the
// first token, to the query itself and to the previous token.
import * as tf from "@tensorflow/tfjs-core";
import { ArgumentError } from "../errors";
import { entropy } from "../tensor/entropy";
import { ColumnBuilder, type Table } from "./table";
import { tokenTextLookup } from "./token-texts";
import type { CacheLike, ProbeInput, ProbeModel } from "./types";
import { checkBatch } from "./residual-rows";
import { withNonFiniteCheck, type NonFiniteReport } from "./non-finite";

/** Options of attentionPatterns(): layers, heads, batch row, BOS. */
export interface AttentionOptions {
  /** Blocks to read (default all). */
  layers?: number[];
  /** Heads to keep in the pattern table (default all). */
  heads?: number[];
  batch?: number;
  prependBos?: boolean;
}

/** What attentionPatterns() returns: the patterns, per-head summaries and per-query statistics. */
export interface AttentionResult {
  /** Set by the probe that ran the model: where its forward pass first produced NaN/±Infinity, or null. Absent from the *FromCache variants. */
  nonFinite?: NonFiniteReport | null;
  /** layer, head, query, key, weight, query_token, key_token: the causal part (key ≤ query). */
  patterns: Table;
  /** layer, head, entropy, first_token, self, previous: means over queries 1 … T−1 (query 0 can only see itself). */
  summary: Table;
  /** layer, head, query, entropy, first_token, self, previous. */
  perQuery: Table;
  strTokens: string[];
}

export function patternHook(layer: number): string {
  return `blocks.${layer}.attn.hook_pattern`;
}

export function resolveLayers(layers: number[] | undefined, nLayers: number): number[] {
  const all = layers ?? Array.from({ length: nLayers }, (_, l) => l);
  for (const l of all) if (!Number.isInteger(l) || l < 0 || l >= nLayers) throw new ArgumentError("layers", `holds ${l}`, `use block indices 0 … ${nLayers - 1}`);
  return all;
}

/**
 * The exact attention patterns from hook_pattern, with each head's entropy and its attention to the first token,
 * itself and the previous token.
 */
export async function attentionPatterns(model: ProbeModel, input: ProbeInput, options: AttentionOptions = {}): Promise<AttentionResult> {
  const layers = resolveLayers(options.layers, model.config.numLayers);
  const names = new Set(layers.map(patternHook));
  const run = model.run(input, { cache: (n) => names.has(n), prependBos: options.prependBos, lastPositionOnly: true });
  try {
    const text = tokenTextLookup(model, run.tokens[0]);
    return await withNonFiniteCheck(await attentionFromCache(run.cache, layers, run.tokens[0].map(text), options), model, run, input, options.prependBos);
  } finally {
    run.dispose();
  }
}

/** [H, Q, K] pattern of one batch entry, as a new tensor. */
export function patternOf(cache: CacheLike, layer: number, batch = 0): tf.Tensor3D {
  const p = cache.get(patternHook(layer));
  checkBatch(batch, p.shape[0]);
  return tf.tidy(() => tf.squeeze(tf.gather(p, [batch]), [0])) as tf.Tensor3D;
}

/** attentionPatterns() on a cache that holds the layers' attn.hook_pattern. */
export async function attentionFromCache(cache: CacheLike, layers: number[], strTokens: string[], options: AttentionOptions = {}): Promise<AttentionResult> {
  const patterns = new ColumnBuilder(["layer", "head", "query", "key", "weight", "query_token", "key_token"] as const);
  const summary = new ColumnBuilder(["layer", "head", "entropy", "first_token", "self", "previous"] as const);
  const perQuery = new ColumnBuilder(["layer", "head", "query", "entropy", "first_token", "self", "previous"] as const);
  for (const layer of layers) {
    const p = patternOf(cache, layer, options.batch ?? 0);
    const [H, Q, K] = p.shape;
    const ent = tf.tidy(() => entropy(p, { input: "probs" }));
    try {
      const [values, entropies] = await Promise.all([p.data(), ent.data()]);
      for (const h of options.heads ?? []) {
        if (!Number.isInteger(h) || h < 0 || h >= H) throw new ArgumentError("heads", `holds ${h}; layer ${layer} has ${H} heads`, `use head indices 0 … ${H - 1}`);
      }
      const keep = new Set(options.heads ?? Array.from({ length: H }, (_, h) => h));
      // The query's own position among the keys: keys are the last K positions (K ≥ Q with a key/value cache).
      const offset = K - Q;
      for (let h = 0; h < H; h++) {
        const sums = { entropy: 0, first_token: 0, self: 0, previous: 0 };
        for (let q = 0; q < Q; q++) {
          const row = (h * Q + q) * K;
          const self = q + offset;
          const stats = { entropy: entropies[h * Q + q], first_token: values[row], self: values[row + self], previous: self > 0 ? values[row + self - 1] : null };
          perQuery.push({ layer, head: h, query: q, ...stats });
          if (self > 0) {
            sums.entropy += stats.entropy;
            sums.first_token += stats.first_token;
            sums.self += stats.self;
            sums.previous += stats.previous!;
          }
          if (keep.has(h)) {
            for (let k = 0; k <= self; k++) patterns.push({ layer, head: h, query: q, key: k, weight: values[row + k], query_token: strTokens[self] ?? null, key_token: strTokens[k] ?? null });
          }
        }
        const n = Math.max(1, Q - (offset > 0 ? 0 : 1));
        summary.push({ layer, head: h, entropy: sums.entropy / n, first_token: sums.first_token / n, self: sums.self / n, previous: sums.previous / n });
      }
    } finally {
      tf.dispose([p, ent]);
    }
  }
  return { patterns: patterns.table(), summary: summary.table(), perQuery: perQuery.table(), strTokens };
}
