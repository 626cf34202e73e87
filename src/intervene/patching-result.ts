// The result of activation patching: one Arquero row per grid cell, the raw matrices per component and the
// baselines; a plain result like the probes' (display/charts/patching.ts draws it: activationPatchingChart, and
// show(result) dispatches on its kind).
import { tableOf, type Table } from "../probe/table";
import type { GridCell, PatchComponent } from "./activation-patching";
import type { PatchingSetup } from "./patching-setup";

/** What activationPatching() returns: the grid as a table and matrices, the baselines, and its charts. */
export interface PatchingResult {
  /** What this result is, for show() and other consumers that dispatch on results. */
  kind: "activation-patching";
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
  /** Token texts of the prompt that was run and patched into (corrupted when denoising, clean when noising). */
  baseTokens: string[];
  /** Forward passes this call made (the source run included). */
  forwardPasses: number;
  /** How the cells were measured: "Activation patching", or "Attribution patching" (the first-order estimate). */
  method: string;
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
  return {
    kind: "activation-patching",
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
    baseTokens: baseStr,
    forwardPasses: r.forwardPasses,
    method,
  };
}
