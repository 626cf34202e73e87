// Attention patterns as dense arrays (one [heads, queries, keys] block per layer) and the raster charts drawn from
// them: the full pattern of chosen heads over a window of positions, and a layer × head overview of every head as
// one image. Arrays, not a long table: an L×H×T² table of GPT-2 small at T = 512 has 19 million rows.
import { DisplayError } from "../../errors";
import { Chart } from "../chart";
import { explainerOf } from "../explainers";
import type { TableLike } from "../table-html";
import { poolGrid, rasterOf, tileGrids } from "../raster/heatmap-raster";
import { PROBABILITY_SCHEME, positionLabel } from "./common";
import { joinByteTokens } from "../escape";
import { rasterHeatmapSpec } from "./raster-heatmap";

/** Every head's attention pattern of some layers, stacked for the overview and head charts. */
export interface AttentionStack {
  /** Layer number of each block in `patterns`. */
  layers: number[];
  heads: number;
  queries: number;
  keys: number;
  /** Row-major [heads, queries, keys] weights per layer; query q sits at key position q + keys − queries. */
  patterns: Float32Array[];
  /** Token text at each key position (length `keys`). */
  tokens: string[];
}

/** A head by layer and index. */
export interface HeadRef {
  layer: number;
  head: number;
}

/** Default number of positions a pattern shows (the last ones); earlier keys are summed into one column. */
export const DEFAULT_ATTENTION_WINDOW = 128;

function layerIndex(stack: AttentionStack, layer: number): number {
  const i = stack.layers.indexOf(layer);
  if (i < 0) throw new DisplayError("attention chart", `layer ${layer} is not in the patterns (they hold layers ${stack.layers.join(", ")})`, "pick one of those layers");
  return i;
}

/** The stack of a long pattern table (layer, head, query, key, weight; query_token/key_token label positions). */
export function attentionStackOf(table: TableLike & { array?: (name: string) => ArrayLike<unknown> }, value = "weight", onlyLayer?: number): AttentionStack {
  const names = table.columnNames();
  for (const c of ["head", "query", "key", value]) {
    if (!names.includes(c)) throw new DisplayError("attention chart", `the table lacks column "${c}" (it has ${names.join(", ")})`, "pass the patterns table of attentionPatterns()");
  }
  const n = table.numRows();
  const col = (name: string): ArrayLike<unknown> => (typeof table.array === "function" ? table.array(name) : (table.objects() as Array<Record<string, unknown>>).map((r) => r[name]));
  const layerCol = names.includes("layer") ? col("layer") : null;
  const [head, query, key, weight] = [col("head"), col("query"), col("key"), col(value)];
  const keyTokens = names.includes("key_token") ? col("key_token") : null;
  const layers = new Set<number>();
  const layerOf = (i: number) => (layerCol ? Number(layerCol[i]) : 0);
  let heads = 0, queries = 0, keys = 0;
  for (let i = 0; i < n; i++) {
    if (onlyLayer !== undefined && layerOf(i) !== onlyLayer) continue;
    layers.add(layerOf(i));
    heads = Math.max(heads, Number(head[i]) + 1);
    queries = Math.max(queries, Number(query[i]) + 1);
    keys = Math.max(keys, Number(key[i]) + 1);
  }
  keys = Math.max(keys, queries);
  const order = [...layers].sort((a, b) => a - b);
  const patterns = order.map(() => new Float32Array(heads * queries * keys).fill(NaN));
  const tokens: string[] = Array.from({ length: keys }, (_, k) => String(k));
  const slot = new Map(order.map((l, i) => [l, i]));
  for (let i = 0; i < n; i++) {
    const li = slot.get(layerOf(i));
    if (li === undefined) continue;
    const k = Number(key[i]);
    patterns[li][(Number(head[i]) * queries + Number(query[i])) * keys + k] = Number(weight[i]);
    if (keyTokens && keyTokens[i] !== null && keyTokens[i] !== undefined) tokens[k] = String(keyTokens[i]);
  }
  return { layers: order, heads, queries, keys, patterns, tokens };
}

export interface WindowedPattern {
  values: Float32Array;
  rows: number;
  cols: number;
  rowLabels: string[];
  colLabels: string[];
}

/**
 * One head's pattern over the last `window` positions: rows are those queries, columns those keys, and (when the
 * window leaves earlier keys out) a first column holding the attention summed over every earlier key, so no
 * attention mass disappears from the picture. Keys after the query (masked) are NaN.
 */
export function windowedPattern(stack: AttentionStack, ref: HeadRef, window = DEFAULT_ATTENTION_WINDOW): WindowedPattern {
  const li = layerIndex(stack, ref.layer);
  if (!Number.isInteger(ref.head) || ref.head < 0 || ref.head >= stack.heads) throw new DisplayError("attention chart", `head ${ref.head} is not in the patterns (heads 0 … ${stack.heads - 1})`, "pick one of those heads");
  const { queries: Q, keys: K } = stack;
  const offset = K - Q;
  const shown = Math.max(1, Math.min(Q, Math.floor(window)));
  const firstKey = offset + Q - shown; // first key position inside the window
  const summarise = firstKey > 0;
  const cols = shown + (summarise ? 1 : 0);
  const values = new Float32Array(shown * cols);
  const p = stack.patterns[li];
  for (let r = 0; r < shown; r++) {
    const q = Q - shown + r;
    const row = (ref.head * Q + q) * K;
    let earlier = 0;
    for (let k = 0; k < firstKey; k++) earlier += Number.isFinite(p[row + k]) ? p[row + k] : 0;
    if (summarise) values[r * cols] = earlier;
    for (let c = 0; c < shown; c++) {
      const k = firstKey + c;
      values[r * cols + c + (summarise ? 1 : 0)] = k <= q + offset ? p[row + k] : NaN;
    }
  }
  const tokens = joinByteTokens(stack.tokens);
  const label = (position: number) => positionLabel(position, tokens[position]);
  const windowLabels = Array.from({ length: shown }, (_, i) => label(firstKey + i));
  return {
    values,
    rows: shown,
    cols,
    rowLabels: windowLabels,
    colLabels: summarise ? [`0–${firstKey - 1} (sum)`, ...windowLabels] : windowLabels,
  };
}

/** Title and window of attentionHeadsChart(). */
export interface AttentionHeadsChartOptions {
  /** Positions shown, the last ones (default 128); earlier keys are summed into one column. */
  window?: number;
  title?: string;
  /** Panels per row (default 4). */
  columns?: number;
}

/** Full patterns of the given heads as raster panels (one image each), with a select parameter to show one. */
export function attentionHeadsChart(stack: AttentionStack, heads: HeadRef[], options: AttentionHeadsChartOptions = {}): Chart {
  if (heads.length === 0) throw new DisplayError("attention chart", "no heads to draw", "pass at least one { layer, head }");
  const windows = heads.map((h) => windowedPattern(stack, h, options.window));
  const w = windows[0];
  const cell = Math.max(1, Math.min(24, Math.floor(384 / Math.max(w.rows, w.cols))));
  const scale = { scheme: PROBABILITY_SCHEME, domain: [0, 1] as [number, number] };
  const windowNote = w.rows < stack.queries ? `, last ${w.rows} of ${stack.keys} positions` : "";
  const spec = rasterHeatmapSpec({
    title: options.title ?? `Attention patterns (rows: query, columns: key${windowNote})`,
    panels: heads.map((h, i) => ({ title: `L${h.layer} H${h.head}`, raster: rasterOf(windows[i].values, windows[i].cols, windows[i].rows, scale) })),
    xLabels: w.colLabels,
    yLabels: w.rowLabels,
    xTitle: "key",
    yTitle: "query",
    colour: { ...scale, title: "attention" },
    cellWidth: cell,
    cellHeight: cell,
    columns: options.columns,
    selectName: heads.length > 1 ? "head_shown" : undefined,
  });
  return new Chart(spec, `Attention patterns of ${heads.length} head${heads.length > 1 ? "s" : ""} (${heads.map((h) => `L${h.layer} H${h.head}`).join(", ")}) × ${w.rows} positions${windowNote}`, explainerOf("attentionHeadsChart"));
}

/** Title and thumbnail size of attentionOverviewChart(). */
export interface AttentionOverviewOptions {
  /** Largest side of each head's thumbnail in cells (default 32): longer patterns keep each block's largest weight. */
  tile?: number;
  title?: string;
}

/** Every head's whole pattern as a thumbnail, layers as rows and heads as columns, drawn as ONE raster. */
export function attentionOverviewChart(stack: AttentionStack, options: AttentionOverviewOptions = {}): Chart {
  const tile = Math.max(4, Math.floor(options.tile ?? 32));
  const { queries: Q, keys: K } = stack;
  const tiles = stack.patterns.map((p) =>
    Array.from({ length: stack.heads }, (_, h) => poolGrid(p.subarray(h * Q * K, (h + 1) * Q * K), Q, K, tile, "max")),
  );
  const first = tiles[0][0];
  const mosaic = tileGrids(tiles.map((row) => row.map((t) => t.values)), first.rows, first.cols, 1);
  const scale = { scheme: PROBABILITY_SCHEME, domain: [0, 1] as [number, number] };
  // Each band (one head or one layer) is a tile plus the gap; drawn at 2 px a cell when it stays small.
  const zoom = Math.max(1, Math.min(4, Math.floor(640 / mosaic.width)));
  const spec = rasterHeatmapSpec({
    title: options.title ?? `Attention of every head (rows: layers, columns: heads; each thumbnail query × key${first.block > 1 ? `, the largest weight of each ${first.block}×${first.block} block` : ""})`,
    panels: [{ title: "all heads", raster: rasterOf(mosaic.values, mosaic.width, mosaic.height, scale) }],
    xLabels: Array.from({ length: stack.heads }, (_, h) => String(h)),
    yLabels: stack.layers.map(String),
    xTitle: "head",
    yTitle: "layer",
    colour: { ...scale, title: "attention" },
    cellWidth: (zoom * mosaic.width) / stack.heads,
    cellHeight: (zoom * mosaic.height) / stack.layers.length,
  });
  return new Chart(spec, `Attention overview: ${stack.layers.length} layers × ${stack.heads} heads, ${K} positions`, explainerOf("attentionOverviewChart"));
}

/** Heads ranked by a per-head score (e.g. the attention summary's "previous" or "entropy"), best first. */
export function rankHeads(summary: TableLike, score: string, count: number, order: "descending" | "ascending" = "descending"): HeadRef[] {
  const names = summary.columnNames();
  for (const c of ["layer", "head", score]) if (!names.includes(c)) throw new DisplayError("top heads", `the summary lacks column "${c}" (it has ${names.join(", ")})`, "rank by one of its score columns");
  const rows = (summary.objects() as Array<Record<string, unknown>>).map((r) => ({ layer: Number(r.layer), head: Number(r.head), score: Number(r[score]) })).filter((r) => Number.isFinite(r.score));
  rows.sort((a, b) => (order === "descending" ? b.score - a.score : a.score - b.score));
  return rows.slice(0, count).map(({ layer, head }) => ({ layer, head }));
}
