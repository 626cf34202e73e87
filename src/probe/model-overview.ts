// What a model is before anything runs through it: its configuration, where its parameters sit, how much
// arithmetic a prompt costs and what its tokenizer knows. Everything is read from the canonical weights (the
// shapes actually loaded), not re-derived from config.json, so a converter's choices show as they are.
import * as tf from "@tensorflow/tfjs-core";
import { ArgumentError } from "../errors";
import { canonicalParameters, type BlockWeights, type CanonicalModel } from "../model/canonical";
import { ColumnBuilder, type Table } from "./table";
import type { ProbeModel } from "./types";

/** modelOverview()'s tables: configuration, parameters, FLOPs and tokenizer facts. */
export interface ModelOverview {
  /** key, value: the normalised configuration (strings, for display). */
  config: Table;
  /** component, parameters, share, active_per_token: where the weights are (a tied unembedding counts 0). */
  parameters: Table;
  /** component, prefill_flops, per_token_flops: matmul FLOPs (2 per multiply-add) of a `positions`-token prefill
   *  and of one more token decoded after it with a key/value cache. */
  flops: Table;
  /** key, value: vocabulary size, embedding rows, special tokens, chat template. */
  tokenizer: Table;
  totalParameters: number;
  /** Parameters one token passes through (MoE: the router, shared parts and top-k of the experts). */
  activeParameters: number;
  isMoe: boolean;
}

/** The prompt length modelOverview() counts FLOPs for. */
export interface ModelOverviewOptions {
  /** Prompt length the FLOPs are counted for (default 128). */
  positions?: number;
}

const COMPONENTS = ["embedding", "positional embedding", "attention", "mlp", "router", "experts", "norms", "unembedding"] as const;
type Component = (typeof COMPONENTS)[number];

/** Parameters per component, and the share of the expert weights one token uses. */
function countParameters(w: CanonicalModel): { total: Record<Component, number>; active: Record<Component, number> } {
  const total = Object.fromEntries(COMPONENTS.map((c) => [c, 0])) as Record<Component, number>;
  const active = { ...total };
  const add = (c: Component, n: number, share = 1) => {
    total[c] += n;
    active[c] += n * share;
  };
  const size = (v: unknown) => canonicalParameters(v as CanonicalModel).reduce((s, t) => s + t.size, 0);
  add("embedding", w.embed.W_E.size);
  if (w.posEmbed) add("positional embedding", w.posEmbed.W_pos.size);
  for (const b of w.blocks) {
    const { qNorm, kNorm, ...attn } = b.attn;
    add("attention", size(attn));
    add("norms", size([b.ln1, b.ln2, b.postAttnNorm, b.postMlpNorm, qNorm, kNorm]));
    if (b.mlp.kind === "dense") {
      add("mlp", size(b.mlp));
    } else {
      const { W_router, b_router, experts, ...rest } = b.mlp as { W_router?: unknown; b_router?: unknown; experts?: unknown };
      add("router", size([W_router, b_router]));
      add("experts", size(experts), b.mlp.topK / b.mlp.numExperts);
      add("mlp", size(rest)); // shared experts and their gates, where a family has them
    }
  }
  add("norms", size(w.lnFinal));
  add("unembedding", size([w.unembed.W_U, w.unembed.b_U]));
  return { total, active };
}

/** Keys each query attends to in a causal (optionally windowed) prefill of T tokens, summed over queries. */
function attendedPairs(T: number, window: number | null): number {
  let pairs = 0;
  for (let q = 0; q < T; q++) pairs += window === null ? q + 1 : Math.min(q + 1, window);
  return pairs;
}

/** Multiply-adds per token of a block's projections: every 2-D weight matrix is applied once per token. */
function projectionMacs(tensors: { rank: number; size: number }[]): number {
  return tensors.filter((t) => t.rank === 2).reduce((s, t) => s + t.size, 0);
}

function blockFlops(b: BlockWeights, T: number): Record<"attention" | "attention scores" | "mlp" | "router" | "experts", [number, number]> {
  const { qNorm, kNorm, sinks, ...attnWeights } = b.attn;
  const proj = 2 * projectionMacs(canonicalParameters(attnWeights as unknown as CanonicalModel));
  // q·k and pattern·v: 2 FLOPs per multiply-add, dHead multiply-adds each, per head and attended (query, key) pair.
  const perPair = 2 * 2 * b.attn.dHead * b.attn.nHeads;
  const decodeKeys = b.attn.slidingWindow === null ? T + 1 : Math.min(T + 1, b.attn.slidingWindow);
  const out = {
    attention: [proj * T, proj] as [number, number],
    "attention scores": [perPair * attendedPairs(T, b.attn.slidingWindow), perPair * decodeKeys] as [number, number],
    mlp: [0, 0] as [number, number],
    router: [0, 0] as [number, number],
    experts: [0, 0] as [number, number],
  };
  const tensorsOf = (v: unknown) => canonicalParameters(v as CanonicalModel);
  if (b.mlp.kind === "dense") {
    const f = 2 * projectionMacs(tensorsOf(b.mlp));
    out.mlp = [f * T, f];
  } else {
    const { W_router, b_router, experts, ...rest } = b.mlp as { W_router?: unknown; b_router?: unknown; experts?: unknown };
    const r = 2 * projectionMacs(tensorsOf([W_router, b_router]));
    const e = (2 * projectionMacs(tensorsOf(experts)) * b.mlp.topK) / b.mlp.numExperts;
    const s = 2 * projectionMacs(tensorsOf(rest));
    out.router = [r * T, r];
    out.experts = [e * T, e];
    out.mlp = [s * T, s];
  }
  return out;
}

/** Matmul FLOPs (2 per multiply-add) of a `positions`-token forward pass: the "total" row of modelOverview's flops. */
export function prefillFlops(model: Pick<ProbeModel, "weights">, positions: number): number {
  const w = model.weights;
  let sum = 2 * w.dModel * w.vocabSize * positions;
  for (const b of w.blocks) for (const [p] of Object.values(blockFlops(b, positions))) sum += p;
  return sum;
}

/** Configuration, parameters by component, FLOPs by component and tokenizer facts of a loaded model. */
export function modelOverview(model: ProbeModel, options: ModelOverviewOptions = {}): ModelOverview {
  const T = options.positions ?? 128;
  if (!Number.isInteger(T) || T < 1) throw new ArgumentError("positions", `is ${T}`, "count FLOPs for a prompt of at least 1 token");
  const w = model.weights;
  const c = model.config;
  const isMoe = w.blocks.some((b) => b.mlp.kind === "moe");

  const config = new ColumnBuilder(["key", "value"] as const);
  const setting = (key: string, value: unknown) => config.push({ key, value: value === null || value === undefined ? "—" : String(value) });
  setting("model_type", c.modelType);
  setting("layers", w.nLayers);
  setting("d_model", w.dModel);
  setting("attention heads", w.blocks[0]?.attn.nHeads);
  setting("key/value heads", w.blocks[0]?.attn.nKVHeads);
  setting("head dim", w.blocks[0]?.attn.dHead);
  setting("d_mlp", c.intermediateSize);
  setting("activation", c.activation);
  setting("vocabulary", w.vocabSize);
  setting("context", w.maxPositions);
  setting("positions", w.posEmbed ? "learned" : w.blocks.some((b) => b.attn.rotary) ? `rotary (${c.rope?.ropeType ?? "default"})` : "none");
  setting("rope theta", c.rope?.theta);
  setting("sliding window", c.slidingWindow);
  setting("attention softcap", c.attnLogitSoftcap);
  setting("final softcap", c.finalLogitSoftcap);
  setting("parallel attention + MLP", w.blocks.some((b) => b.parallel));
  setting("tied embeddings", w.unembed.W_U === null);
  setting("mixture of experts", isMoe ? `${c.moe?.numExperts} experts, top ${c.moe?.topK}` : "no");

  const { total, active } = countParameters(w);
  const totalParameters = COMPONENTS.reduce((s, k) => s + total[k], 0);
  const activeParameters = COMPONENTS.reduce((s, k) => s + active[k], 0);
  const parameters = new ColumnBuilder(["component", "parameters", "share", "active_per_token"] as const);
  for (const k of COMPONENTS) {
    if (total[k] === 0 && !(k === "unembedding" && w.unembed.W_U === null)) continue;
    parameters.push({ component: k === "unembedding" && w.unembed.W_U === null ? "unembedding (tied to embedding)" : k, parameters: total[k], share: total[k] / totalParameters, active_per_token: active[k] });
  }

  const flopRows = new Map<string, [number, number]>();
  const accumulate = (k: string, [p, d]: [number, number]) => {
    const prev = flopRows.get(k) ?? [0, 0];
    flopRows.set(k, [prev[0] + p, prev[1] + d]);
  };
  for (const b of w.blocks) for (const [k, v] of Object.entries(blockFlops(b, T))) if (v[0] + v[1] > 0) accumulate(k, v);
  const unembed = 2 * w.dModel * w.vocabSize;
  accumulate("unembedding", [unembed * T, unembed]);
  const flops = new ColumnBuilder(["component", "prefill_flops", "per_token_flops"] as const);
  let sum: [number, number] = [0, 0];
  for (const [component, [p, d]] of flopRows) {
    flops.push({ component, prefill_flops: p, per_token_flops: d });
    sum = [sum[0] + p, sum[1] + d];
  }
  flops.push({ component: "total", prefill_flops: sum[0], per_token_flops: sum[1] });

  const tok = model.tokenizer;
  const tokenizer = new ColumnBuilder(["key", "value"] as const);
  const special = (id: number | null) => (id === null ? "—" : `${id} ${JSON.stringify(tok.idsToTokens([id])[0] ?? "")}`);
  tokenizer.push({ key: "vocabulary (tokenizer)", value: String(tok.vocabSize) });
  tokenizer.push({ key: "embedding rows", value: String(w.vocabSize) });
  tokenizer.push({ key: "BOS", value: special(tok.bosTokenId) });
  tokenizer.push({ key: "EOS", value: tok.eosTokenIds.length ? tok.eosTokenIds.map(special).join(", ") : "—" });
  tokenizer.push({ key: "padding", value: special(tok.padTokenId) });
  tokenizer.push({ key: "chat template", value: tok.hasChatTemplate ? "yes" : "no" });

  return { config: config.table(), parameters: parameters.table(), flops: flops.table(), tokenizer: tokenizer.table(), totalParameters, activeParameters, isMoe };
}
