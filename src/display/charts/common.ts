// Helpers shared by the chart builders: column checks with an error that names what is there, token labels, and
// the colour schemes (sequential, print-safe).
import { DisplayError } from "../../errors";
import { joinByteTokens, labelToken } from "../escape";
import type { TableLike } from "../table-html";

export type Row = Record<string, unknown>;

/** Rows of the table, after checking that every needed column exists. */
export function rowsOf(table: TableLike, needed: string[], chart: string): Row[] {
  const have = table.columnNames();
  const missing = needed.filter((c) => !have.includes(c));
  if (missing.length > 0) {
    throw new DisplayError(
      chart,
      `the table lacks column${missing.length > 1 ? "s" : ""} ${missing.map((c) => `"${c}"`).join(", ")} (it has ${have.map((c) => `"${c}"`).join(", ")})`,
      "pass the table the matching probe returns, or name its columns in the chart's options",
    );
  }
  return table.objects() as Row[];
}

/** Requires a non-empty table. */
export function nonEmpty(rows: Row[], chart: string): Row[] {
  if (rows.length === 0) throw new DisplayError(chart, "the table is empty", "run the probe on a non-empty prompt");
  return rows;
}

/** Label text for a token: readable, leading/trailing spaces shown as "·". */
export const tokenLabel = labelToken;

/** Position labels "3: Paris" keep positions distinct even when a token repeats. */
export function positionLabel(position: number, token: unknown): string {
  return `${position}: ${labelToken(token)}`;
}

export const SCHEMA = "https://vega.github.io/schema/vega-lite/v5.json";

/** Sequential scheme readable in greyscale print (light = low, dark = high). */
export const PROBABILITY_SCHEME = "blues";
/** Diverging scheme for signed values (similarity, patching effects), centred at zero. */
export const DIVERGING_SCHEME = "redblue";

export const CONFIG = {
  view: { stroke: null },
  axis: { labelFontSize: 11, titleFontSize: 12, labelLimit: 160 },
  legend: { labelFontSize: 11, titleFontSize: 11 },
  title: { fontSize: 13, anchor: "start" },
  // DejaVu for Latin text, then Noto CJK and the emoji font where the system has them: token labels in any script.
  font: "DejaVu Sans, Helvetica, Arial, Noto Sans CJK SC, Noto Sans CJK JP, Noto Color Emoji, sans-serif",
};

/** Cell size so the chart stays readable whether it has 4 or 40 rows/columns. */
export function cellSize(count: number, min = 14, max = 48, budget = 640): number {
  return Math.max(min, Math.min(max, Math.floor(budget / Math.max(1, count))));
}

export function numberOption(value: number | undefined, fallback: number): number {
  return value === undefined ? fallback : value;
}

/**
 * Labels positions "i: token": from `inputTokens` when given, else from the table's own input_token column (the
 * probes write one), else the bare index.
 */
export function positionLabeller(rows: Row[], inputTokens?: string[]): (position: number) => string {
  const fromTable = new Map<number, unknown>();
  for (const r of rows) if (r.input_token !== undefined && r.position !== undefined) fromTable.set(Number(r.position), r.input_token);
  // Byte tokens are joined into the characters they spell, which needs the sequence, not one token.
  const sequence = sequenceOf(inputTokens ?? fromTable);
  return (p) => (sequence.has(p) ? positionLabel(p, sequence.get(p)) : String(p));
}

function sequenceOf(byPosition: Map<number, unknown> | readonly unknown[]): Map<number, string> {
  const entries = Array.isArray(byPosition) ? byPosition.map((t, i) => [i, t] as const) : [...(byPosition as Map<number, unknown>).entries()].sort((a, b) => a[0] - b[0]);
  const joined = joinByteTokens(entries.map(([, t]) => t));
  return new Map(entries.map(([p], i) => [p, joined[i]]));
}

/**
 * Keeps the rows of one residual stream when the table has a "stream" column (the lens can read resid_post,
 * attn_out and mlp_out side by side); default "resid_post", or the only stream present.
 */
export function oneStream(rows: Row[], stream: string | undefined, chart: string): Row[] {
  if (rows.length === 0 || rows[0].stream === undefined) return rows;
  const streams = [...new Set(rows.map((r) => String(r.stream)))];
  const chosen = stream ?? (streams.includes("resid_post") ? "resid_post" : streams[0]);
  if (!streams.includes(chosen)) {
    throw new DisplayError(chart, `stream "${chosen}" is not in the table (it has ${streams.join(", ")})`, "pick one of those streams");
  }
  return rows.filter((r) => r.stream === chosen);
}

/**
 * The positions a chart draws when a prompt is long: the ones named in `positions`, else the last `window`
 * (default `fallback`) of those present. `note` says what was left out, for the title (empty when nothing was).
 */
export function windowPositions(present: number[], options: { positions?: number[]; window?: number }, fallback: number): { keep: Set<number>; note: string } {
  const sorted = [...new Set(present)].sort((a, b) => a - b);
  if (options.positions) {
    const missing = options.positions.filter((p) => !sorted.includes(p));
    if (missing.length > 0) throw new DisplayError("chart", `positions ${missing.join(", ")} are not in the table (it has ${sorted[0]} … ${sorted[sorted.length - 1]})`, "name positions the probe read");
    const keep = new Set(options.positions);
    return { keep, note: keep.size < sorted.length ? ` (${keep.size} of ${sorted.length} positions)` : "" };
  }
  const window = options.window ?? fallback;
  if (!(window >= 1)) throw new DisplayError("chart", `window is ${window}`, "show at least 1 position");
  if (sorted.length <= window) return { keep: new Set(sorted), note: "" };
  const kept = sorted.slice(-Math.floor(window));
  return { keep: new Set(kept), note: ` (last ${kept.length} of ${sorted.length} positions)` };
}

/** Default positions drawn by per-position charts (lens grid, token probabilities, norms) before windowing. */
export const DEFAULT_POSITION_WINDOW = 48;
