// A score per attention head (induction, previous-token, ablation effect): layer × head heatmap.
import { Chart } from "../chart";
import { explainerOf } from "../explainers";
import type { TableLike } from "../table-html";
import { PROBABILITY_SCHEME, nonEmpty, rowsOf } from "./common";
import { heatmapSpec } from "./heatmap";

/** Options of headScoresChart(): the score column and what it measures. */
export interface HeadScoresChartOptions {
  /** Column of the score (default "score"). */
  value?: string;
  /** What the score measures, for the title and legend (default: the column name). */
  scoreTitle?: string;
  /** Colour domain (default [0, max score]). */
  domain?: [number, number];
  title?: string;
}

/** Heatmap of a per-head score table (layer, head, score). */
export function headScoresChart(table: TableLike, options: HeadScoresChartOptions = {}): Chart {
  const name = "head scores chart";
  const value = options.value ?? "score";
  const rows = nonEmpty(rowsOf(table, ["layer", "head", value], name), name);
  const data = rows.map((r) => ({ layer: Number(r.layer), head: Number(r.head), score: Number(r[value]) }));
  const title = options.scoreTitle ?? value;
  const layers = new Set(data.map((d) => d.layer)).size;
  const heads = new Set(data.map((d) => d.head)).size;
  const max = Math.max(...data.map((d) => d.score).filter(Number.isFinite));
  const domain = options.domain ?? [0, max > 0 ? max : 1];
  const spec = heatmapSpec({
    title: options.title ?? `${title} per head`,
    rows: data.map((d) => ({ ...d, score_text: d.score.toFixed(2) })),
    x: { field: "head", title: "head" },
    y: { field: "layer", title: "layer", sort: "descending" },
    color: { field: "score", title, scheme: PROBABILITY_SCHEME, domain },
    text: { field: "score_text", darkAbove: domain[0] + (domain[1] - domain[0]) * 0.6 },
    tooltip: [
      { field: "layer", title: "layer", type: "ordinal" },
      { field: "head", title: "head", type: "ordinal" },
      { field: "score", title, type: "quantitative", format: ".4f" },
    ],
    xCount: heads,
    yCount: layers,
    cellWidth: 40,
  });
  return new Chart(spec, `${title}: ${layers} layers × ${heads} heads`, explainerOf("headScoresChart"));
}
