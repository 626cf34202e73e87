// Where a forward pass first produced NaN or ±Infinity. One int32 flag per observed tensor (the flat index of its
// first non-finite element, or -1) is computed on the device and read back in one small transfer, so the check
// costs a pass of isFinite over what is checked and nothing when it is not asked for.
import * as tf from "@tensorflow/tfjs-core";
import type { HookFn } from "./hooks";

/** Where a non-finite value was first seen. */
export interface NonFiniteSite {
  /** Hook point ("blocks.3.hook_resid_post"), or "logits". */
  hook: string;
  layer: number | null;
  /** Token position (the query position for attention scores and patterns), or null where the tensor has none. */
  position: number | null;
  /** Index of the first non-finite element and its value (NaN, Infinity, -Infinity). */
  index: number[];
  value: number;
}

/**
 * [flat index of x's first non-finite element or -1, that element's value (0 when none)] as a float32 [2]
 * tensor (a new one). Float32 holds every index below 2^24 exactly; larger tensors report a rounded index.
 */
export function firstNonFiniteIndex(x: tf.Tensor): tf.Tensor1D {
  return tf.tidy(() => {
    const flat = x.dtype === "float32" ? x.reshape([-1]) : x.cast("float32").reshape([-1]);
    if (flat.size === 0) return tf.tensor1d([-1, 0]);
    const bad = tf.logicalNot(tf.isFinite(flat)).cast("int32");
    // Every piece is kept at shape [1] explicitly: backends differ on the rank of a full reduction's result.
    const at = bad.argMax().reshape([1]);
    const any = bad.max().reshape([1]).greater(0);
    const index = tf.where(any, at.cast("float32"), tf.tensor1d([-1]));
    const value = tf.where(any, flat.gather(at).reshape([1]), tf.tensor1d([0]));
    return tf.concat([index, value]) as tf.Tensor1D;
  });
}

export interface Observed {
  hook: string;
  layer: number | null;
  shape: number[];
  /** See firstNonFiniteIndex; kept until the flags are read. */
  flag: tf.Tensor1D;
}

function unravel(flat: number, shape: readonly number[]): number[] {
  const index = new Array<number>(shape.length).fill(0);
  for (let d = shape.length - 1, rest = flat; d >= 0; d--) {
    index[d] = rest % shape[d];
    rest = Math.floor(rest / shape[d]);
  }
  return index;
}

/** The position axis of a hook's activation: [batch, heads, query, key] for scores and patterns, else [batch, pos, …]. */
function positionOf(hook: string, index: number[]): number | null {
  if (/hook_(attn_scores|pattern)$/.test(hook)) return index[2] ?? null;
  return index.length >= 2 ? index[1] : null;
}

/** Hooks that observe every hook point (after any other hook changed it) and record a flag per point. */
export function finiteCheckHooks(names: readonly string[], observed: Observed[]): Map<string, HookFn[]> {
  const hooks = new Map<string, HookFn[]>();
  for (const name of names) {
    hooks.set(name, [
      (activation, ctx) => {
        observed.push({ hook: name, layer: ctx.layer, shape: activation.shape, flag: tf.keep(firstNonFiniteIndex(activation)) });
      },
    ]);
  }
  return hooks;
}

function firstSite(observed: readonly Observed[], flags: ArrayLike<number>): NonFiniteSite | null {
  for (let i = 0; i < observed.length; i++) {
    const flat = flags[2 * i];
    if (flat < 0) continue;
    const o = observed[i];
    const index = unravel(flat, o.shape);
    return { hook: o.hook, layer: o.layer, position: positionOf(o.hook, index), index, value: flags[2 * i + 1] };
  }
  return null;
}

/** The first observed tensor holding a non-finite value (in observation order), read synchronously. */
export function firstNonFiniteSync(observed: readonly Observed[]): NonFiniteSite | null {
  if (observed.length === 0) return null;
  const stacked = tf.concat(observed.map((o) => o.flag));
  try {
    return firstSite(observed, stacked.dataSync());
  } finally {
    stacked.dispose();
  }
}

/** As firstNonFiniteSync, read asynchronously (any backend). */
export async function firstNonFinite(observed: readonly Observed[]): Promise<NonFiniteSite | null> {
  if (observed.length === 0) return null;
  const stacked = tf.concat(observed.map((o) => o.flag));
  try {
    return firstSite(observed, await stacked.data());
  } finally {
    stacked.dispose();
  }
}

export function disposeObserved(observed: Observed[]): void {
  for (const o of observed) o.flag.dispose();
  observed.length = 0;
}

/** A probe result's warning: where the forward pass first produced a non-finite value, and a sentence saying so. */
export interface NonFiniteReport {
  site: NonFiniteSite;
  message: string;
}

export function describeNonFinite(site: NonFiniteSite): string {
  const where = [site.layer === null ? null : `layer ${site.layer}`, site.position === null ? null : `position ${site.position}`].filter(Boolean).join(", ");
  return `non-finite values: the forward pass first produced ${site.value} at ${site.hook}${where ? ` (${where})` : ""}; the numbers derived from it (probabilities, log-probabilities, entropies, similarities) are NaN or null`;
}
