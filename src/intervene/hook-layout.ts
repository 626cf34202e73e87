// Which axis of a hook's activation is the position, the head and the unit (MLP neuron, expert), and masks that
// select cells along those axes. Ablation and patching both replace a selection of an activation: where the
// mask is 1 the replacement, elsewhere the activation.
import * as tf from "@tensorflow/tfjs-core";
import { ArgumentError } from "../errors";
import type { HookContext } from "../model/hooks";
import { hookPointOf, type HookAxis } from "../model/hook-points";

export interface HookLayout {
  /** Axis of the token position (the query axis for patterns and scores). */
  position: number;
  /** Axis of the attention head, or null. */
  head: number | null;
  /** Axis of an MLP neuron or a router's expert, or null. */
  unit: number | null;
  /** What a unit is on this hook (for messages). */
  unitName: "neuron" | "expert" | null;
}

/**
 * The layout of a full hook name's activation, read from its axes in the table of hook points
 * (model/hook-points.ts); a name the table lacks is taken as [batch, pos, …].
 */
export function hookLayout(hookName: string): HookLayout {
  const axes = hookPointOf(hookName)?.axes ?? [];
  const axis = (...names: HookAxis[]) => {
    const i = axes.findIndex((a) => names.includes(a));
    return i < 0 ? null : i;
  };
  const unit = axis("d_mlp", "expert");
  return {
    position: axis("pos", "query") ?? 1,
    head: axis("head", "kv_head"),
    unit,
    unitName: unit === null ? null : axes[unit] === "d_mlp" ? "neuron" : "expert",
  };
}

/** Cells of an activation to act on; an axis left out means all of it. */
export interface Selection {
  /**
   * Token positions of the prompt (0 … T−1; negative counts from its end). A position outside the prompt is an
   * ArgumentError when the hook runs. In generate() the selection applies to those prompt positions at every step.
   */
  position?: number | number[];
  /** Attention heads (hook_q/k/v/z, rot_q/rot_k, pattern, attn_scores). */
  head?: number | number[];
  /** MLP neurons (mlp.hook_pre, hook_pre_linear, hook_post). */
  neuron?: number | number[];
}

export function asList(v: number | number[] | undefined): number[] | undefined {
  return v === undefined ? undefined : Array.isArray(v) ? v : [v];
}

/** Checks that a selection only uses axes the hook has; returns its lists. */
export function checkSelection(hookName: string, sel: Selection, argument: string): { positions?: number[]; heads?: number[]; units?: number[] } {
  const layout = hookLayout(hookName);
  const heads = asList(sel.head);
  const units = asList(sel.neuron);
  const positions = asList(sel.position);
  if (heads && layout.head === null) {
    throw new ArgumentError(`${argument}.head`, `was given but "${hookName}" has no head axis`, "select heads on attn.hook_z (or hook_q/k/v, hook_pattern)");
  }
  if (units && layout.unitName !== "neuron") {
    throw new ArgumentError(`${argument}.neuron`, `was given but "${hookName}" has no neuron axis`, "select neurons on mlp.hook_post (or mlp.hook_pre)");
  }
  for (const [name, list] of [["head", heads], ["neuron", units], ["position", positions]] as const) {
    list?.forEach((v) => {
      if (!Number.isInteger(v)) throw new ArgumentError(`${argument}.${name}`, `holds ${v}`, "use integer indices");
      if (name !== "position" && v < 0) throw new ArgumentError(`${argument}.${name}`, `holds ${v}`, "use indices ≥ 0");
    });
  }
  return { positions, heads, units };
}

/**
 * Positions of this run's activation (0-based along its position axis) that the prompt positions select. In a
 * generate step with the key/value cache the activation starts at ctx.pastLength (and holds no prompt position
 * after step 0). Negative positions count from the end of the prompt (the input of the call; generate's step 0),
 * whose length is the sequence so far minus the tokens generated: so a selection means the same positions with
 * and without the key/value cache. A position outside the prompt raises ArgumentError naming `argument` and the
 * valid range: selecting nothing silently would make an ablation or a steer look ineffective.
 */
export function localPositions(
  positions: number[],
  act: tf.Tensor,
  axis: number,
  ctx: Pick<HookContext, "pastLength" | "step"> & { name?: string },
  argument = "position",
): number[] {
  const len = act.shape[axis];
  const total = ctx.pastLength + len;
  const promptLength = total - ctx.step;
  const out: number[] = [];
  for (const p of positions) {
    const abs = p < 0 ? promptLength + p : p;
    if (abs < 0 || abs >= promptLength) {
      const at = ctx.name ? ` at "${ctx.name}"` : "";
      throw new ArgumentError(
        argument,
        `holds ${p} but the prompt${at} has ${promptLength} position${promptLength === 1 ? "" : "s"} ` +
          `(valid: 0 … ${promptLength - 1}, or ${-promptLength} … -1 from its end)`,
        `pick positions inside the prompt; to act on every position, generated ones included, leave the position out`,
      );
    }
    const local = abs - ctx.pastLength;
    if (local >= 0) out.push(local);
  }
  return out;
}

function checkRange(list: number[], size: number, what: string, hookName: string): void {
  for (const i of list) {
    if (i >= size) {
      throw new ArgumentError(what, `holds ${i} but "${hookName}" has ${size} (indices 0 … ${size - 1})`, `pick ${what.split(".").pop()}s below ${size}`);
    }
  }
}

/**
 * A float32 mask broadcastable to `act` with 1 on the selected cells of every batch row: axes without a selection
 * have size 1 (all of them), as does the batch axis.
 */
export function selectionMask(
  act: tf.Tensor,
  hookName: string,
  sel: { positions?: number[]; heads?: number[]; units?: number[] },
  ctx: Pick<HookContext, "pastLength" | "step">,
  argument: string,
): tf.Tensor {
  const layout = hookLayout(hookName);
  const shape = act.shape.map(() => 1);
  const chosen = new Map<number, number[]>();
  if (sel.positions) chosen.set(layout.position, localPositions(sel.positions, act, layout.position, { ...ctx, name: hookName }, `${argument}.position`));
  if (sel.heads && layout.head !== null) {
    checkRange(sel.heads, act.shape[layout.head], `${argument}.head`, hookName);
    chosen.set(layout.head, sel.heads);
  }
  if (sel.units && layout.unit !== null) {
    checkRange(sel.units, act.shape[layout.unit], `${argument}.neuron`, hookName);
    chosen.set(layout.unit, sel.units);
  }
  for (const axis of chosen.keys()) shape[axis] = act.shape[axis];
  const buffer = tf.buffer(shape, "float32");
  const axes = [...chosen.keys()];
  // Outer product of the chosen indices on each selected axis.
  const fill = (depth: number, index: number[]): void => {
    if (depth === axes.length) {
      buffer.set(1, ...index);
      return;
    }
    for (const i of chosen.get(axes[depth])!) {
      index[axes[depth]] = i;
      fill(depth + 1, index);
    }
  };
  fill(0, shape.map(() => 0));
  return buffer.toTensor();
}

/**
 * act with the masked cells (mask > 0) taken from `replacement` (broadcast to act's shape). A select rather than
 * arithmetic, so that −∞ in masked attention scores stays −∞ instead of becoming NaN.
 */
export function replaceMasked(act: tf.Tensor, mask: tf.Tensor, replacement: tf.Tensor | number): tf.Tensor {
  const target = typeof replacement === "number" ? tf.fill(act.shape, replacement, act.dtype) : tf.broadcastTo(replacement.cast(act.dtype), act.shape);
  return tf.where(tf.broadcastTo(tf.greater(mask, 0), act.shape), target, act);
}
