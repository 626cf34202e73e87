// Several charts as ONE chart: a Vega-Lite vertical concatenation, so that a result with several heatmaps (e.g.
// activation patching of resid_pre, attn_out and mlp_out) is one display message, one SVG, one interactive view.
import { DisplayError } from "../../errors";
import { Chart, type VegaLiteSpec } from "../chart";
import { CONFIG, SCHEMA } from "./common";

/** Options of concatCharts(): the overall title and summary. */
export interface ConcatOptions {
  /** Title above all the panels. */
  title?: string;
  /** The text/plain summary (default: the panels' summaries joined). */
  summary?: string;
  /** Panels per row (default 1: one column, top to bottom). */
  columns?: number;
}

/** One chart whose panels are `charts`, top to bottom (or `columns` per row), each keeping its own scales, legend and title. */
export function concatCharts(charts: Chart[], options: ConcatOptions = {}): Chart {
  if (!Array.isArray(charts) || charts.length === 0 || !charts.every((c) => c instanceof Chart)) {
    throw new DisplayError("concatenated chart", "needs a non-empty list of charts", "pass the charts to stack, e.g. [patchingChart(a), patchingChart(b)]");
  }
  const columns = options.columns ?? 1;
  if (!Number.isInteger(columns) || columns < 1) throw new DisplayError("concatenated chart", `columns is ${columns}`, "use a whole number of panels per row, 1 or more");
  if (charts.length === 1 && options.title === undefined) return charts[0];
  // $schema and config belong to the top level of a Vega-Lite spec only.
  const panels = charts.map(({ spec }) => {
    const { $schema: _schema, config: _config, ...panel } = spec as VegaLiteSpec & { $schema?: unknown; config?: unknown };
    return panel;
  });
  const spec: VegaLiteSpec = {
    $schema: SCHEMA,
    ...(options.title ? { title: options.title } : {}),
    ...(columns === 1 ? { vconcat: panels } : { concat: panels, columns }),
    spacing: 24,
    // Each panel has its own colour domain (a recovery metric, a head score): never merge them into one legend.
    resolve: { scale: { color: "independent" }, legend: { color: "independent" } },
    config: CONFIG,
  };
  return new Chart(spec, options.summary ?? charts.map((c) => c.summary).join("; "));
}
