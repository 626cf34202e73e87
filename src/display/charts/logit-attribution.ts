// Direct logit attribution: how much each component (embedding, each layer's attention and MLP, the biases) writes
// into one token's logit, as signed bars in the order of the residual stream; and per attention head, as a
// diverging layer × head heatmap. Red takes the logit down, blue pushes it up.
import { Chart } from "../chart";
import { explainerOf } from "../explainers";
import type { TableLike } from "../table-html";
import { CONFIG, DIVERGING_SCHEME, SCHEMA, nonEmpty, rowsOf, tokenLabel } from "./common";
import { heatmapSpec } from "./heatmap";

/** Options of logitAttributionChart() and headAttributionChart(): the target token and title. */
export interface LogitAttributionChartOptions {
  /** The token whose logit is attributed (for the title). */
  target?: string;
  title?: string;
}

function componentLabel(component: string, layer: unknown): string {
  if (component === "embed") return "embedding";
  if (component === "bias") return "biases";
  return `L${layer} ${component}`;
}

/** Bars from a table with component ("embed" | "attn" | "mlp" | "bias"), layer and contribution. */
export function logitAttributionChart(table: TableLike, options: LogitAttributionChartOptions = {}): Chart {
  const name = "logit attribution chart";
  const rows = nonEmpty(rowsOf(table, ["component", "layer", "contribution"], name), name);
  const data = rows.map((r) => {
    const contribution = Number(r.contribution);
    return { part: componentLabel(String(r.component), r.layer), contribution, effect: contribution >= 0 ? "raises" : "lowers" };
  });
  const what = options.target === undefined ? "the logit" : `the logit of "${tokenLabel(options.target)}"`;
  const spec = {
    $schema: SCHEMA,
    title: options.title ?? `Direct logit attribution: what each component writes into ${what}`,
    data: { values: data },
    width: 420,
    height: Math.max(120, 18 * data.length),
    mark: { type: "bar" },
    encoding: {
      y: { field: "part", type: "ordinal", title: "component", sort: data.map((d) => d.part) },
      x: { field: "contribution", type: "quantitative", title: "contribution to the logit" },
      // Two fixed colours by sign (the diverging scheme's ends): a small bar stays visible, unlike a near-white shade.
      color: { field: "effect", type: "nominal", title: "effect on the logit", scale: { domain: ["raises", "lowers"], range: ["#2166ac", "#b2182b"] } },
      tooltip: [
        { field: "part", type: "nominal", title: "component" },
        { field: "contribution", type: "quantitative", title: "contribution", format: ".4f" },
      ],
    },
    config: CONFIG,
  };
  const top = data.reduce((a, b) => (Math.abs(b.contribution) > Math.abs(a.contribution) ? b : a));
  return new Chart(spec, `Direct logit attribution over ${data.length} components; largest: ${top.part} (${top.contribution.toFixed(3)})`, explainerOf("logitAttributionChart"));
}

/** Diverging layer × head heatmap from a table with layer, head and contribution. */
export function headAttributionChart(table: TableLike, options: LogitAttributionChartOptions = {}): Chart {
  const name = "head attribution chart";
  const rows = nonEmpty(rowsOf(table, ["layer", "head", "contribution"], name), name);
  const data = rows.map((r) => ({ layer: Number(r.layer), head: Number(r.head), contribution: Number(r.contribution), text: Number(r.contribution).toFixed(2) }));
  const extent = Math.max(1e-9, ...data.map((d) => Math.abs(d.contribution)).filter(Number.isFinite));
  const layers = new Set(data.map((d) => d.layer)).size;
  const heads = new Set(data.map((d) => d.head)).size;
  const what = options.target === undefined ? "the logit" : `the logit of "${tokenLabel(options.target)}"`;
  const spec = heatmapSpec({
    title: options.title ?? `Direct logit attribution per attention head into ${what}`,
    rows: data,
    x: { field: "head", title: "head" },
    y: { field: "layer", title: "layer", sort: "descending" },
    color: { field: "contribution", title: "contribution", scheme: DIVERGING_SCHEME, domain: [-extent, extent], domainMid: 0 },
    text: { field: "text", darkAbove: extent * 0.6 },
    tooltip: [
      { field: "layer", title: "layer", type: "ordinal" },
      { field: "head", title: "head", type: "ordinal" },
      { field: "contribution", title: "contribution", type: "quantitative", format: ".4f" },
    ],
    xCount: heads,
    yCount: layers,
    cellWidth: 48,
  });
  return new Chart(spec, `Direct logit attribution: ${layers} layers × ${heads} heads`, explainerOf("headAttributionChart"));
}
