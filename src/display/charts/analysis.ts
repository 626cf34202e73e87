// Charts of the run-overview analyses: parameters by component, histograms (logits, log-probabilities, layer
// activations), attention by distance, PCA scatter, two-prompt comparison and MoE balance. Each grows at most with
// layers × heads or layers × positions, never with positions².
import { Chart } from "../chart";
import { explainerOf } from "../explainers";
import type { TableLike } from "../table-html";
import { CONFIG, DIVERGING_SCHEME, SCHEMA, nonEmpty, positionLabel, rowsOf, tokenLabel } from "./common";
import { heatmapSpec } from "./heatmap";
import { lineSpec } from "./line";

const spec = (body: Record<string, unknown>) => ({ $schema: SCHEMA, config: CONFIG, ...body });

/** Bars of parameters per component (modelOverview(...).parameters). */
export function parameterChart(table: TableLike, options: { title?: string } = {}): Chart {
  const rows = nonEmpty(rowsOf(table, ["component", "parameters"], "parameter chart"), "parameter chart");
  const total = rows.reduce((s, r) => s + Number(r.parameters), 0);
  return new Chart(
    spec({
      title: options.title ?? "Parameters by component",
      data: { values: rows.map((r) => ({ component: r.component, parameters: Number(r.parameters), share: Number(r.parameters) / total })) },
      width: 420,
      mark: "bar",
      encoding: {
        y: { field: "component", type: "nominal", sort: "-x", title: null },
        x: { field: "parameters", type: "quantitative", title: "parameters", axis: { format: "~s" } },
        tooltip: [{ field: "component" }, { field: "parameters", type: "quantitative", format: ",d" }, { field: "share", type: "quantitative", format: ".1%" }],
      },
    }),
    `${total.toLocaleString("en")} parameters in ${rows.length} components`,
    explainerOf("parameterChart"),
  );
}

/** Bars of a binned histogram (lower, upper, count), one panel per value of `facet` (e.g. kind or layer). */
export function histogramChart(table: TableLike, options: { facet?: string; title?: string; x?: string } = {}): Chart {
  const name = "histogram chart";
  const rows = nonEmpty(rowsOf(table, ["lower", "upper", "count"], name), name);
  const facet = options.facet && table.columnNames().includes(options.facet) ? options.facet : undefined;
  const values = rows.map((r) => ({ lower: Number(r.lower), upper: Number(r.upper), count: Number(r.count), ...(facet ? { [facet]: String(r[facet]) } : {}) }));
  const layer = {
    mark: { type: "bar", tooltip: true },
    encoding: {
      x: { field: "lower", type: "quantitative", bin: { binned: true }, title: options.x ?? "value" },
      x2: { field: "upper" },
      y: { field: "count", type: "quantitative", title: "count", scale: { type: "symlog" } },
      tooltip: [{ field: "lower", format: ".3g" }, { field: "upper", format: ".3g" }, { field: "count", type: "quantitative" }],
    },
  };
  const body = facet
    ? { data: { values }, facet: { field: facet, type: "nominal", title: facet }, columns: 3, resolve: { scale: { x: "independent" } }, spec: { width: 220, height: 140, ...layer } }
    : { data: { values }, width: 420, height: 200, ...layer };
  const panels = facet ? new Set(rows.map((r) => String(r[facet]))).size : 1;
  return new Chart(spec({ title: options.title ?? "Histogram", ...body }), `Histogram, ${panels} panel(s) of ${values.length / panels} bins`, explainerOf("histogramChart"));
}

/** Attention mass by distance, one line per head of `layer` (attentionDistance(...).profile), up to `maxDistance`. */
export function attentionDistanceChart(table: TableLike, options: { layer?: number; maxDistance?: number; title?: string } = {}): Chart {
  const name = "attention distance chart";
  const all = nonEmpty(rowsOf(table, ["layer", "head", "distance", "mass"], name), name);
  const layer = options.layer ?? Number(all[0].layer);
  const maxDistance = options.maxDistance ?? 32;
  const rows = all.filter((r) => Number(r.layer) === layer && Number(r.distance) <= maxDistance).map((r) => ({ distance: Number(r.distance), mass: Number(r.mass), head: `H${r.head}` }));
  const heads = [...new Set(rows.map((r) => r.head))];
  return new Chart(
    lineSpec({
      title: options.title ?? `Attention by distance, layer ${layer}`,
      rows,
      x: { field: "distance", title: "distance (query − key, tokens)" },
      y: { field: "mass", title: "mean attention" },
      series: { field: "head", title: "head", sort: heads },
      tooltip: [{ field: "head", title: "head" }, { field: "distance", title: "distance", type: "ordinal" }, { field: "mass", title: "mass", type: "quantitative", format: ".3f" }],
    }),
    `Attention by distance for ${heads.length} heads of layer ${layer}`,
    explainerOf("attentionDistanceChart"),
  );
}

/** Each head as a point at (d50, d90), coloured by its distance class (attentionDistance(...).heads). */
export function headDistanceChart(table: TableLike, options: { title?: string } = {}): Chart {
  const rows = nonEmpty(rowsOf(table, ["layer", "head", "d50", "d90", "distance_class"], "head distance chart"), "head distance chart");
  const values = rows.map((r) => ({ head: `L${r.layer}H${r.head}`, d50: Number(r.d50), d90: Number(r.d90), class: r.distance_class, labels: r.labels ?? "" }));
  return new Chart(
    spec({
      title: options.title ?? "How far each head looks",
      data: { values },
      width: 360,
      height: 260,
      mark: { type: "point", filled: true, size: 70, opacity: 0.8 },
      encoding: {
        x: { field: "d50", type: "quantitative", title: "distance holding 50 % of attention", scale: { type: "symlog" } },
        y: { field: "d90", type: "quantitative", title: "distance holding 90 %", scale: { type: "symlog" } },
        color: { field: "class", type: "nominal", sort: ["very local", "local", "mixed", "global"], scale: { scheme: "viridis" } },
        tooltip: [{ field: "head" }, { field: "class" }, { field: "d50" }, { field: "d90" }, { field: "labels" }],
      },
    }),
    `${values.length} heads by attention distance`,
    explainerOf("headDistanceChart"),
  );
}

/** Tokens on two principal components (embeddingPca(...).scores), coloured by `color` (e.g. a section column). */
export function pcaChart(table: TableLike, options: { color?: string; title?: string; x?: string; y?: string } = {}): Chart {
  const [x, y] = [options.x ?? "pc1", options.y ?? "pc2"];
  const rows = nonEmpty(rowsOf(table, ["position", x, y], "PCA chart"), "PCA chart");
  const color = options.color && table.columnNames().includes(options.color) ? options.color : undefined;
  const values = rows.map((r) => ({ x: Number(r[x]), y: Number(r[y]), token: positionLabel(Number(r.position), r.input_token), ...(color ? { group: String(r[color]) } : {}) }));
  return new Chart(
    spec({
      title: options.title ?? "Token representations, first two principal components",
      data: { values },
      width: 380,
      height: 300,
      layer: [
        { mark: { type: "point", filled: true, size: 60 }, encoding: { x: { field: "x", type: "quantitative", title: x }, y: { field: "y", type: "quantitative", title: y }, ...(color ? { color: { field: "group", type: "nominal", title: color } } : {}), tooltip: [{ field: "token" }, { field: "x", format: ".3g" }, { field: "y", format: ".3g" }] } },
        ...(values.length <= 60 ? [{ mark: { type: "text", dx: 6, align: "left", fontSize: 9 }, encoding: { x: { field: "x", type: "quantitative" }, y: { field: "y", type: "quantitative" }, text: { field: "token" } } }] : []),
      ],
    }),
    `${values.length} tokens on ${x} and ${y}`,
    explainerOf("pcaChart"),
  );
}

/** Distance between two runs by layer and position (compareRuns(...).table): L2 of the difference, or cosine. */
export function comparisonChart(table: TableLike, options: { value?: "l2" | "cosine"; title?: string } = {}): Chart {
  const value = options.value ?? "l2";
  const rows = nonEmpty(rowsOf(table, ["layer", "position", value], "comparison chart"), "comparison chart");
  const positions = [...new Set(rows.map((r) => Number(r.position)))];
  const layers = [...new Set(rows.map((r) => Number(r.layer)))];
  const label = new Map(rows.map((r) => [Number(r.position), r.token_a === r.token_b ? positionLabel(Number(r.position), r.token_a) : `${r.position}: ${tokenLabel(r.token_a)} / ${tokenLabel(r.token_b)}`]));
  const values = rows.map((r) => ({ layer: Number(r.layer), position: label.get(Number(r.position)), value: Number(r[value]) }));
  return new Chart(
    heatmapSpec({
      title: options.title ?? (value === "l2" ? "How far apart the two runs are (L2 of the difference)" : "Cosine between the two runs"),
      rows: values,
      x: { field: "position", title: "position: token A / token B", sort: positions.map((p) => label.get(p)) },
      y: { field: "layer", title: "layer", sort: "descending" },
      color: value === "l2" ? { field: "value", title: "L2", scheme: "oranges" } : { field: "value", title: "cosine", scheme: DIVERGING_SCHEME, domain: [-1, 1], domainMid: 0 },
      tooltip: [{ field: "position", title: "position" }, { field: "layer", title: "layer" }, { field: "value", title: value, format: ".3f" }],
      xCount: positions.length,
      yCount: layers.length,
    }),
    `Two runs compared over ${layers.length} layers × ${positions.length} positions (${value})`,
    explainerOf("comparisonChart"),
  );
}

/** Load balance per MoE layer (moeInsights(...).balance): the auxiliary-loss proxy against its even value. */
export function moeBalanceChart(table: TableLike, options: { title?: string } = {}): Chart {
  const rows = nonEmpty(rowsOf(table, ["layer", "aux_loss_proxy", "even_aux_loss"], "MoE balance chart"), "MoE balance chart");
  const values = rows.flatMap((r) => [
    { layer: Number(r.layer), value: Number(r.aux_loss_proxy), series: "auxiliary-loss proxy" },
    { layer: Number(r.layer), value: Number(r.even_aux_loss), series: "even routing (= k)" },
  ]);
  return new Chart(
    lineSpec({
      title: options.title ?? "Router load balance by layer",
      rows: values,
      x: { field: "layer", title: "layer" },
      y: { field: "value", title: "E · Σ fᵢ Pᵢ" },
      series: { field: "series", title: "" },
      tooltip: [{ field: "series", title: "" }, { field: "layer", title: "layer", type: "ordinal" }, { field: "value", title: "value", type: "quantitative", format: ".3f" }],
    }),
    `Load balance over ${rows.length} MoE layers`,
    explainerOf("moeBalanceChart"),
  );
}
