// Token attribution: the prompt's tokens in a row, each cell coloured by how much that token contributed to the
// attributed prediction, one row per method (saliency, input × gradient, integrated gradients). Each method's
// values are scaled by their largest magnitude so that the rows share one diverging scale; tooltips give the raw
// values. Token texts are data, escaped wherever the bundle places them.
import { Chart } from "../chart";
import { explainerOf } from "../explainers";
import type { TableLike } from "../table-html";
import { DIVERGING_SCHEME, nonEmpty, positionLabel, rowsOf, tokenLabel } from "./common";
import { heatmapSpec } from "./heatmap";
import type { TokenAttribution } from "../../probe/token-attribution";

export const ATTRIBUTION_METHODS = ["saliency", "input_x_gradient", "integrated_gradients"] as const;
/** A token attribution method: saliency, input × gradient or integrated gradients. */
export type AttributionMethod = (typeof ATTRIBUTION_METHODS)[number];

const METHOD_TITLES: Record<AttributionMethod, string> = {
  saliency: "saliency ‖∇‖",
  input_x_gradient: "input × gradient",
  integrated_gradients: "integrated gradients",
};

/** Methods and title of tokenAttributionChart(). */
export interface TokenAttributionChartOptions {
  /** Methods to draw (rows), default every method column the table has. */
  methods?: AttributionMethod[];
  title?: string;
}

/** From a table with position, token and one column per method (as tokenAttribution returns). */
export function tokenAttributionChart(table: TableLike, options: TokenAttributionChartOptions = {}): Chart {
  const name = "token attribution chart";
  const methods = options.methods ?? ATTRIBUTION_METHODS.filter((m) => table.columnNames().includes(m));
  const rows = nonEmpty(rowsOf(table, ["position", "token", ...methods], name), name);
  const data: Record<string, unknown>[] = [];
  for (const method of methods) {
    const scale = Math.max(...rows.map((r) => Math.abs(Number(r[method])))) || 1;
    for (const r of rows) {
      const value = Number(r[method]);
      data.push({ method: METHOD_TITLES[method], position: positionLabel(Number(r.position), r.token), token: tokenLabel(r.token), value, scaled: value / scale });
    }
  }
  const order = rows.map((r) => positionLabel(Number(r.position), r.token));
  const spec = heatmapSpec({
    title: options.title ?? "Token attribution",
    rows: data,
    x: { field: "position", title: "input token", sort: order },
    y: { field: "method", title: "", sort: methods.map((m) => METHOD_TITLES[m]) },
    color: { field: "scaled", title: "share of max |value|", scheme: DIVERGING_SCHEME, domain: [-1, 1], domainMid: 0 },
    text: { field: "token", darkAbove: 0.6 },
    tooltip: [
      { field: "position", title: "token" },
      { field: "method", title: "method" },
      { field: "value", title: "attribution", type: "quantitative", format: ".4g" },
    ],
    xCount: rows.length,
    yCount: methods.length,
    cellWidth: 64,
  });
  // Text turns white on dark cells of either sign.
  const textLayer = (spec.layer as Array<{ encoding: { color?: { condition?: { test: string } } } }>)[1];
  if (textLayer?.encoding.color?.condition) textLayer.encoding.color.condition.test = "abs(datum['scaled']) > 0.6";
  return new Chart(spec, `Token attribution over ${rows.length} tokens (${methods.map((m) => METHOD_TITLES[m]).join(", ")})`, explainerOf("tokenAttributionChart"));
}

/** The chart of a tokenAttribution() result: its tokens coloured by each method's attribution. */
export function tokenAttributionResultChart(result: TokenAttribution, methods?: AttributionMethod[]): Chart {
  return tokenAttributionChart(result.table, { methods, title: `Token attribution: ${result.what}` });
}
