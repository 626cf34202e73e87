// Generation replay: the generated tokens as a timeline of the chosen token's probability, and below it the
// alternatives the model weighed at one step. In the interactive view a slider (a Vega-Lite parameter) moves the
// step; the static SVG shows the whole timeline with the alternatives of the last step.
import { Chart } from "../chart";
import { explainerOf } from "../explainers";
import type { TableLike } from "../table-html";
import { CONFIG, SCHEMA, nonEmpty, rowsOf, tokenLabel } from "./common";

/** Title and first step of generationReplayChart(). */
export interface GenerationReplayOptions {
  title?: string;
  /** Step whose alternatives show first (default the last generated token). */
  step?: number;
}

/** From generationProbabilities(...): its `table` (generated rows) and `alternatives`. */
export function generationReplayChart(result: { table: TableLike; alternatives: TableLike }, options: GenerationReplayOptions = {}): Chart {
  const name = "generation replay chart";
  const rows = nonEmpty(rowsOf(result.table, ["position", "next_token", "prob", "generated"], name), name).filter((r) => r.generated === true);
  if (rows.length === 0) throw new TypeError(`${name}: the table has no generated tokens; pass generationProbabilities(...) with maxNewTokens ≥ 1`);
  const first = Number(rows[0].position);
  const steps = rows.map((r) => ({ step: Number(r.position) - first + 1, token: tokenLabel(r.next_token), prob: Number(r.prob), rank: Number(r.rank ?? 1), entropy: Number(r.entropy ?? 0) }));
  const positions = new Map(rows.map((r) => [Number(r.position), Number(r.position) - first + 1]));
  const alternatives = rowsOf(result.alternatives, ["position", "rank", "token", "prob"], name)
    .filter((r) => positions.has(Number(r.position)))
    .map((r) => ({ step: positions.get(Number(r.position))!, rank: Number(r.rank), token: tokenLabel(r.token), prob: Number(r.prob), chosen: r.actual === true }));
  const last = steps.length;
  const start = Math.min(Math.max(options.step ?? last, 1), last);
  const spec = {
    $schema: SCHEMA,
    config: CONFIG,
    title: options.title ?? "Generation replay",
    params: [{ name: "step", value: start, bind: { input: "range", min: 1, max: last, step: 1, name: "step " } }],
    vconcat: [
      {
        width: Math.min(40 * last, 720),
        height: 160,
        data: { values: steps },
        layer: [
          { mark: { type: "bar", tooltip: true }, encoding: { x: { field: "step", type: "ordinal", title: "generated token" }, y: { field: "prob", type: "quantitative", title: "probability of the chosen token", scale: { domain: [0, 1] } }, color: { condition: { test: "datum.step == step", value: "#d62728" }, value: "#4c78a8" }, tooltip: [{ field: "step" }, { field: "token" }, { field: "prob", format: ".3f" }, { field: "rank" }, { field: "entropy", format: ".2f" }] } },
          { mark: { type: "text", dy: -6, fontSize: 10, angle: 0 }, encoding: { x: { field: "step", type: "ordinal" }, y: { field: "prob", type: "quantitative" }, text: { field: "token" } } },
        ],
      },
      {
        width: 360,
        height: { step: 16 },
        data: { values: alternatives },
        transform: [{ filter: "datum.step == step" }],
        mark: { type: "bar", tooltip: true },
        encoding: {
          y: { field: "token", type: "nominal", sort: { field: "rank" }, title: "alternatives at the chosen step" },
          x: { field: "prob", type: "quantitative", title: "probability", scale: { domain: [0, 1] } },
          color: { field: "chosen", type: "nominal", scale: { domain: [true, false], range: ["#d62728", "#9ecae1"] }, title: "chosen" },
          tooltip: [{ field: "rank" }, { field: "token" }, { field: "prob", format: ".4f" }],
        },
      },
    ],
  };
  return new Chart(spec, `Generation replay of ${last} tokens: ${rows.map((r) => String(r.next_token ?? "")).join("")}`, explainerOf("generationReplayChart"));
}
