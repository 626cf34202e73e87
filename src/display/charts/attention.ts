// Attention patterns: query × key heatmaps, one small multiple per head, with a head selector where scripts run.
import { DisplayError } from "../../errors";
import { Chart } from "../chart";
import type { TableLike } from "../table-html";
import { CONFIG, PROBABILITY_SCHEME, SCHEMA, nonEmpty, positionLabeller, rowsOf } from "./common";

/** Options of attentionChart(): the layer and heads drawn. */
export interface AttentionChartOptions {
  /** Layer to draw when the table holds several (default: the lowest present). */
  layer?: number;
  /** Heads to draw (default: all). */
  heads?: number[];
  /** Column of the attention weight (default: first of weight, attention, pattern, prob, value). */
  value?: string;
  inputTokens?: string[];
  title?: string;
}

const VALUE_COLUMNS = ["weight", "attention", "pattern", "prob", "value"];

/** Attention pattern chart from a table with columns (layer,) head, query, key and the weight. */
export function attentionChart(table: TableLike, options: AttentionChartOptions = {}): Chart {
  const name = "attention chart";
  const names = table.columnNames();
  const value = options.value ?? VALUE_COLUMNS.find((c) => names.includes(c));
  if (!value) throw new DisplayError(name, `no weight column among ${names.join(", ")} (looked for ${VALUE_COLUMNS.join(", ")})`, 'name it with { value: "<column>" }');
  let rows = nonEmpty(rowsOf(table, ["head", "query", "key", value], name), name);
  let layer: number | undefined;
  if (names.includes("layer")) {
    const layers = [...new Set(rows.map((r) => Number(r.layer)))].sort((a, b) => a - b);
    layer = options.layer ?? layers[0];
    if (!layers.includes(layer)) throw new DisplayError(name, `layer ${layer} is not in the table (it has layers ${layers.join(", ")})`, "pick one of those layers");
    rows = rows.filter((r) => Number(r.layer) === layer);
  }
  if (options.heads) rows = nonEmpty(rows.filter((r) => options.heads!.includes(Number(r.head))), name);
  const label = positionLabeller(rows, options.inputTokens);
  const data = rows.map((r) => ({
    head: Number(r.head),
    query: label(Number(r.query)),
    key: label(Number(r.key)),
    weight: Number(r[value]),
  }));
  const heads = [...new Set(data.map((d) => d.head))].sort((a, b) => a - b);
  const positions = [...new Set(rows.flatMap((r) => [Number(r.query), Number(r.key)]))].sort((a, b) => a - b);
  const order = positions.map(label);
  const cell = Math.max(8, Math.min(24, Math.floor(220 / positions.length)));
  const tooltip = [
    { field: "head", type: "ordinal", title: "head" },
    { field: "query", type: "nominal", title: "query" },
    { field: "key", type: "nominal", title: "key" },
    { field: "weight", type: "quantitative", title: "attention", format: ".3f" },
  ];
  const spec = {
    $schema: SCHEMA,
    title: options.title ?? `Attention patterns${layer !== undefined ? `, layer ${layer}` : ""} (rows: query, columns: key)`,
    data: { values: data },
    params: [
      {
        name: "head_shown",
        value: -1,
        bind: { input: "select", options: [-1, ...heads], labels: ["all heads", ...heads.map((h) => `head ${h}`)], name: "head " },
      },
    ],
    transform: [{ filter: "head_shown < 0 || datum.head == head_shown" }],
    facet: { field: "head", type: "ordinal", title: "head", header: { labelFontSize: 11 } },
    columns: Math.min(4, heads.length),
    spec: {
      width: cell * positions.length,
      height: cell * positions.length,
      mark: "rect",
      encoding: {
        x: { field: "key", type: "ordinal", sort: order, title: "key", axis: { labelAngle: -45, labelFontSize: positions.length > 16 ? 8 : 10 } },
        y: { field: "query", type: "ordinal", sort: order, title: "query", axis: { labelFontSize: positions.length > 16 ? 8 : 10 } },
        color: { field: "weight", type: "quantitative", title: "attention", scale: { scheme: PROBABILITY_SCHEME, domain: [0, 1] } },
        tooltip,
      },
    },
    resolve: { axis: { x: "independent", y: "independent" } },
    config: CONFIG,
  };
  return new Chart(spec, `Attention patterns${layer !== undefined ? ` of layer ${layer}` : ""}: ${heads.length} heads × ${positions.length} positions`);
}
