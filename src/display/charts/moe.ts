// Mixture-of-experts routing: how much each expert is used per layer, and which expert each token goes to.
import { DisplayError } from "../../errors";
import { Chart } from "../chart";
import { explainerOf } from "../explainers";
import type { TableLike } from "../table-html";
import { PROBABILITY_SCHEME, nonEmpty, positionLabeller, rowsOf, type Row } from "./common";
import { heatmapSpec } from "./heatmap";

/** Options of expertLoadChart(): the load column and title. */
export interface ExpertLoadChartOptions {
  /** Column of the load (default: first of fraction, load, count, weight). */
  value?: string;
  title?: string;
}

/** Expert load heatmap (layer × expert) from a table with layer, expert and a load column. */
export function expertLoadChart(table: TableLike, options: ExpertLoadChartOptions = {}): Chart {
  const name = "expert load chart";
  const names = table.columnNames();
  const value = options.value ?? ["fraction", "load", "count", "weight"].find((c) => names.includes(c));
  if (!value) throw new DisplayError(name, `no load column among ${names.join(", ")} (looked for fraction, load, count, weight)`, 'name it with { value: "<column>" }');
  const rows = nonEmpty(rowsOf(table, ["layer", "expert", value], name), name);
  // Sum over whatever else the table splits by (positions, top-k slots), so each cell is one layer and expert.
  const sums = new Map<string, { layer: number; expert: number; load: number }>();
  for (const r of rows) {
    const key = `${r.layer}|${r.expert}`;
    const cell = sums.get(key) ?? { layer: Number(r.layer), expert: Number(r.expert), load: 0 };
    cell.load += Number(r[value]);
    sums.set(key, cell);
  }
  const data = [...sums.values()];
  const experts = new Set(data.map((d) => d.expert)).size;
  const layers = new Set(data.map((d) => d.layer)).size;
  const spec = heatmapSpec({
    title: options.title ?? `Expert load by layer (${value})`,
    rows: data,
    x: { field: "expert", title: "expert" },
    y: { field: "layer", title: "layer", sort: "descending" },
    color: { field: "load", title: value, scheme: PROBABILITY_SCHEME, format: value === "count" ? "d" : ".2f" },
    text: { field: "load", darkAbove: Math.max(...data.map((d) => d.load)) * 0.6 },
    tooltip: [
      { field: "layer", title: "layer", type: "ordinal" },
      { field: "expert", title: "expert", type: "ordinal" },
      { field: "load", title: value, type: "quantitative", format: value === "count" ? "d" : ".3f" },
    ],
    xCount: experts,
    yCount: layers,
  });
  return new Chart(spec, `Expert load: ${layers} layers × ${experts} experts`, explainerOf("expertLoadChart"));
}

/** Options of expertRoutingChart(): position labels and title. */
export interface RoutingChartOptions {
  inputTokens?: string[];
  title?: string;
}

/**
 * Token × layer expert paths: each cell names the experts a token was routed to at that layer (best first) and
 * is shaded by the top expert's routing weight. Table: layer, position, expert, weight; rank optional.
 */
export function expertRoutingChart(table: TableLike, options: RoutingChartOptions = {}): Chart {
  const name = "expert routing chart";
  const rows = nonEmpty(rowsOf(table, ["layer", "position", "expert", "weight"], name), name);
  const cells = new Map<string, Row[]>();
  for (const r of rows) {
    const key = `${r.layer}|${r.position}`;
    cells.set(key, [...(cells.get(key) ?? []), r]);
  }
  const label = positionLabeller(rows, options.inputTokens);
  const data = [...cells.values()].map((list) => {
    const sorted = [...list].sort((a, b) => Number(b.weight) - Number(a.weight));
    return {
      layer: Number(sorted[0].layer),
      position: label(Number(sorted[0].position)),
      position_index: Number(sorted[0].position),
      experts: sorted.map((r) => `E${r.expert}`).join(" "),
      top_weight: Number(sorted[0].weight),
      weights: sorted.map((r) => `E${r.expert} ${Number(r.weight).toFixed(2)}`).join(", "),
    };
  });
  const positions = [...new Set(data.map((d) => d.position_index))].sort((a, b) => a - b);
  const layers = new Set(data.map((d) => d.layer)).size;
  const spec = heatmapSpec({
    title: options.title ?? "Expert routing per token and layer (text: experts chosen, best first)",
    rows: data,
    x: { field: "position", title: "position (token)", sort: positions.map(label) },
    y: { field: "layer", title: "layer", sort: "descending" },
    color: { field: "top_weight", title: "top weight", scheme: PROBABILITY_SCHEME, domain: [0, 1] },
    text: { field: "experts", darkAbove: 0.6 },
    tooltip: [
      { field: "position", title: "token" },
      { field: "layer", title: "layer", type: "ordinal" },
      { field: "weights", title: "experts (weight)" },
    ],
    xCount: positions.length,
    yCount: layers,
    cellWidth: 56,
  });
  return new Chart(spec, `Expert routing: ${layers} layers × ${positions.length} tokens`, explainerOf("expertRoutingChart"));
}
