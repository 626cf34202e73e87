// Hook names as interventions take them: a full name ("blocks.0.attn.hook_z"), TransformerLens's shorthand for
// every block ("z", "resid_post"), or a name and a layer. Checked against the model's hook points when a model
// is at hand, so that a typo fails before any forward pass.
import { ArgumentError } from "../errors";
import { expandHookName, resolveHookName, unknownHook } from "../model/hooks";
import type { LanguageModel } from "../model/model";

/** The full hook name of `name` (at `layer` when given); shorthand without a layer stays shorthand. */
export function fullHookName(name: string, layer?: number): string {
  if (typeof name !== "string" || name.length === 0) throw new ArgumentError("hook", `is ${JSON.stringify(name)}`, 'name a hook point, e.g. "blocks.0.attn.hook_z"');
  return layer === undefined ? name : resolveHookName(name, layer);
}

/**
 * A representative full name (block 0 for per-block shorthand), used to learn the activation's layout before a
 * run. Global names ("hook_embed") and full names pass through.
 */
export function layoutName(name: string): string {
  if (name.startsWith("blocks.") || name.startsWith("hook_") || name.startsWith("ln_final")) return name;
  try {
    return resolveHookName(name, 0);
  } catch {
    return name;
  }
}

/** The model's full hook names that `name` stands for (one, or one per block for shorthand); throws when none. */
export function modelHookNames(model: LanguageModel, name: string, argument = "hook"): string[] {
  const available = model.hookPoints();
  const names = expandHookName(name, available);
  if (names.length === 0) throw unknownHook(argument, name, available);
  return names;
}

/** The block index of a full per-block hook name, or null. */
export function layerOf(fullName: string): number | null {
  const m = /^blocks\.(\d+)\./.exec(fullName);
  return m ? Number(m[1]) : null;
}
