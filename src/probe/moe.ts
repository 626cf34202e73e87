// Mixture-of-experts routing as the model used it: the experts each token went to and their weights, read
// from the hooks the MoE block fires after routing (so softmax-then-top-k or top-k-then-softmax, and any
// renormalisation, are the family's own), plus the router's raw logits. Summaries: expert load, router
// entropy, effective number of experts, Gini coefficient of the load, and each token's path through the layers.
import * as tf from "@tensorflow/tfjs-core";
import { ArgumentError } from "../errors";
import { entropy } from "../tensor/entropy";
import { ColumnBuilder, type Table } from "./table";
import { tokenTextLookup } from "./token-texts";
import type { CacheLike, ProbeInput, ProbeModel } from "./types";
import { checkBatch } from "./residual-rows";
import { withNonFiniteCheck, type NonFiniteReport } from "./non-finite";

/** What moeRouting() returns: routing per token, load per expert, a summary per layer, token paths, router logits. */
export interface MoeRoutingResult {
  /** Set by the probe that ran the model: where its forward pass first produced NaN/±Infinity, or null. Absent from the *FromCache variants. */
  nonFinite?: NonFiniteReport | null;
  /** layer, position, input_token, slot, expert, weight (slot 0 = the highest weight). */
  routing: Table;
  /** layer, expert, count, fraction, weight_share, mean_router_prob. */
  load: Table;
  /** layer, router_entropy, effective_experts, gini, max_fraction. */
  layers: Table;
  /** position, input_token, path (top expert per MoE layer, "3→0→1"). */
  paths: Table;
  /** Raw router logits per MoE layer: [positions][experts]. */
  routerLogits: Map<number, number[][]>;
}

/** Blocks with a mixture-of-experts MLP. */
export function moeLayers(model: Pick<ProbeModel, "weights">): number[] {
  return model.weights.blocks.flatMap((b, l) => (b.mlp.kind === "moe" ? [l] : []));
}

/** The hook names moeRouting() reads for the given layers: router logits, expert indices and weights. */
export function moeHooks(layers: number[]): string[] {
  return layers.flatMap((l) => ["hook_router_logits", "hook_expert_indices", "hook_expert_weights"].map((h) => `blocks.${l}.mlp.${h}`));
}

/**
 * How a mixture-of-experts model routes each token: chosen experts and weights, expert load, router entropy,
 * effective expert count and Gini.
 */
export async function moeRouting(model: ProbeModel, input: ProbeInput, options: { prependBos?: boolean } = {}): Promise<MoeRoutingResult> {
  const layers = moeLayers(model);
  if (layers.length === 0) throw new ArgumentError("model", `(${model.config.modelType}) has no mixture-of-experts layers`, "use a MoE checkpoint (Mixtral, Qwen3-MoE, gpt-oss, …)");
  const names = new Set(moeHooks(layers));
  const run = model.run(input, { cache: (n) => names.has(n), prependBos: options.prependBos, lastPositionOnly: true });
  try {
    const text = tokenTextLookup(model, run.tokens[0]);
    return await withNonFiniteCheck(await moeRoutingFromCache(run.cache, layers, run.tokens[0].map(text)), model, run, input, options.prependBos);
  } finally {
    run.dispose();
  }
}

/** Gini coefficient of non-negative values: 0 when equal, → 1 when one holds everything. */
export function gini(values: number[]): number {
  const n = values.length;
  const total = values.reduce((s, v) => s + v, 0);
  if (n === 0 || total === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted.reduce((s, v, i) => s + (2 * (i + 1) - n - 1) * v, 0) / (n * total);
}

/** moeRouting() on a cache that holds the router hooks of the given layers (see moeHooks). */
export async function moeRoutingFromCache(cache: CacheLike, layers: number[], strTokens: string[], batch = 0): Promise<MoeRoutingResult> {
  const routing = new ColumnBuilder(["layer", "position", "input_token", "slot", "expert", "weight"] as const);
  const load = new ColumnBuilder(["layer", "expert", "count", "fraction", "weight_share", "mean_router_prob"] as const);
  const summary = new ColumnBuilder(["layer", "router_entropy", "effective_experts", "gini", "max_fraction"] as const);
  const routerLogits = new Map<number, number[][]>();
  const topExpert: number[][] = [];
  if (layers.length > 0) checkBatch(batch, cache.get(`blocks.${layers[0]}.mlp.hook_router_logits`).shape[0]);
  for (const layer of layers) {
    const pick = (h: string) => tf.tidy(() => tf.squeeze(tf.gather(cache.get(`blocks.${layer}.mlp.${h}`), [batch]), [0]));
    const [logits, indices, weights] = [pick("hook_router_logits"), pick("hook_expert_indices"), pick("hook_expert_weights")];
    const [probs, ent] = tf.tidy(() => [tf.softmax(logits), entropy(logits)]);
    try {
      const [L, I, W, P, H] = (await Promise.all([logits.array(), indices.array(), weights.array(), probs.array(), ent.array()])) as [number[][], number[][], number[][], number[][], number[]];
      routerLogits.set(layer, L);
      const T = I.length;
      const E = L[0]?.length ?? 0;
      const k = I[0]?.length ?? 0;
      const count = new Array(E).fill(0);
      const weightSum = new Array(E).fill(0);
      I.forEach((slots, t) =>
        slots.forEach((e, s) => {
          routing.push({ layer, position: t, input_token: strTokens[t] ?? null, slot: s, expert: e, weight: W[t][s] });
          count[e] += 1;
          weightSum[e] += W[t][s];
        }),
      );
      topExpert.push(I.map((slots) => slots[0]));
      const fraction = count.map((c) => c / Math.max(1, T * k));
      for (let e = 0; e < E; e++) {
        load.push({ layer, expert: e, count: count[e], fraction: fraction[e], weight_share: weightSum[e] / Math.max(1, T), mean_router_prob: P.reduce((s, row) => s + row[e], 0) / Math.max(1, T) });
      }
      const loadEntropy = -fraction.reduce((s, f) => s + (f > 0 ? f * Math.log(f) : 0), 0);
      summary.push({ layer, router_entropy: H.reduce((s, h) => s + h, 0) / Math.max(1, T), effective_experts: Math.exp(loadEntropy), gini: gini(fraction), max_fraction: Math.max(...fraction) });
    } finally {
      tf.dispose([logits, indices, weights, probs, ent]);
    }
  }
  const paths = new ColumnBuilder(["position", "input_token", "path"] as const);
  const T = topExpert[0]?.length ?? 0;
  for (let t = 0; t < T; t++) paths.push({ position: t, input_token: strTokens[t] ?? null, path: topExpert.map((row) => row[t]).join("→") });
  return { routing: routing.table(), load: load.table(), layers: summary.table(), paths: paths.table(), routerLogits };
}
