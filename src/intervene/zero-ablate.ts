// Zero ablation: the selected cells of a hook's activation (a head's hook_z slice, an MLP neuron, positions, or
// the whole output of a layer) become 0 in every batch row.
import * as tf from "@tensorflow/tfjs-core";
import type { HookMap } from "../model/hooks";
import { checkSelection, replaceMasked, selectionMask, type Selection } from "./hook-layout";
import { fullHookName, layoutName } from "./hook-names";

/**
 * Hooks for runWithHooks / generate that zero `target` of `hook` (all of it when no target is given).
 * `zeroAblate("blocks.0.attn.hook_z", { head: 3 })`, `zeroAblate("mlp_out", { layer: 2 })`.
 */
export function zeroAblate(hook: string, target: Selection & { layer?: number } = {}): HookMap {
  const name = fullHookName(hook, target.layer);
  const sel = checkSelection(layoutName(name), target, "target");
  const whole = !sel.positions && !sel.heads && !sel.units;
  return {
    [name]: (act, ctx) => {
      if (whole) return tf.zerosLike(act);
      const mask = selectionMask(act, ctx.name, sel, ctx, "target");
      return replaceMasked(act, mask, 0);
    },
  };
}
