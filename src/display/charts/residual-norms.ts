// Residual-stream norm by layer: how large the stream grows, one line per position.
import { Chart } from "../chart";
import { explainerOf } from "../explainers";
import type { TableLike } from "../table-html";
import { nonEmpty, positionLabeller, rowsOf, windowPositions } from "./common";
import { lineSpec } from "./line";

/** Options of residualNormChart(): the value column, position labels, title. */
export interface ResidualNormChartOptions {
  /** Column of the norm (default "norm"). */
  value?: string;
  inputTokens?: string[];
  title?: string;
  /** Lines drawn when the prompt is long: the last `window` positions (default 16)… */
  window?: number;
  /** …or exactly these. */
  positions?: number[];
}

/** Lines of the residual norm over layers, from a table with layer, norm and (optionally) position. */
export function residualNormChart(table: TableLike, options: ResidualNormChartOptions = {}): Chart {
  const name = "residual norm chart";
  const value = options.value ?? "norm";
  const all = nonEmpty(rowsOf(table, ["layer", value], name), name);
  const hasPosition = table.columnNames().includes("position");
  const shown = hasPosition ? windowPositions(all.map((r) => Number(r.position)), options, 16) : { keep: null, note: "" };
  const rows = shown.keep ? all.filter((r) => shown.keep!.has(Number(r.position))) : all;
  const label = positionLabeller(rows, options.inputTokens);
  const data = rows.map((r) => ({
    layer: Number(r.layer),
    norm: Number(r[value]),
    position: hasPosition ? label(Number(r.position)) : "all",
  }));
  const spec = lineSpec({
    title: options.title ?? `Residual stream norm by layer${shown.note}`,
    rows: data,
    x: { field: "layer", title: "layer" },
    y: { field: "norm", title: "L2 norm" },
    series: hasPosition ? { field: "position", title: "position", sort: [...new Set(data.map((d) => d.position))] } : undefined,
    tooltip: [
      { field: "position", title: "position" },
      { field: "layer", title: "layer", type: "ordinal" },
      { field: "norm", title: "norm", type: "quantitative", format: ".3f" },
    ],
  });
  return new Chart(spec, `Residual norm over ${new Set(data.map((d) => d.layer)).size} layers`, explainerOf("residualNormChart"));
}
