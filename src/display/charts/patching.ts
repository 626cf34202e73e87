// Every patching chart, in one place: the layer × position heatmap of a patching table, the head × position one
// (per-head patching of z), and the charts of whole results: activationPatching() (one panel per patched
// component) and causalTrace(). Interventions return tables and plain results; drawing them is display's job.
import { ArgumentError } from "../../errors";
import type { PatchComponent } from "../../intervene/activation-patching";
import type { CausalTraceResult } from "../../intervene/causal-trace";
import type { PatchingComparison } from "../../intervene/patching-comparison";
import type { PatchingResult } from "../../intervene/patching-result";
import { Chart } from "../chart";
import { explainerOf } from "../explainers";
import type { TableLike } from "../table-html";
import { DIVERGING_SCHEME, nonEmpty, positionLabeller, rowsOf } from "./common";
import { concatCharts } from "./concat";
import { headScoresChart } from "./head-scores";
import { heatmapSpec } from "./heatmap";

/** Options of patchingChart(): position labels, the effect column and what it measures. */
export interface PatchingChartOptions {
  inputTokens?: string[];
  /** Column of the effect (default "metric"). */
  value?: string;
  /** What the metric measures, for the legend (default: the column name). */
  metricTitle?: string;
  title?: string;
}

/** Heatmap of a patching result table (layer, position, metric). */
export function patchingChart(table: TableLike, options: PatchingChartOptions = {}): Chart {
  const name = "patching chart";
  const value = options.value ?? "metric";
  const rows = nonEmpty(rowsOf(table, ["layer", "position", value], name), name);
  const label = positionLabeller(rows, options.inputTokens);
  const data = rows.map((r) => ({ layer: Number(r.layer), position: label(Number(r.position)), position_index: Number(r.position), metric: Number(r[value]) }));
  const positions = [...new Set(data.map((d) => d.position_index))].sort((a, b) => a - b);
  const layers = new Set(data.map((d) => d.layer)).size;
  const extent = Math.max(1e-9, ...data.map((d) => Math.abs(d.metric)).filter(Number.isFinite));
  const title = options.metricTitle ?? value;
  const spec = heatmapSpec({
    title: options.title ?? `Activation patching: ${title} by layer and position`,
    rows: data,
    x: { field: "position", title: "position (token)", sort: positions.map(label) },
    y: { field: "layer", title: "layer", sort: "descending" },
    color: { field: "metric", title, scheme: DIVERGING_SCHEME, domain: [-extent, extent], domainMid: 0, format: ".2f" },
    tooltip: [
      { field: "layer", title: "layer", type: "ordinal" },
      { field: "position", title: "position" },
      { field: "metric", title, type: "quantitative", format: ".4f" },
    ],
    xCount: positions.length,
    yCount: layers,
  });
  return new Chart(spec, `Activation patching: ${layers} layers × ${positions.length} positions (${title})`, explainerOf("patchingChart"));
}

/** Titles and token labels of headPositionChart(). */
export interface HeadPositionChartOptions {
  inputTokens?: string[];
  metricTitle?: string;
  title?: string;
}

/** Heatmap of a table with layer, head, position and metric columns. */
export function headPositionChart(table: TableLike, options: HeadPositionChartOptions = {}): Chart {
  const name = "head × position patching chart";
  const rows = nonEmpty(rowsOf(table, ["layer", "head", "position", "metric"], name), name);
  const label = positionLabeller(rows, options.inputTokens);
  const data = rows.map((r) => ({
    head: `L${r.layer} H${r.head}`,
    order: Number(r.layer) * 10000 + Number(r.head),
    position: label(Number(r.position)),
    position_index: Number(r.position),
    metric: Number(r.metric),
  }));
  const positions = [...new Set(data.map((d) => d.position_index))].sort((a, b) => a - b);
  const heads = [...new Map(data.map((d) => [d.order, d.head])).entries()].sort((a, b) => a[0] - b[0]).map(([, h]) => h);
  const extent = Math.max(1e-9, ...data.map((d) => Math.abs(d.metric)).filter(Number.isFinite));
  const title = options.metricTitle ?? "metric";
  const spec = heatmapSpec({
    title: options.title ?? `Per-head patching: ${title}`,
    rows: data,
    x: { field: "position", title: "position (token)", sort: positions.map(label) },
    y: { field: "head", title: "head", sort: heads },
    color: { field: "metric", title, scheme: DIVERGING_SCHEME, domain: [-extent, extent], domainMid: 0, format: ".2f" },
    tooltip: [
      { field: "head", title: "head" },
      { field: "position", title: "position" },
      { field: "metric", title, type: "quantitative", format: ".4f" },
    ],
    xCount: positions.length,
    yCount: heads.length,
  });
  return new Chart(spec, `Per-head patching: ${heads.length} heads × ${positions.length} positions (${title})`, explainerOf("headPositionChart"));
}

/**
 * The heatmap of one patched component of an activationPatching() result (layer × position; head × position for
 * z; layer × head for z_all); without a component, every patched component's heatmap stacked into one chart, so
 * show(result) is one display message however many components were patched.
 */
export function activationPatchingChart(result: PatchingResult, component?: PatchComponent): Chart {
  const what = result.answers ? `logit diff ${result.answers.clean.token.trim()} − ${result.answers.corrupted.token.trim()}` : "metric";
  const metricTitle = "recovered (0–1)";
  const baseTokens = result.baseTokens;
  const chartOf = (c: PatchComponent): Chart => {
    if (!result.components.includes(c)) throw new ArgumentError("component", `${JSON.stringify(c)} was not patched in this call`, `use one of ${result.components.join(", ")}`);
    const rows = result.table.params({ component: c }).filter((d: { component: string }, $: { component: string }) => d.component === $.component);
    const title = `${result.method ?? "Activation patching"} (${result.direction}) of ${c}: ${what}, 0 = corrupted, 1 = clean`;
    if (c === "z_all") {
      const values = rows.array("metric") as number[];
      return headScoresChart(rows, { value: "metric", scoreTitle: metricTitle, domain: [Math.min(0, ...values), Math.max(1, ...values)], title: `${title}, every position` });
    }
    if (c === "z") return headPositionChart(rows, { metricTitle, title, inputTokens: baseTokens });
    return patchingChart(rows, { metricTitle, title, inputTokens: baseTokens });
  };
  if (component !== undefined) return chartOf(component);
  const panels = result.components.map(chartOf);
  const summary = `${result.method ?? "Activation patching"} (${result.direction}): ${panels.length} heatmaps (${result.components.join(", ")}) over ${result.layers.length} layers × ${result.positions.length} positions`;
  return panels.length === 1 ? panels[0] : concatCharts(panels, { summary });
}

/** The layer × position heatmap of a causalTrace() result: the indirect effect of restoring each state. */
export function causalTraceChart(result: CausalTraceResult): Chart {
  return patchingChart(result.table, {
    value: "indirect_effect",
    metricTitle: "indirect effect",
    title: `Causal trace: p(${result.answer.token.trim()}) regained by restoring ${result.state} after noising the subject`,
    inputTokens: result.tokens,
  });
}

/**
 * Exact and attribution patching side by side for each component (default every component both patched): a
 * compareAttribution() result, with the two results it compared.
 */
export function attributionComparisonChart(comparison: PatchingComparison, components?: PatchComponent[]): Chart {
  const { exact, attribution } = comparison;
  const shared = exact.components.filter((c) => attribution.components.includes(c));
  const chosen = components ?? shared;
  for (const c of chosen) if (!shared.includes(c)) throw new ArgumentError("components", `holds ${JSON.stringify(c)}, not patched in both results`, `use some of ${shared.join(", ")}`);
  const panels = chosen.flatMap((c) => [activationPatchingChart(exact, c), activationPatchingChart(attribution, c)]);
  return concatCharts(panels, { columns: 2, summary: `Activation patching (left) and attribution patching (right): Spearman ρ = ${comparison.spearman.toFixed(3)} over ${comparison.table.numRows()} cells` });
}
