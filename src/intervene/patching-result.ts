// The result of activation patching: one Arquero row per grid cell, the raw matrices per component, the
// baselines, and a heatmap (layer × position, layer × head, or head × position for z).
import type { Chart } from "../display/chart";
import { concatCharts, headScoresChart, patchingChart } from "../display/charts";
import { ArgumentError } from "../errors";
import { tableOf, type Table } from "../probe/table";
import type { GridCell, PatchComponent } from "./activation-patching";
import { headPositionChart } from "./patching-charts";
import type { PatchingSetup } from "./patching-setup";

export interface PatchingResult {
  /**
   * component, layer, head (null but for z / z_all), position (null for z_all), input_token (the base prompt's
   * token at the position), source_token (the patched-in prompt's), metric (normalised: 0 = corrupted, 1 =
   * clean), value (the raw metric, e.g. the logit difference).
   */
  table: Table;
  /**
   * Normalised metric by component: [layer][position] for layer × position components, [layer][head][position]
   * for z, [layer][head] for z_all (over the requested layers and positions, in order).
   */
  matrices: Partial<Record<PatchComponent, number[][] | number[][][]>>;
  components: PatchComponent[];
  layers: number[];
  positions: number[];
  /** Raw metric of the clean and the corrupted run. */
  cleanMetric: number;
  corruptedMetric: number;
  answers: PatchingSetup["answers"];
  direction: "denoise" | "noise";
  /** Token texts of the clean prompt. */
  tokens: string[];
  /** Forward passes this call made (the source run included). */
  forwardPasses: number;
  /**
   * Heatmap of one component; without an argument every patched component's heatmap, stacked into one chart (so
   * show(result) is one display message however many components were patched).
   */
  toChart(component?: PatchComponent): Chart;
}

export function patchingResult(r: {
  setup: PatchingSetup;
  cells: GridCell[];
  raw: number[];
  normalised: number[];
  clean: number;
  corrupted: number;
  layers: number[];
  positions: number[];
  nHeads: number[];
  forwardPasses: number;
  /** Chart titles' first words (default "Activation patching"; attribution patching names itself). */
  method?: string;
}): PatchingResult {
  const { setup } = r;
  const method = r.method ?? "Activation patching";
  const [baseStr, sourceStr] = setup.direction === "denoise" ? [setup.corruptedStr, setup.cleanStr] : [setup.cleanStr, setup.corruptedStr];
  const table = tableOf({
    component: r.cells.map((c) => c.component),
    layer: r.cells.map((c) => c.layer),
    head: r.cells.map((c) => c.head),
    position: r.cells.map((c) => c.position),
    input_token: r.cells.map((c) => (c.position === null ? null : baseStr[c.position])),
    source_token: r.cells.map((c) => (c.position === null ? null : sourceStr[c.position])),
    metric: r.normalised,
    value: r.raw,
  });
  const components = [...new Set(r.cells.map((c) => c.component))];
  const matrices: PatchingResult["matrices"] = {};
  const posIndex = new Map(r.positions.map((p, i) => [p, i]));
  const layerIndex = new Map(r.layers.map((l, i) => [l, i]));
  for (const component of components) {
    const m: (number[] | number[][])[] = r.layers.map((l) =>
      component === "z" ? Array.from({ length: r.nHeads[l] }, () => new Array(r.positions.length).fill(NaN)) : new Array(component === "z_all" ? r.nHeads[l] : r.positions.length).fill(NaN),
    );
    r.cells.forEach((c, i) => {
      if (c.component !== component) return;
      const row = m[layerIndex.get(c.layer)!];
      if (component === "z") (row as number[][])[c.head!][posIndex.get(c.position!)!] = r.normalised[i];
      else if (component === "z_all") (row as number[])[c.head!] = r.normalised[i];
      else (row as number[])[posIndex.get(c.position!)!] = r.normalised[i];
    });
    matrices[component] = m as number[][] | number[][][];
  }
  const metricTitle = "recovered (0–1)";
  const what = setup.answers ? `logit diff ${setup.answers.clean.token.trim()} − ${setup.answers.corrupted.token.trim()}` : "metric";
  const chartOf = (component: PatchComponent): Chart => {
    if (!components.includes(component)) throw new ArgumentError("component", `${JSON.stringify(component)} was not patched in this call`, `use one of ${components.join(", ")}`);
    const rows = table.params({ component }).filter((d: { component: string }, $: { component: string }) => d.component === $.component);
    const title = `${method} (${setup.direction}) of ${component}: ${what}, 0 = corrupted, 1 = clean`;
    if (component === "z_all") {
      const values = rows.array("metric") as number[];
      return headScoresChart(rows, { value: "metric", scoreTitle: metricTitle, domain: [Math.min(0, ...values), Math.max(1, ...values)], title: `${title}, every position` });
    }
    if (component === "z") return headPositionChart(rows, { metricTitle, title, inputTokens: baseStr });
    return patchingChart(rows, { metricTitle, title, inputTokens: baseStr });
  };
  return {
    table,
    matrices,
    components,
    layers: r.layers,
    positions: r.positions,
    cleanMetric: r.clean,
    corruptedMetric: r.corrupted,
    answers: setup.answers,
    direction: setup.direction,
    tokens: setup.cleanStr,
    forwardPasses: r.forwardPasses,
    toChart: (component?: PatchComponent) => {
      if (component !== undefined) return chartOf(component);
      const panels = components.map(chartOf);
      const summary = `${method} (${setup.direction}): ${panels.length} heatmaps (${components.join(", ")}) over ${r.layers.length} layers × ${r.positions.length} positions`;
      return panels.length === 1 ? panels[0] : concatCharts(panels, { summary });
    },
  };
}
