// Residual-stream norm by layer: how large the stream grows, one line per position.
import { Chart } from "../chart";
import type { TableLike } from "../table-html";
import { nonEmpty, positionLabeller, rowsOf } from "./common";
import { lineSpec } from "./line";

/** Options of residualNormChart(): the value column, position labels, title. */
export interface ResidualNormChartOptions {
  /** Column of the norm (default "norm"). */
  value?: string;
  inputTokens?: string[];
  title?: string;
}

/** Lines of the residual norm over layers, from a table with layer, norm and (optionally) position. */
export function residualNormChart(table: TableLike, options: ResidualNormChartOptions = {}): Chart {
  const name = "residual norm chart";
  const value = options.value ?? "norm";
  const rows = nonEmpty(rowsOf(table, ["layer", value], name), name);
  const hasPosition = table.columnNames().includes("position");
  const label = positionLabeller(rows, options.inputTokens);
  const data = rows.map((r) => ({
    layer: Number(r.layer),
    norm: Number(r[value]),
    position: hasPosition ? label(Number(r.position)) : "all",
  }));
  const spec = lineSpec({
    title: options.title ?? "Residual stream norm by layer",
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
  return new Chart(spec, `Residual norm over ${new Set(data.map((d) => d.layer)).size} layers`);
}
