// How a target token's probability (or rank) evolves through the layers, and the lens entropy by layer.
import { DisplayError } from "../../errors";
import { Chart } from "../chart";
import { explainerOf } from "../explainers";
import type { TableLike } from "../table-html";
import { nonEmpty, oneStream, positionLabeller, rowsOf, tokenLabel, type Row } from "./common";
import { lineSpec } from "./line";

/** Options of targetTrajectoryChart(): the column plotted and the target column. */
export interface TrajectoryChartOptions {
  /** "prob" (default), "logprob" or "rank": the column plotted. */
  metric?: "prob" | "logprob" | "rank";
  /** Column naming the target token, one line per target (default: "target" if present, else "token"). */
  targetColumn?: string;
  /** Keep only this position (default: every position present, one line per target and position). */
  position?: number;
  /** Residual stream when the table holds several (default "resid_post"). */
  stream?: string;
  title?: string;
}

const METRIC_TITLES = { prob: "probability", logprob: "log-probability", rank: "rank (1 = top)" };

/**
 * Target trajectory from a table with columns layer, a target column and the metric (prob, logprob or rank);
 * a position column, when present, splits lines by position.
 */
export function targetTrajectoryChart(table: TableLike, options: TrajectoryChartOptions = {}): Chart {
  const name = "target trajectory chart";
  const metric = options.metric ?? "prob";
  const names = table.columnNames();
  const targetColumn = options.targetColumn ?? (names.includes("target") ? "target" : "token");
  let rows = nonEmpty(oneStream(rowsOf(table, ["layer", targetColumn, metric], name), options.stream, name), name);
  const hasPosition = names.includes("position");
  if (options.position !== undefined) {
    if (!hasPosition) throw new DisplayError(name, `option position=${options.position} given but the table has no "position" column`, "drop the option");
    rows = nonEmpty(rows.filter((r) => Number(r.position) === options.position), name);
  }
  const positions = new Set(rows.map((r) => r.position));
  const data = rows.map((r: Row) => ({
    layer: Number(r.layer),
    value: Number(r[metric]),
    series: hasPosition && positions.size > 1 ? `${tokenLabel(r[targetColumn])} @ ${Number(r.position)}` : tokenLabel(r[targetColumn]),
    target: tokenLabel(r[targetColumn]),
    position: hasPosition ? Number(r.position) : null,
  }));
  const targets = [...new Set(data.map((d) => d.target))];
  const spec = lineSpec({
    title: options.title ?? `Target ${METRIC_TITLES[metric]} by layer: ${targets.slice(0, 4).join(", ")}${targets.length > 4 ? ", …" : ""}`,
    rows: data,
    x: { field: "layer", title: "layer" },
    y: metric === "rank"
      ? { field: "value", title: METRIC_TITLES[metric], scale: { type: "log", reverse: true } }
      : { field: "value", title: METRIC_TITLES[metric], ...(metric === "prob" ? { scale: { domain: [0, 1] }, format: ".0%" } : {}) },
    series: { field: "series", title: "target" },
    tooltip: [
      { field: "target", title: "target" },
      { field: "layer", title: "layer", type: "ordinal" },
      ...(hasPosition ? [{ field: "position", title: "position", type: "ordinal" as const }] : []),
      { field: "value", title: METRIC_TITLES[metric], type: "quantitative", format: metric === "rank" ? "d" : ".4f" },
    ],
  });
  return new Chart(spec, `Target trajectory (${METRIC_TITLES[metric]}) over ${new Set(data.map((d) => d.layer)).size} layers for ${targets.join(", ")}`, explainerOf("targetTrajectoryChart"));
}

/** Options of entropyChart(): positions drawn, their labels, the stream. */
export interface EntropyChartOptions {
  /** Positions to draw (default: every position, or the last 8 when there are more: one line each). */
  positions?: number[];
  inputTokens?: string[];
  stream?: string;
  title?: string;
}

/** Lens entropy (nats) by layer, one line per position, from the lens table (layer, position, entropy). */
export function entropyChart(table: TableLike, options: EntropyChartOptions = {}): Chart {
  const name = "entropy chart";
  const rows = nonEmpty(oneStream(rowsOf(table, ["layer", "position", "entropy"], name), options.stream, name), name);
  const labelOf = positionLabeller(rows, options.inputTokens);
  const all = [...new Set(rows.map((r) => Number(r.position)))].sort((a, b) => a - b);
  const wanted = new Set(options.positions ?? all.slice(-8));
  const seen = new Set<string>();
  const data: Row[] = [];
  for (const r of rows) {
    const position = Number(r.position);
    if (!wanted.has(position)) continue;
    const key = `${r.layer}|${position}`;
    if (seen.has(key)) continue; // one entropy per cell, repeated on each of its top-k rows
    seen.add(key);
    const label = labelOf(position);
    data.push({ layer: Number(r.layer), entropy: Number(r.entropy), position: label });
  }
  nonEmpty(data, name);
  const spec = lineSpec({
    title: options.title ?? "Logit-lens entropy by layer",
    rows: data,
    x: { field: "layer", title: "layer" },
    y: { field: "entropy", title: "entropy (nats)" },
    series: { field: "position", title: "position", sort: [...new Set(data.map((d) => d.position))] },
    tooltip: [
      { field: "position", title: "position" },
      { field: "layer", title: "layer", type: "ordinal" },
      { field: "entropy", title: "entropy (nats)", type: "quantitative", format: ".3f" },
    ],
  });
  return new Chart(spec, `Lens entropy by layer for ${seen.size / new Set(data.map((d) => d.layer)).size} positions`, explainerOf("entropyChart"));
}
