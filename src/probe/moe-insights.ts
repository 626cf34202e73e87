// What a mixture-of-experts router did, read further from moeRouting's tables (no second forward pass):
// balance per layer (normalised load entropy and the auxiliary-loss proxy that training minimises), which experts
// dominate, are under-used or never chosen, which tokens each expert takes, how the top-k weights are spread per
// slot (and per prompt section), and one token's routing through every layer.
//
// Auxiliary-loss proxy: transformers' load_balancing_loss_func (Switch Transformer, as Mixtral and Qwen-MoE train
// with it): E · Σᵢ fᵢ · Pᵢ, with fᵢ the share of tokens that chose expert i in any of their k slots and Pᵢ the mean
// router probability of i (softmax over every expert). It equals k for perfectly even routing and grows as routing
// concentrates. Here fᵢ comes from the experts the model actually used (its own routing rule).
import { ArgumentError } from "../errors";
import { gini, type MoeRoutingResult } from "./moe";
import { ColumnBuilder, type Table } from "./table";

/** An expert's status: dominant, under-used, dead or normal. */
export type ExpertStatus = "dominant" | "under-used" | "dead" | "normal";

/** Thresholds, token count and sections of moeInsights(). */
export interface MoeInsightOptions {
  /** "dominant": at least this many times the fair share 1/E of the routed slots (default 2). */
  dominant?: number;
  /** "under-used": below this fraction of the fair share, yet chosen at least once (default 0.25). */
  underUsed?: number;
  /** Tokens listed per expert (default 5). */
  topTokens?: number;
  /** Section of each position (promptSections(...).sections), to split the weight distributions. */
  sections?: string[];
}

/** moeInsights()'s balance, experts, specialisation and weights tables. */
export interface MoeInsights {
  /** layer, balance (load entropy / ln E: 1 = even), aux_loss_proxy, even_aux_loss (= k), gini. */
  balance: Table;
  /** layer, expert, count, fraction, fair_share, status. */
  experts: Table;
  /** layer, expert, rank, token, count, share (of the expert's tokens). */
  specialisation: Table;
  /** layer, slot, section, tokens, mean_weight, min_weight, max_weight. */
  weights: Table;
}

type RoutingRow = { layer: number; position: number; input_token: string | null; slot: number; expert: number; weight: number };
type LoadRow = { layer: number; expert: number; count: number; fraction: number; mean_router_prob: number };

/** Whether an expert is dominant, under-used, dead or normal, from its share of the routed slots. */
export function expertStatus(fraction: number, count: number, E: number, o: { dominant: number; underUsed: number }): ExpertStatus {
  if (count === 0) return "dead";
  if (fraction >= o.dominant / E) return "dominant";
  if (fraction < o.underUsed / E) return "under-used";
  return "normal";
}

/** Balance, auxiliary-loss proxy, expert status, token specialisation and weight distributions from a moeRouting() result. */
export function moeInsights(result: MoeRoutingResult, options: MoeInsightOptions = {}): MoeInsights {
  const o = { dominant: options.dominant ?? 2, underUsed: options.underUsed ?? 0.25, topTokens: options.topTokens ?? 5 };
  if (!(o.dominant > 1)) throw new ArgumentError("dominant", `is ${o.dominant}`, "use a multiple of the fair share above 1");
  if (!(o.underUsed > 0 && o.underUsed < 1)) throw new ArgumentError("underUsed", `is ${o.underUsed}`, "use a fraction of the fair share in (0, 1)");
  const routing = result.routing.objects() as RoutingRow[];
  const load = result.load.objects() as LoadRow[];
  const layers = [...new Set(load.map((r) => r.layer))];
  const T = new Set(routing.map((r) => r.position)).size;
  if (options.sections && options.sections.length !== T) {
    throw new ArgumentError("sections", `has ${options.sections.length} entries for ${T} positions`, "pass the sections of the same prompt");
  }
  const balance = new ColumnBuilder(["layer", "balance", "aux_loss_proxy", "even_aux_loss", "gini"] as const);
  const experts = new ColumnBuilder(["layer", "expert", "count", "fraction", "fair_share", "status"] as const);
  const specialisation = new ColumnBuilder(["layer", "expert", "rank", "token", "count", "share"] as const);
  const weights = new ColumnBuilder(["layer", "slot", "section", "tokens", "mean_weight", "min_weight", "max_weight"] as const);
  for (const layer of layers) {
    const rows = load.filter((r) => r.layer === layer);
    const E = rows.length;
    const routed = routing.filter((r) => r.layer === layer);
    const k = T > 0 ? routed.length / T : 0;
    const loadEntropy = -rows.reduce((s, r) => s + (r.fraction > 0 ? r.fraction * Math.log(r.fraction) : 0), 0);
    balance.push({
      layer,
      balance: E > 1 ? loadEntropy / Math.log(E) : 1,
      aux_loss_proxy: E * rows.reduce((s, r) => s + (r.count / Math.max(T, 1)) * r.mean_router_prob, 0),
      even_aux_loss: k,
      gini: gini(rows.map((r) => r.fraction)),
    });
    for (const r of rows) {
      experts.push({ layer, expert: r.expert, count: r.count, fraction: r.fraction, fair_share: 1 / E, status: expertStatus(r.fraction, r.count, E, o) });
      const byToken = new Map<string, number>();
      for (const x of routed) if (x.expert === r.expert) byToken.set(x.input_token ?? "", (byToken.get(x.input_token ?? "") ?? 0) + 1);
      [...byToken.entries()]
        .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
        .slice(0, o.topTokens)
        .forEach(([token, count], i) => specialisation.push({ layer, expert: r.expert, rank: i + 1, token, count, share: count / Math.max(r.count, 1) }));
    }
    const groups = new Map<string, number[]>();
    for (const x of routed) {
      const section = options.sections ? options.sections[x.position] : "all";
      const key = `${x.slot}\u0000${section}`;
      if (!groups.has(key)) groups.set(key, []);
      groups.get(key)!.push(x.weight);
    }
    for (const [key, w] of [...groups.entries()].sort()) {
      const [slot, section] = key.split("\u0000");
      weights.push({ layer, slot: Number(slot), section, tokens: w.length, mean_weight: w.reduce((s, v) => s + v, 0) / w.length, min_weight: Math.min(...w), max_weight: Math.max(...w) });
    }
  }
  return { balance: balance.table(), experts: experts.table(), specialisation: specialisation.table(), weights: weights.table() };
}

/** One token's routing through every MoE layer: layer, slot, expert, weight, router_prob (softmax of the router's logits). */
export function routingInspector(result: MoeRoutingResult, position: number): Table {
  const routing = (result.routing.objects() as RoutingRow[]).filter((r) => r.position === position);
  if (routing.length === 0) {
    const T = new Set((result.routing.objects() as RoutingRow[]).map((r) => r.position)).size;
    throw new ArgumentError("position", `is ${position}`, `use a position in 0 … ${T - 1}`);
  }
  const out = new ColumnBuilder(["layer", "slot", "expert", "weight", "router_prob"] as const);
  for (const r of routing) {
    const logits = result.routerLogits.get(r.layer)![position];
    const max = Math.max(...logits);
    const z = logits.reduce((s, v) => s + Math.exp(v - max), 0);
    out.push({ layer: r.layer, slot: r.slot, expert: r.expert, weight: r.weight, router_prob: Math.exp(logits[r.expert] - max) / z });
  }
  return out.table();
}
