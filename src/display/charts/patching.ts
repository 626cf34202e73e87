// Activation-patching heatmap: the effect on the metric of patching each (layer, position), diverging around 0.
import { Chart } from "../chart";
import type { TableLike } from "../table-html";
import { DIVERGING_SCHEME, nonEmpty, positionLabeller, rowsOf } from "./common";
import { heatmapSpec } from "./heatmap";

/** Options of patchingChart(): position labels, the effect column and what it measures. */
export interface PatchingChartOptions {
  inputTokens?: string[];
  /** Column of the effect (default "metric"). */
  value?: string;
  /** What the metric measures, for the legend (default: the column name). */
  metricTitle?: string;
  title?: string;
}

/** Heatmap of a patching result table (layer, position, metric). */
export function patchingChart(table: TableLike, options: PatchingChartOptions = {}): Chart {
  const name = "patching chart";
  const value = options.value ?? "metric";
  const rows = nonEmpty(rowsOf(table, ["layer", "position", value], name), name);
  const label = positionLabeller(rows, options.inputTokens);
  const data = rows.map((r) => ({ layer: Number(r.layer), position: label(Number(r.position)), position_index: Number(r.position), metric: Number(r[value]) }));
  const positions = [...new Set(data.map((d) => d.position_index))].sort((a, b) => a - b);
  const layers = new Set(data.map((d) => d.layer)).size;
  const extent = Math.max(1e-9, ...data.map((d) => Math.abs(d.metric)).filter(Number.isFinite));
  const title = options.metricTitle ?? value;
  const spec = heatmapSpec({
    title: options.title ?? `Activation patching: ${title} by layer and position`,
    rows: data,
    x: { field: "position", title: "position (token)", sort: positions.map(label) },
    y: { field: "layer", title: "layer", sort: "descending" },
    color: { field: "metric", title, scheme: DIVERGING_SCHEME, domain: [-extent, extent], domainMid: 0, format: ".2f" },
    tooltip: [
      { field: "layer", title: "layer", type: "ordinal" },
      { field: "position", title: "position" },
      { field: "metric", title, type: "quantitative", format: ".4f" },
    ],
    xCount: positions.length,
    yCount: layers,
  });
  return new Chart(spec, `Activation patching: ${layers} layers × ${positions.length} positions (${title})`);
}
