// Resample ablation: the selected cells take the value the same hook had on another input, drawn from a source
// batch (seeded, so a run reproduces). Each batch row of the run gets one source row, the same at every hook
// and every call; the source rows must be of one token length, at least as long as the run.
import * as tf from "@tensorflow/tfjs-core";
import { ArgumentError } from "../errors";
import type { HookMap } from "../model/hooks";
import type { ModelInput, TokenizeOptions } from "../model/inputs";
import type { LanguageModel } from "../model/model";
import { seededRandom } from "../model/sampling";
import { checkSelection, hookLayout, replaceMasked, selectionMask, type Selection } from "./hook-layout";
import { fullHookName, modelHookNames } from "./hook-names";
import { alignPositions } from "./mean-ablate";
import { referenceActivations } from "./reference-activations";

/** Options of resampleAblate(): the cells to replace, the layer, and the seed of the draw. */
export interface ResampleAblationOptions extends Selection, TokenizeOptions {
  layer?: number;
  /** Seed of the draw of source rows (default 0). */
  seed?: number;
}

/** Which source row batch row `row` takes: a seeded draw, fixed per (seed, row). */
export function sourceRowFor(seed: number, row: number, sourceRows: number): number {
  const random = seededRandom((seed * 0x9e3779b1 + row * 0x85ebca6b) >>> 0);
  return Math.floor(random() * sourceRows);
}

/**
 * Hooks that replace `target` of `hook` with that hook's activation on a source row.
 * `await resampleAblate(model, "blocks.0.attn.hook_z", otherPrompts, { head: 2, seed: 1 })`.
 */
export async function resampleAblate(model: LanguageModel, hook: string, source: ModelInput, options: ResampleAblationOptions = {}): Promise<HookMap> {
  const names = modelHookNames(model, fullHookName(hook, options.layer));
  const sel = checkSelection(names[0], options, "options");
  const seed = options.seed ?? 0;
  if (!Number.isInteger(seed)) throw new ArgumentError("options.seed", `is ${seed}`, "use an integer seed");
  const ref = await referenceActivations(model, source, names, { prependBos: options.prependBos, chat: options.chat }, "source");
  const lengths = ref.tokens.map((r) => r.length);
  if (new Set(lengths).size > 1) {
    throw new ArgumentError("source", `rows have different token lengths (${lengths.join(", ")})`, "use source prompts of one token length (that of the runs you ablate)");
  }
  const sourceRows = lengths.length;
  const hooks: HookMap = {};
  for (const name of names) {
    const acts = ref.acts.get(name)!;
    const axis = hookLayout(name).position;
    hooks[name] = (act, ctx) => {
      const all = tf.tensor(acts.data, acts.shape);
      const rows = Array.from({ length: act.shape[0] }, (_, b) => sourceRowFor(seed, b, sourceRows));
      const drawn = tf.gather(all, tf.tensor1d(rows, "int32"));
      const value = alignPositions(drawn, act, axis, ctx.pastLength, name);
      const mask = sel.positions || sel.heads || sel.units ? selectionMask(act, ctx.name, sel, ctx, "options") : tf.onesLike(act);
      return replaceMasked(act, mask, value);
    };
  }
  return hooks;
}
