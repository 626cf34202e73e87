// Hook points: TransformerLens's names, the shorthand that expands to them ("resid_post", 3 →
// "blocks.3.hook_resid_post"), and the HookRunner the forward pass calls at every point. A run's hooks live only
// in its HookRunner, so they are gone when the run ends, whether it returned or threw.
import * as tf from "@tensorflow/tfjs-core";
import { ArgumentError } from "../errors";
import type { CanonicalModel } from "./canonical";
import { ownEntry } from "../own-key";

/** What a hook learns about the activation it receives. */
export interface HookContext {
  /** Full hook name, e.g. "blocks.3.attn.hook_pattern". */
  name: string;
  /** Block index, or null for hook_embed, hook_pos_embed, ln_final.hook_normalized. */
  layer: number | null;
  /** Positions already in the key/value cache: the first position of this activation is pastLength. */
  pastLength: number;
  /** Generation step (0 for the prompt, k for the k-th new token), or 0 outside generate. */
  step: number;
}

/** Reads an activation; returning a tensor replaces it (same shape), returning nothing keeps it. */
export type HookFn = (activation: tf.Tensor, ctx: HookContext) => tf.Tensor | void;
export type HookMap = Record<string, HookFn | HookFn[]>;
export type CacheFilter = string[] | ((hookName: string) => boolean);

/** Hook names under blocks.{l}: TransformerLens's vocabulary (the ones a given model has: see hookPointNames). */
const BLOCK_HOOKS: Record<string, string> = {
  resid_pre: "hook_resid_pre",
  resid_mid: "hook_resid_mid",
  resid_post: "hook_resid_post",
  attn_out: "hook_attn_out",
  mlp_out: "hook_mlp_out",
  ln1: "ln1.hook_normalized",
  ln2: "ln2.hook_normalized",
  q: "attn.hook_q",
  k: "attn.hook_k",
  v: "attn.hook_v",
  rot_q: "attn.hook_rot_q",
  rot_k: "attn.hook_rot_k",
  z: "attn.hook_z",
  attn_scores: "attn.hook_attn_scores",
  pattern: "attn.hook_pattern",
  attn: "attn.hook_pattern",
  pre: "mlp.hook_pre",
  pre_linear: "mlp.hook_pre_linear",
  post: "mlp.hook_post",
  router_logits: "mlp.hook_router_logits",
  expert_indices: "mlp.hook_expert_indices",
  expert_weights: "mlp.hook_expert_weights",
};
const GLOBAL_HOOKS: Record<string, string> = {
  embed: "hook_embed",
  pos_embed: "hook_pos_embed",
  ln_final: "ln_final.hook_normalized",
};

/**
 * Full hook name of `name` at `layer`: "resid_post", 3 → "blocks.3.hook_resid_post"; "hook_embed" and full
 * names pass through. A per-block name without a layer is an ArgumentError.
 */
export function resolveHookName(name: string, layer?: number): string {
  if (layer !== undefined) {
    if (!Number.isInteger(layer) || layer < 0) throw new ArgumentError("layer", `is ${layer}`, "use a block index 0, 1, …");
    const local = ownEntry(BLOCK_HOOKS, name) ?? (Object.values(BLOCK_HOOKS).includes(name) ? name : undefined);
    if (!local) throw new ArgumentError("name", `"${name}" is not a per-block hook`, `use one of: ${Object.keys(BLOCK_HOOKS).join(", ")}`);
    return `blocks.${layer}.${local}`;
  }
  const global = ownEntry(GLOBAL_HOOKS, name);
  if (global) return global;
  if (ownEntry(BLOCK_HOOKS, name)) throw new ArgumentError("layer", `is required for the per-block hook "${name}"`, `pass a layer, e.g. ("${name}", 0)`);
  return name;
}

/** Every hook point the model has, in forward order. */
export function hookPointNames(model: CanonicalModel): string[] {
  const names = ["hook_embed"];
  if (model.posEmbed) names.push("hook_pos_embed");
  model.blocks.forEach((block, l) => {
    const p = `blocks.${l}.`;
    names.push(p + "hook_resid_pre");
    if (block.ln1) names.push(p + "ln1.hook_normalized");
    names.push(p + "attn.hook_q", p + "attn.hook_k", p + "attn.hook_v");
    if (block.attn.rotary) names.push(p + "attn.hook_rot_q", p + "attn.hook_rot_k");
    names.push(p + "attn.hook_attn_scores", p + "attn.hook_pattern", p + "attn.hook_z", p + "hook_attn_out");
    if (!block.parallel) names.push(p + "hook_resid_mid");
    if (block.ln2) names.push(p + "ln2.hook_normalized");
    if (block.mlp.kind === "dense") {
      names.push(p + "mlp.hook_pre");
      if (block.mlp.gated) names.push(p + "mlp.hook_pre_linear");
      names.push(p + "mlp.hook_post");
    } else {
      names.push(p + "mlp.hook_router_logits", p + "mlp.hook_expert_indices", p + "mlp.hook_expert_weights");
    }
    names.push(p + "hook_mlp_out", p + "hook_resid_post");
  });
  if (model.lnFinal) names.push("ln_final.hook_normalized");
  return names;
}

/** Expands a cache filter (full names, shorthand like "resid_post" meaning every block, or a predicate) to a test. */
export function cacheSelector(filter: CacheFilter | undefined, available: readonly string[]): (name: string) => boolean {
  if (filter === undefined) return () => false;
  if (typeof filter === "function") return filter;
  if (!Array.isArray(filter)) throw new ArgumentError("cache", "must be a list of hook names or a function", 'e.g. { cache: ["resid_post", "blocks.0.attn.hook_pattern"] }');
  const wanted = new Set<string>();
  for (const entry of filter) {
    const matches = expandHookName(entry, available);
    if (matches.length === 0) throw unknownHook("cache", entry, available);
    for (const m of matches) wanted.add(m);
  }
  return (name) => wanted.has(name);
}

/** Full names matching a full name or a shorthand (every block's "resid_post"). */
export function expandHookName(entry: string, available: readonly string[]): string[] {
  if (available.includes(entry)) return [entry];
  const global = ownEntry(GLOBAL_HOOKS, entry);
  if (global) return available.includes(global) ? [global] : [];
  const local = ownEntry(BLOCK_HOOKS, entry) ?? entry;
  return available.filter((n) => /^blocks\.\d+\./.test(n) && n.replace(/^blocks\.\d+\./, "") === local);
}

export function unknownHook(argument: string, name: string, available: readonly string[]): ArgumentError {
  const sample = available.filter((n) => !n.startsWith("blocks.") || n.startsWith("blocks.0.")).join(", ");
  return new ArgumentError(argument, `names no hook point of this model: "${name}"`, `use a full name (${sample}, … for each block) or a shorthand such as "resid_post"`);
}

/**
 * Called by the forward pass at each hook point. Applies the run's hooks in order, keeps what the cache asks for
 * (tf.keep, so it survives the run's tidy) and returns the activation the model continues with.
 */
export class HookRunner {
  readonly cached = new Map<string, tf.Tensor>();
  private readonly hooks = new Map<string, HookFn[]>();

  constructor(
    private readonly shouldCache: (name: string) => boolean = () => false,
    hooks: Map<string, HookFn[]> = new Map(),
    private readonly stepInfo: { pastLength: number; step: number } = { pastLength: 0, step: 0 },
    /** Optional: what to cache of an activation (generate keeps only the new positions). */
    private readonly toCache: (name: string, t: tf.Tensor) => tf.Tensor = (_n, t) => t,
  ) {
    this.hooks = hooks;
  }

  /** True when nothing would observe `name`: the forward pass may skip computing optional activations. */
  idle(name: string): boolean {
    return !this.hooks.has(name) && !this.shouldCache(name);
  }

  run(name: string, layer: number | null, activation: tf.Tensor): tf.Tensor {
    let current = activation;
    const fns = this.hooks.get(name);
    if (fns) {
      for (const fn of fns) {
        const replaced = fn(current, { name, layer, ...this.stepInfo });
        if (replaced !== undefined && replaced !== null) {
          if (!(replaced instanceof tf.Tensor)) throw new ArgumentError(`hooks["${name}"]`, "returned something that is not a tensor", "return a tf.Tensor of the same shape, or nothing");
          if (!sameShape(replaced.shape, current.shape)) {
            throw new ArgumentError(`hooks["${name}"]`, `returned shape [${replaced.shape}] for an activation of shape [${current.shape}]`, "return a tensor of the activation's shape");
          }
          current = replaced.dtype === current.dtype ? replaced : replaced.cast(current.dtype);
        }
      }
    }
    if (this.shouldCache(name)) {
      const previous = this.cached.get(name);
      if (previous) previous.dispose();
      this.cached.set(name, tf.keep(this.toCache(name, current)));
    }
    return current;
  }
}

/** Normalises a HookMap's keys to full hook names (shorthand expands to every block) and checks they exist. */
export function prepareHooks(hooks: HookMap | undefined, available: readonly string[]): Map<string, HookFn[]> {
  const out = new Map<string, HookFn[]>();
  if (!hooks) return out;
  if (typeof hooks !== "object") throw new ArgumentError("hooks", "must be an object { hookName: fn }", 'e.g. { "blocks.0.hook_resid_post": (x) => x.mul(0) }');
  for (const [key, value] of Object.entries(hooks)) {
    const fns = Array.isArray(value) ? value : [value];
    for (const fn of fns) {
      if (typeof fn !== "function") throw new ArgumentError(`hooks["${key}"]`, "is not a function", "give a function (activation, ctx) => tensor | void");
    }
    const names = expandHookName(key, available);
    if (names.length === 0) throw unknownHook("hooks", key, available);
    for (const n of names) out.set(n, [...(out.get(n) ?? []), ...fns]);
  }
  return out;
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}
