// Patching several activations at once: each group of sites (e.g. two heads) is patched together in one batch
// row, all groups in as few forward passes as the batch size allows. Answers "do these heads together carry the
// answer?" after a grid has ranked them one by one.
import { ArgumentError } from "../errors";
import type { LanguageModel } from "../model/model";
import { runPatchedRows, type PatchSite } from "./batched-forward";
import { gridIndices } from "./activation-patching";
import { hookLayout } from "./hook-layout";
import { fullHookName, modelHookNames } from "./hook-names";
import { normaliser, preparePatching, unpatchedRun, type PatchingSetupOptions } from "./patching-setup";

/** One site: a hook (full name, or shorthand with `layer`), optionally one position and one head. */
export interface PatchSpec {
  /** e.g. "z", "resid_pre", "blocks.0.attn.hook_z". */
  hook: string;
  layer?: number;
  /** Omitted: every position. Negative counts from the end. */
  position?: number;
  /** Omitted: every head (or a hook without heads). */
  head?: number;
}

/** Options of patchGroups(): the clean and corrupted prompts, the answers, and the groups of sites. */
export interface PatchGroupsOptions extends PatchingSetupOptions {
  groups: PatchSpec[][];
}

/** What patchGroups() returns: each group's normalised and raw metric, and the clean and corrupted baselines. */
export interface PatchGroupsResult {
  /** Normalised metric of each group (0 = corrupted, 1 = clean). */
  metrics: number[];
  /** Raw metric of each group. */
  values: number[];
  cleanMetric: number;
  corruptedMetric: number;
}

/** Patches groups of sites together (heads, positions, layers) and measures each group's effect on the metric. */
export async function patchGroups(model: LanguageModel, options: PatchGroupsOptions): Promise<PatchGroupsResult> {
  const setup = preparePatching(model, options);
  const T = setup.cleanTokens.length;
  if (!Array.isArray(options.groups) || options.groups.length === 0) throw new ArgumentError("groups", `is ${JSON.stringify(options.groups)}`, 'pass a list of groups, e.g. [[{ hook: "z", layer: 0, position: -1, head: 2 }]]');
  const rows: PatchSite[][] = options.groups.map((group, g) => {
    if (!Array.isArray(group)) throw new ArgumentError(`groups[${g}]`, "is not a list of sites", "wrap each group's sites in a list");
    return group.map((spec, i) => siteOf(model, spec, T, `groups[${g}][${i}]`));
  });
  const hooks = [...new Set(rows.flat().map((s) => s.hook))];
  const source = await unpatchedRun(model, setup.sourceTokens, setup.metric, hooks);
  try {
    const values = await runPatchedRows(model, setup.baseTokens, [[], ...rows], source.cache, {
      metric: setup.metric,
      batchSize: setup.batchSize,
      onProgress: options.onProgress,
      signal: options.signal,
      stage: "patching groups",
    });
    const [clean, corrupted] = setup.direction === "denoise" ? [source.value, values[0]] : [values[0], source.value];
    const norm = normaliser(clean, corrupted);
    const raw = Array.from(values.subarray(1));
    return { metrics: raw.map(norm), values: raw, cleanMetric: clean, corruptedMetric: corrupted };
  } finally {
    source.cache.dispose();
  }
}

function siteOf(model: LanguageModel, spec: PatchSpec, T: number, argument: string): PatchSite {
  if (!spec || typeof spec.hook !== "string") throw new ArgumentError(argument, `is ${JSON.stringify(spec)}`, 'use { hook: "z", layer: 0, position: -1, head: 2 }');
  const names = modelHookNames(model, fullHookName(spec.hook, spec.layer), `${argument}.hook`);
  if (names.length !== 1) throw new ArgumentError(`${argument}.layer`, `is missing for the per-block hook "${spec.hook}"`, "give the layer of the site");
  const hook = names[0];
  const layout = hookLayout(hook);
  if (layout.position !== 1) throw new ArgumentError(`${argument}.hook`, `"${hook}" is not position-major`, "patch residual, attention/MLP outputs or hook_z/q/k/v");
  if (spec.head !== undefined) {
    if (layout.head === null) throw new ArgumentError(`${argument}.head`, `was given but "${hook}" has no head axis`, "patch heads on attn.hook_z");
    if (!Number.isInteger(spec.head) || spec.head < 0) throw new ArgumentError(`${argument}.head`, `is ${spec.head}`, "use a head index ≥ 0");
  }
  return {
    hook,
    positions: spec.position === undefined ? null : gridIndices([spec.position], T, `${argument}.position`),
    heads: spec.head === undefined ? null : [spec.head],
  };
}
