// Logit-lens grid: one cell per (layer, position); the cell's text is the lens's top token at that layer, its
// colour the token's probability. Reading up a column shows the prediction forming through the layers.
import { Chart } from "../chart";
import { explainerOf } from "../explainers";
import type { TableLike } from "../table-html";
import { DEFAULT_POSITION_WINDOW, nonEmpty, oneStream, positionLabeller, rowsOf, tokenLabel, windowPositions, PROBABILITY_SCHEME, type Row } from "./common";
import { heatmapSpec } from "./heatmap";

/** Options of logitLensChart(): position labels, title, alternatives in the tooltip. */
export interface LogitLensChartOptions {
  /** The prompt's tokens, to label positions (position i is labelled with the token read there). */
  inputTokens?: string[];
  title?: string;
  /** Alternatives listed in the tooltip (default 5). */
  alternatives?: number;
  /** Residual stream to draw when the table holds several (default "resid_post"). */
  stream?: string;
  /** Positions drawn when the prompt is long: the last `window` (default 48)… */
  window?: number;
  /** …or exactly these. */
  positions?: number[];
}

interface Cell {
  layer: number;
  position: number;
  top: Row;
  others: Row[];
}

/** Groups the long table (top-k rows per cell) into cells, each with its best-ranked row first. */
function cellsOf(rows: Row[]): Cell[] {
  const byKey = new Map<string, Row[]>();
  for (const r of rows) {
    const key = `${r.layer}|${r.position}`;
    const list = byKey.get(key);
    if (list) list.push(r);
    else byKey.set(key, [r]);
  }
  return [...byKey.values()].map((list) => {
    const sorted = [...list].sort((a, b) => Number(a.rank) - Number(b.rank));
    return { layer: Number(sorted[0].layer), position: Number(sorted[0].position), top: sorted[0], others: sorted.slice(1) };
  });
}

/** Logit-lens grid from the lens table (columns layer, position, token, rank, prob; entropy optional). */
export function logitLensChart(table: TableLike, options: LogitLensChartOptions = {}): Chart {
  const name = "logit lens chart";
  const all = nonEmpty(oneStream(rowsOf(table, ["layer", "position", "token", "rank", "prob"], name), options.stream, name), name);
  const shown = windowPositions(all.map((r) => Number(r.position)), options, DEFAULT_POSITION_WINDOW);
  const rows = all.filter((r) => shown.keep.has(Number(r.position)));
  const label = positionLabeller(rows, options.inputTokens);
  const cells = cellsOf(rows);
  const k = options.alternatives ?? 5;
  const layers = [...new Set(cells.map((c) => c.layer))].sort((a, b) => a - b);
  const positions = [...new Set(cells.map((c) => c.position))].sort((a, b) => a - b);
  const data = cells.map((c) => ({
    layer: c.layer,
    position: c.position,
    position_label: label(c.position),
    top_token: tokenLabel(c.top.token),
    prob: Number(c.top.prob),
    entropy: c.top.entropy === undefined ? null : Number(c.top.entropy),
    alternatives: c.others
      .slice(0, k - 1)
      .map((o) => `${tokenLabel(o.token)} ${(Number(o.prob) * 100).toFixed(1)}%`)
      .join(", "),
  }));
  const labelOrder = positions.map((p) => data.find((d) => d.position === p)!.position_label);
  const spec = heatmapSpec({
    title: options.title ?? `Logit lens: top token by layer${shown.note}`,
    rows: data,
    x: { field: "position_label", title: "position (input token)", sort: labelOrder },
    y: { field: "layer", title: "layer", sort: "descending" },
    color: { field: "prob", title: "probability", scheme: PROBABILITY_SCHEME, domain: [0, 1] },
    text: { field: "top_token", darkAbove: 0.5 },
    tooltip: [
      { field: "layer", title: "layer", type: "ordinal" },
      { field: "position_label", title: "position" },
      { field: "top_token", title: "top token" },
      { field: "prob", title: "probability", type: "quantitative", format: ".3f" },
      ...(data.some((d) => d.entropy !== null) ? [{ field: "entropy", title: "entropy (nats)", type: "quantitative" as const, format: ".3f" }] : []),
      { field: "alternatives", title: "next best" },
    ],
    xCount: positions.length,
    yCount: layers.length,
    cellWidth: 72,
  });
  return new Chart(spec, `Logit lens: ${layers.length} layers × ${positions.length} positions (cell text = top token, colour = probability)`, explainerOf("logitLensChart"));
}
