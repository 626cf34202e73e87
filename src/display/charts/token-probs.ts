// Token probabilities with alternatives: for each position, the model's candidates for the next token, ranked,
// shaded by probability; the token that actually follows is outlined when the table says which it is.
import { Chart } from "../chart";
import { explainerOf } from "../explainers";
import type { TableLike } from "../table-html";
import { DEFAULT_POSITION_WINDOW, PROBABILITY_SCHEME, nonEmpty, positionLabeller, rowsOf, tokenLabel, windowPositions } from "./common";
import { heatmapSpec } from "./heatmap";

/** Options of tokenProbsChart(): position labels and title. */
export interface TokenProbsChartOptions {
  inputTokens?: string[];
  title?: string;
  /** Positions drawn when the prompt is long: the last `window` (default 48)… */
  window?: number;
  /** …or exactly these. */
  positions?: number[];
}

/**
 * From a table with position, token (a candidate), rank and prob; an optional boolean column "actual" (or
 * "is_actual") marks the candidate equal to the next input token.
 */
export function tokenProbsChart(table: TableLike, options: TokenProbsChartOptions = {}): Chart {
  const name = "token probabilities chart";
  const all = nonEmpty(rowsOf(table, ["position", "token", "rank", "prob"], name), name);
  const shown = windowPositions(all.map((r) => Number(r.position)), options, DEFAULT_POSITION_WINDOW);
  const rows = all.filter((r) => shown.keep.has(Number(r.position)));
  const label = positionLabeller(rows, options.inputTokens);
  const actualColumn = ["actual", "is_actual"].find((c) => table.columnNames().includes(c));
  const data = rows.map((r) => ({
    position: label(Number(r.position)),
    position_index: Number(r.position),
    rank: Number(r.rank),
    candidate: tokenLabel(r.token) + (actualColumn && r[actualColumn] ? " ✓" : ""),
    prob: Number(r.prob),
  }));
  const positions = [...new Set(data.map((d) => d.position_index))].sort((a, b) => a - b);
  const order = positions.map((p) => data.find((d) => d.position_index === p)!.position);
  const ranks = new Set(data.map((d) => d.rank)).size;
  const spec = heatmapSpec({
    title: options.title ?? `Next-token probabilities and alternatives${shown.note}`,
    rows: data,
    x: { field: "rank", title: "candidate rank" },
    y: { field: "position", title: "position (input token)", sort: order },
    color: { field: "prob", title: "probability", scheme: PROBABILITY_SCHEME, domain: [0, 1] },
    text: { field: "candidate", darkAbove: 0.5 },
    tooltip: [
      { field: "position", title: "after" },
      { field: "rank", title: "rank", type: "ordinal" },
      { field: "candidate", title: "candidate" },
      { field: "prob", title: "probability", type: "quantitative", format: ".4f" },
    ],
    xCount: ranks,
    yCount: positions.length,
    cellWidth: 72,
  });
  return new Chart(spec, `Next-token probabilities: top ${ranks} candidates at ${positions.length} positions`, explainerOf("tokenProbsChart"));
}
