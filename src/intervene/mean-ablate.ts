// Mean ablation: the selected cells take their mean over a reference batch instead of their value. By default
// the mean is over rows and real (unpadded) positions, so it applies at any position and prompt length; with
// perPosition it is over rows only, one mean per position, for runs as long as the reference rows.
import * as tf from "@tensorflow/tfjs-core";
import { ArgumentError } from "../errors";
import type { HookMap } from "../model/hooks";
import type { ModelInput, TokenizeOptions } from "../model/inputs";
import type { LanguageModel } from "../model/model";
import { checkSelection, hookLayout, replaceMasked, selectionMask, type Selection } from "./hook-layout";
import { fullHookName, modelHookNames } from "./hook-names";
import { referenceActivations, trailingSize, type HostTensor } from "./reference-activations";

/** Options of meanAblate(): the cells to replace, the layer, and a mean per position or over all. */
export interface MeanAblationOptions extends Selection, TokenizeOptions {
  layer?: number;
  /** One mean per position (over rows only); the reference rows must be of one length. Default false. */
  perPosition?: boolean;
}

/**
 * Hooks that replace `target` of `hook` with its mean over `reference` (a list of prompts, or rows of ids).
 * `await meanAblate(model, "blocks.1.mlp.hook_post", prompts, { neuron: 17 })`.
 */
export async function meanAblate(model: LanguageModel, hook: string, reference: ModelInput, options: MeanAblationOptions = {}): Promise<HookMap> {
  const names = modelHookNames(model, fullHookName(hook, options.layer));
  const layout = hookLayout(names[0]);
  const sel = checkSelection(names[0], options, "options");
  if (layout.position !== 1 && !options.perPosition) {
    throw new ArgumentError("options.perPosition", `must be true for "${names[0]}": its positions are a query axis beside a key axis`, "pass { perPosition: true } with reference rows as long as the runs");
  }
  const ref = await referenceActivations(model, reference, names, { prependBos: options.prependBos, chat: options.chat }, "reference");
  const lengths = ref.tokens.map((r) => r.length);
  if (options.perPosition && new Set(lengths).size > 1) {
    throw new ArgumentError("reference", `rows have different token lengths (${lengths.join(", ")}) but perPosition needs one length`, "use prompts of one token length, or drop perPosition");
  }
  const means = new Map<string, HostTensor>();
  for (const name of names) means.set(name, options.perPosition ? meanOverRows(ref.acts.get(name)!) : meanOverTokens(ref.acts.get(name)!, ref.mask));
  const hooks: HookMap = {};
  for (const name of names) {
    const mean = means.get(name)!;
    hooks[name] = (act, ctx) => {
      let value = tf.tensor(mean.data, [1, ...mean.shape]);
      if (options.perPosition) value = alignPositions(value, act, layout.position, ctx.pastLength, name);
      const mask = sel.positions || sel.heads || sel.units ? selectionMask(act, ctx.name, sel, ctx, "options") : tf.onesLike(act);
      return replaceMasked(act, mask, value);
    };
  }
  return hooks;
}

/** Mean over rows and real positions of a [batch, pos, …] activation → [1, …] (the position axis kept as 1). */
function meanOverTokens(act: HostTensor, mask: number[][]): HostTensor {
  const [batch, pos] = act.shape;
  const inner = trailingSize(act.shape, 2);
  const sum = new Float64Array(inner);
  let count = 0;
  for (let b = 0; b < batch; b++) {
    for (let p = 0; p < pos; p++) {
      if (!mask[b][p]) continue;
      count++;
      const off = (b * pos + p) * inner;
      for (let i = 0; i < inner; i++) sum[i] += act.data[off + i];
    }
  }
  return { data: Float32Array.from(sum, (s) => s / count), shape: [1, ...act.shape.slice(2)] };
}

/** Mean over rows of a [batch, …] activation → […]. */
function meanOverRows(act: HostTensor): HostTensor {
  const batch = act.shape[0];
  const inner = trailingSize(act.shape, 1);
  const sum = new Float64Array(inner);
  for (let b = 0; b < batch; b++) for (let i = 0; i < inner; i++) sum[i] += act.data[b * inner + i];
  return { data: Float32Array.from(sum, (s) => s / batch), shape: act.shape.slice(1) };
}

/**
 * The per-position replacement for this run's positions (a generate step with the key/value cache sees only the
 * new ones). Errors when the run is longer than the reference.
 */
export function alignPositions(value: tf.Tensor, act: tf.Tensor, axis: number, pastLength: number, name: string): tf.Tensor {
  const len = act.shape[axis];
  const have = value.shape[axis];
  if (pastLength + len > have) {
    throw new ArgumentError("reference", `rows have ${have} positions but the run reaches position ${pastLength + len - 1} at "${name}"`, "use reference prompts at least as long as the run");
  }
  const begin = value.shape.map((_, i) => (i === axis ? pastLength : 0));
  const size = value.shape.map((d, i) => (i === axis ? len : d));
  const sliced = value.slice(begin, size);
  const mismatch = sliced.shape.findIndex((d, i) => i > 0 && d !== act.shape[i]);
  if (mismatch >= 0) {
    throw new ArgumentError("reference", `gives "${name}" shape [${value.shape.slice(1)}] but the run has [${act.shape.slice(1)}]`, "use reference prompts of the run's token length");
  }
  return sliced;
}
