// Activation patching over a grid: for each component, layer and position (and head, for z) one copy of the
// corrupted prompt with that one activation taken from the clean run (or the reverse). The whole grid, plus the
// unpatched baseline, runs as batch rows of as few forward passes as the batch size allows.
import { ArgumentError } from "../errors";
import type { LanguageModel } from "../model/model";
import { runPatchedRows, type PatchSite } from "./batched-forward";
import { modelHookNames } from "./hook-names";
import { normaliser, preparePatching, unpatchedRun, type PatchingSetupOptions } from "./patching-setup";
import { patchingResult, type PatchingResult } from "./patching-result";

/**
 * Layer × position: resid_pre, resid_mid, resid_post, attn_out, mlp_out. Per head: "z" (head × position) and
 * "z_all" (head over every position at once).
 */
export type PatchComponent = "resid_pre" | "resid_mid" | "resid_post" | "attn_out" | "mlp_out" | "z" | "z_all";

const HOOK_OF: Record<PatchComponent, string> = {
  resid_pre: "hook_resid_pre",
  resid_mid: "hook_resid_mid",
  resid_post: "hook_resid_post",
  attn_out: "hook_attn_out",
  mlp_out: "hook_mlp_out",
  z: "attn.hook_z",
  z_all: "attn.hook_z",
};

/** Options of activationPatching(): components, positions and layers of the grid, and the patching setup. */
export interface ActivationPatchingOptions extends PatchingSetupOptions {
  /** Default ["resid_pre", "attn_out", "mlp_out"]. */
  components?: PatchComponent[];
  /** Positions of the grid (default all; negative counts from the end). */
  positions?: number[];
  /** Layers of the grid (default all). */
  layers?: number[];
}

/** One cell of the grid. */
export interface GridCell {
  component: PatchComponent;
  layer: number;
  /** null for z_all (every position). */
  position: number | null;
  /** null except for z and z_all. */
  head: number | null;
}

/** The patching grid of `options`: prompts and answers, positions, layers, cells, and the hooks the cells patch. */
export function patchingGrid(model: LanguageModel, options: ActivationPatchingOptions) {
  const setup = preparePatching(model, options);
  const T = setup.cleanTokens.length;
  const components = patchComponents(options.components);
  const positions = gridIndices(options.positions, T, "positions");
  const layers = gridIndices(options.layers, model.nLayers, "layers");
  const cells = gridCells(model, components, layers, positions);
  const hooks = [...new Set(cells.map(cellHook))];
  for (const h of hooks) modelHookNames(model, h, "components");
  return { setup, positions, layers, cells, hooks };
}

/**
 * Patches each component of the clean run into the corrupted one (or the reverse), per layer and position, in one
 * batched grid, and measures how much of the answer comes back.
 */
export async function activationPatching(model: LanguageModel, options: ActivationPatchingOptions): Promise<PatchingResult> {
  const { setup, positions, layers, cells, hooks } = patchingGrid(model, options);

  const source = await unpatchedRun(model, setup.sourceTokens, setup.metric, hooks);
  try {
    // Row 0 is the unpatched base run: its metric comes with the first pass.
    const rows: PatchSite[][] = [[], ...cells.map((c) => [{ hook: cellHook(c), positions: c.position === null ? null : [c.position], heads: c.head === null ? null : [c.head] }])];
    const values = await runPatchedRows(model, setup.baseTokens, rows, source.cache, {
      metric: setup.metric,
      batchSize: setup.batchSize,
      onProgress: options.onProgress,
      signal: options.signal,
      stage: "activation patching",
    });
    const base = values[0];
    const [clean, corrupted] = setup.direction === "denoise" ? [source.value, base] : [base, source.value];
    const norm = normaliser(clean, corrupted);
    const raw = Array.from(values.subarray(1));
    return patchingResult({
      setup,
      cells,
      raw,
      normalised: raw.map(norm),
      clean,
      corrupted,
      layers,
      positions,
      nHeads: model.weights.blocks.map((b) => b.attn.nHeads),
      forwardPasses: 1 + Math.ceil(rows.length / setup.batchSize),
    });
  } finally {
    source.cache.dispose();
  }
}

/** The grid's cells in table order: component, then layer, then position (then head for z; head for z_all). */
export function gridCells(model: LanguageModel, components: PatchComponent[], layers: number[], positions: number[]): GridCell[] {
  const cells: GridCell[] = [];
  for (const component of components) {
    for (const layer of layers) {
      const heads = component === "z" || component === "z_all" ? model.weights.blocks[layer].attn.nHeads : 0;
      if (component === "z_all") for (let head = 0; head < heads; head++) cells.push({ component, layer, position: null, head });
      else for (const position of positions) {
        if (component === "z") for (let head = 0; head < heads; head++) cells.push({ component, layer, position, head });
        else cells.push({ component, layer, position, head: null });
      }
    }
  }
  return cells;
}

/** Full hook name a cell patches. */
export function cellHook(c: GridCell): string {
  return `blocks.${c.layer}.${HOOK_OF[c.component]}`;
}

/** Checks a components argument (non-empty, known names); returns it or the default. */
export function patchComponents(components: PatchComponent[] | undefined): PatchComponent[] {
  const list = components ?? ["resid_pre", "attn_out", "mlp_out"];
  if (!Array.isArray(list) || list.length === 0) throw new ArgumentError("components", `is ${JSON.stringify(list)}`, `use a list of ${Object.keys(HOOK_OF).join(", ")}`);
  for (const c of list) if (!(c in HOOK_OF)) throw new ArgumentError("components", `holds ${JSON.stringify(c)}`, `use ${Object.keys(HOOK_OF).join(", ")}`);
  return list;
}

/** Sorted distinct indices in [0, n) (negative counts from the end), or all of them. */
export function gridIndices(list: number[] | undefined, n: number, argument: string): number[] {
  if (list === undefined) return Array.from({ length: n }, (_, i) => i);
  if (!Array.isArray(list) || list.length === 0) throw new ArgumentError(argument, `is ${JSON.stringify(list)}`, `use a non-empty list of indices in [${-n}, ${n - 1}]`);
  const out = list.map((i) => {
    const j = i < 0 ? i + n : i;
    if (!Number.isInteger(j) || j < 0 || j >= n) throw new ArgumentError(argument, `holds ${i}, outside 0 … ${n - 1}`, `use indices in [${-n}, ${n - 1}]`);
    return j;
  });
  return [...new Set(out)].sort((a, b) => a - b);
}
