// Attention patterns: query × key heatmaps, one small multiple per head, with a head selector where scripts run.
import { DisplayError } from "../../errors";
import { Chart } from "../chart";
import { explainerOf } from "../explainers";
import type { TableLike } from "../table-html";
import { CONFIG, PROBABILITY_SCHEME, SCHEMA, nonEmpty, positionLabel, positionLabeller, rowsOf, type Row } from "./common";
import { attentionHeadsChart, attentionStackOf } from "./attention-stack";
import { joinByteTokens } from "../escape";

/** Options of attentionChart(): the layer and heads drawn. */
export interface AttentionChartOptions {
  /** Layer to draw when the table holds several (default: the lowest present). */
  layer?: number;
  /** Heads to draw (default: all). */
  heads?: number[];
  /** Column of the attention weight (default: first of weight, attention, pattern, prob, value). */
  value?: string;
  /** Labels of the positions (default: the table's key_token column, else the position numbers). */
  inputTokens?: string[];
  title?: string;
  /**
   * Draw the cells as a PNG raster instead of one vector rectangle each (default: when the layer has more than
   * 4096 cells: heads × positions²). The raster view shows the last `window` positions.
   */
  raster?: boolean;
  /** Positions a raster shows, the last ones (default 128); attention on earlier keys is summed into one column. */
  window?: number;
}

/** Above this many cells (heads × positions²) a layer is drawn as rasters. */
export const VECTOR_ATTENTION_CELLS = 4096;

/** Position labels from the table's own token column when no tokens are given, so axes show the prompt. */
function tokenLabeller(rows: Row[], inputTokens?: string[]): (position: number) => string {
  if (inputTokens || !rows.some((r) => r.key_token !== undefined && r.key_token !== null)) return positionLabeller(rows, inputTokens);
  const byKey = new Map<number, unknown>();
  for (const r of rows) if (r.key_token !== undefined && r.key_token !== null) byKey.set(Number(r.key), r.key_token);
  const keys = [...byKey.keys()].sort((a, b) => a - b);
  const joined = joinByteTokens(keys.map((k) => byKey.get(k)));
  const tokens = new Map(keys.map((k, i) => [k, joined[i]]));
  return (p) => (tokens.has(p) ? positionLabel(p, tokens.get(p)) : String(p));
}

const VALUE_COLUMNS = ["weight", "attention", "pattern", "prob", "value"];

/** Attention pattern chart from a table with columns (layer,) head, query, key and the weight. */
export function attentionChart(table: TableLike, options: AttentionChartOptions = {}): Chart {
  const name = "attention chart";
  const names = table.columnNames();
  const value = options.value ?? VALUE_COLUMNS.find((c) => names.includes(c));
  if (!value) throw new DisplayError(name, `no weight column among ${names.join(", ")} (looked for ${VALUE_COLUMNS.join(", ")})`, 'name it with { value: "<column>" }');
  const layerValues = names.includes("layer") ? columnOf(table, "layer") : null;
  const layerCount = layerValues ? new Set(Array.from(layerValues, Number)).size : 1;
  if (options.raster ?? table.numRows() / Math.max(1, layerCount) > VECTOR_ATTENTION_CELLS) {
    const layerArg = options.layer ?? (layerValues ? Math.min(...new Set(Array.from(layerValues, Number))) : undefined);
    const stack = attentionStackOf(table, value, layerArg);
    if (stack.layers.length === 0) throw new DisplayError(name, `layer ${layerArg} is not in the table`, "pick a layer the table holds");
    if (options.inputTokens) options.inputTokens.forEach((t, i) => (stack.tokens[i] = t));
    const heads = (options.heads ?? Array.from({ length: stack.heads }, (_, h) => h)).map((head) => ({ layer: stack.layers[0], head }));
    return attentionHeadsChart(stack, heads, { window: options.window, title: options.title });
  }
  let rows = nonEmpty(rowsOf(table, ["head", "query", "key", value], name), name);
  let layer: number | undefined;
  if (names.includes("layer")) {
    const layers = [...new Set(rows.map((r) => Number(r.layer)))].sort((a, b) => a - b);
    layer = options.layer ?? layers[0];
    if (!layers.includes(layer)) throw new DisplayError(name, `layer ${layer} is not in the table (it has layers ${layers.join(", ")})`, "pick one of those layers");
    rows = rows.filter((r) => Number(r.layer) === layer);
  }
  if (options.heads) rows = nonEmpty(rows.filter((r) => options.heads!.includes(Number(r.head))), name);
  const label = tokenLabeller(rows, options.inputTokens);
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
  return new Chart(spec, `Attention patterns${layer !== undefined ? ` of layer ${layer}` : ""}: ${heads.length} heads × ${positions.length} positions`, explainerOf("attentionChart"));
}

function columnOf(table: TableLike & { array?: (name: string) => ArrayLike<unknown> }, column: string): ArrayLike<unknown> {
  return typeof table.array === "function" ? table.array(column) : (table.objects() as Row[]).map((r) => r[column]);
}
