// Hook points: TransformerLens's names, the shorthand that expands to them ("resid_post", 3 →
// "blocks.3.hook_resid_post"), and the HookRunner the forward pass calls at every point. A run's hooks live only
// in its HookRunner, so they are gone when the run ends, whether it returned or threw.
import * as tf from "@tensorflow/tfjs-core";
import { ArgumentError, UnknownHookError } from "../errors";
import { HOOK_POINTS, type HookPoint } from "./hook-points";

export { hookPointNames } from "./hook-points";
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
/** Hooks for a run: hook name (full, or shorthand for every block) → one function or a list applied in order. */
export type HookMap = Record<string, HookFn | HookFn[]>;
/** Which activations a run keeps: hook names (full or shorthand) or a predicate on full names. */
export type CacheFilter = string[] | ((hookName: string) => boolean);

/** Shorthand (and aliases) → TransformerLens name, from the table of hook points (hook-points.ts). */
function shorthands(scope: HookPoint["scope"]): Record<string, string> {
  const points = HOOK_POINTS.filter((p) => p.scope === scope);
  return Object.fromEntries(points.flatMap((p) => [p.short, ...(p.aliases ?? [])].map((short) => [short, p.name])));
}
/** Names under blocks.{l} (the ones a given model has: see hookPointNames). */
const BLOCK_HOOKS = shorthands("block");
const GLOBAL_HOOKS = shorthands("global");

/**
 * Full hook name of `name` at `layer`: "resid_post", 3 → "blocks.3.hook_resid_post"; "hook_embed" and full
 * names pass through. A per-block name without a layer is an ArgumentError.
 */
export function resolveHookName(name: string, layer?: number): string {
  if (layer !== undefined) {
    if (!Number.isInteger(layer) || layer < 0) throw new ArgumentError("layer", `is ${layer}`, "use a block index 0, 1, …");
    const local = ownEntry(BLOCK_HOOKS, name) ?? (Object.values(BLOCK_HOOKS).includes(name) ? name : undefined);
    if (!local) {
      const suggestion = closest(name, [...Object.keys(BLOCK_HOOKS), ...Object.values(BLOCK_HOOKS)]);
      const fix = `a per-block hook is one of: ${Object.keys(BLOCK_HOOKS).join(", ")}`;
      throw new UnknownHookError("name", name, suggestion, fix, "inside a block");
    }
    return `blocks.${layer}.${local}`;
  }
  const global = ownEntry(GLOBAL_HOOKS, name);
  if (global) return global;
  if (ownEntry(BLOCK_HOOKS, name)) throw new ArgumentError("layer", `is required for the per-block hook "${name}"`, `pass a layer, e.g. ("${name}", 0)`);
  return name;
}

/** Expands a cache filter (full names, shorthand like "resid_post" meaning every block, or a predicate) to a test. */
export function cacheSelector(filter: CacheFilter | undefined, available: readonly string[]): (name: string) => boolean {
  if (filter === undefined) return () => false;
  if (typeof filter === "function") return filter;
  if (!Array.isArray(filter)) {
    throw new ArgumentError("cache", "must be a list of hook names or a function", 'e.g. { cache: ["resid_post", "blocks.0.attn.hook_pattern"] }');
  }
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

/** The typed error for a name that matches none of `available`, with the closest name or shorthand as a hint. */
export function unknownHook(argument: string, name: string, available: readonly string[]): UnknownHookError {
  const sample = available.filter((n) => !n.startsWith("blocks.") || n.startsWith("blocks.0.")).join(", ");
  const fix = `use a full name (${sample}, … for each block) or a shorthand such as "resid_post"`;
  const block = /^blocks\.(\d+)\.(.+)$/.exec(name);
  const blocks = new Set(available.map((n) => /^blocks\.(\d+)\./.exec(n)?.[1]).filter((b) => b !== undefined));
  if (block && !blocks.has(block[1]) && available.some((n) => n.endsWith(`.${block[2]}`))) {
    return new UnknownHookError(argument, name, null, `this model has blocks 0 … ${blocks.size - 1}`);
  }
  const shorthand = [...Object.keys(GLOBAL_HOOKS), ...Object.keys(BLOCK_HOOKS)].filter((s) => expandHookName(s, available).length > 0);
  return new UnknownHookError(argument, name, closest(name, [...available, ...shorthand]), fix);
}

/**
 * The candidate nearest to `name` by edit distance, when it is near enough to be a typo (at most a quarter of the
 * name's length, and at least 2, edits); ties go to the earlier candidate (forward order). A dozen lines, so no
 * dependency for it.
 */
export function closest(name: string, candidates: readonly string[]): string | null {
  let best: string | null = null;
  let bestDistance = Math.max(2, Math.floor(name.length / 4)) + 1;
  for (const c of candidates) {
    const d = editDistance(name, c);
    if (d < bestDistance) [best, bestDistance] = [c, d];
  }
  return best;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) row[j] = Math.min(previous[j] + 1, row[j - 1] + 1, previous[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    previous = row;
  }
  return previous[b.length];
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
          if (!(replaced instanceof tf.Tensor)) {
            throw new ArgumentError(`hooks["${name}"]`, "returned something that is not a tensor", "return a tf.Tensor of the same shape, or nothing");
          }
          if (!sameShape(replaced.shape, current.shape)) {
            const problem = `returned shape [${replaced.shape}] for an activation of shape [${current.shape}]`;
            throw new ArgumentError(`hooks["${name}"]`, problem, "return a tensor of the activation's shape");
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
