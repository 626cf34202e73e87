// Heatmap of per-head patching at each position: one row per head ("L0 H3"), one column per position, on the
// display area's shared heatmap grid and diverging scheme.
import { Chart } from "../display/chart";
import { DIVERGING_SCHEME, nonEmpty, positionLabeller, rowsOf } from "../display/charts/common";
import { heatmapSpec } from "../display/charts/heatmap";
import type { TableLike } from "../display/table-html";

/** Options of headPositionChart(): position labels, the metric's title, the chart's title. */
export interface HeadPositionChartOptions {
  inputTokens?: string[];
  metricTitle?: string;
  title?: string;
}

/** Heatmap of a table with layer, head, position and metric columns. */
export function headPositionChart(table: TableLike, options: HeadPositionChartOptions = {}): Chart {
  const name = "head × position patching chart";
  const rows = nonEmpty(rowsOf(table, ["layer", "head", "position", "metric"], name), name);
  const label = positionLabeller(rows, options.inputTokens);
  const data = rows.map((r) => ({
    head: `L${r.layer} H${r.head}`,
    order: Number(r.layer) * 10000 + Number(r.head),
    position: label(Number(r.position)),
    position_index: Number(r.position),
    metric: Number(r.metric),
  }));
  const positions = [...new Set(data.map((d) => d.position_index))].sort((a, b) => a - b);
  const heads = [...new Map(data.map((d) => [d.order, d.head])).entries()].sort((a, b) => a[0] - b[0]).map(([, h]) => h);
  const extent = Math.max(1e-9, ...data.map((d) => Math.abs(d.metric)).filter(Number.isFinite));
  const title = options.metricTitle ?? "metric";
  const spec = heatmapSpec({
    title: options.title ?? `Per-head patching: ${title}`,
    rows: data,
    x: { field: "position", title: "position (token)", sort: positions.map(label) },
    y: { field: "head", title: "head", sort: heads },
    color: { field: "metric", title, scheme: DIVERGING_SCHEME, domain: [-extent, extent], domainMid: 0, format: ".2f" },
    tooltip: [
      { field: "head", title: "head" },
      { field: "position", title: "position" },
      { field: "metric", title, type: "quantitative", format: ".4f" },
    ],
    xCount: positions.length,
    yCount: heads.length,
  });
  return new Chart(spec, `Per-head patching: ${heads.length} heads × ${positions.length} positions (${title})`);
}
