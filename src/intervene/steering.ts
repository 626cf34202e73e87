// Steering: add alpha × a vector to a hook's activation during run() or generate(). Vectors come from
// contrastive prompt pairs: the mean over pairs of (activation on the positive prompt − on the negative one), at
// the last position or averaged over each prompt's positions. The hook adds to whatever positions the current
// forward pass holds, so generation steers the same with and without the key/value cache.
import * as tf from "@tensorflow/tfjs-core";
import { ArgumentError } from "../errors";
import type { HookMap } from "../model/hooks";
import type { LanguageModel } from "../model/model";
import { hookLayout, localPositions } from "./hook-layout";
import { fullHookName, modelHookNames } from "./hook-names";
import { referenceActivations, trailingSize, type HostTensor } from "./reference-activations";

/** A direction in one hook's activation space, read from contrasting prompts, with where it was read. */
export interface SteeringVector {
  /** Full hook name it was read at and is added to. */
  hook: string;
  /** The direction, of the activation's shape per token (e.g. [d_model], or [heads, d_head] for hook_z). */
  vector: Float32Array;
  shape: number[];
  /** Euclidean norm of the vector. */
  norm: number;
}

/** Options of steeringVector(): the positive and negative prompts, the hook and layer, and how positions are reduced. */
export interface SteeringVectorOptions {
  /** Prompts that show the behaviour to add. */
  positive: string | string[];
  /** Their counterparts (same count): the behaviour to steer away from. */
  negative: string | string[];
  /** Hook to read (full name, or shorthand with `layer`), e.g. "resid_pre". */
  hook: string;
  layer?: number;
  /** "last" (default): the last token's activation; "mean": the mean over each prompt's tokens. */
  reduce?: "last" | "mean";
  prependBos?: boolean;
}

/** The mean difference of a hook's activations between positive and negative prompts. */
export async function steeringVector(model: LanguageModel, options: SteeringVectorOptions): Promise<SteeringVector> {
  const positive = asPrompts(options.positive, "positive");
  const negative = asPrompts(options.negative, "negative");
  if (positive.length !== negative.length) {
    throw new ArgumentError("negative", `has ${negative.length} prompts but positive has ${positive.length}`, "give contrastive pairs: one negative prompt per positive one");
  }
  const names = modelHookNames(model, fullHookName(options.hook, options.layer));
  if (names.length !== 1) throw new ArgumentError("layer", `is missing for the per-block hook "${options.hook}"`, "give the layer to read, e.g. { hook: \"resid_pre\", layer: 2 }");
  const hook = names[0];
  if (hookLayout(hook).position !== 1) throw new ArgumentError("hook", `"${hook}" has no per-token activation to steer`, "steer the residual stream, an attention/MLP output or hook_z");
  const reduce = options.reduce ?? "last";
  if (reduce !== "last" && reduce !== "mean") throw new ArgumentError("reduce", `is ${JSON.stringify(reduce)}`, 'use "last" or "mean"');
  const pos = await meanOfPrompts(model, positive, hook, reduce, options.prependBos, "positive");
  const neg = await meanOfPrompts(model, negative, hook, reduce, options.prependBos, "negative");
  const vector = pos.data.map((v, i) => v - neg.data[i]);
  return { hook, vector, shape: pos.shape, norm: Math.sqrt(vector.reduce((s, v) => s + v * v, 0)) };
}

function asPrompts(p: string | string[], argument: string): string[] {
  const list = typeof p === "string" ? [p] : p;
  if (!Array.isArray(list) || list.length === 0 || !list.every((x) => typeof x === "string" && x.length > 0)) {
    throw new ArgumentError(argument, `is ${JSON.stringify(p)}`, "pass a prompt or a non-empty list of prompts");
  }
  return list;
}

/** Mean over prompts of each prompt's last-token (or mean-over-tokens) activation. */
async function meanOfPrompts(model: LanguageModel, prompts: string[], hook: string, reduce: "last" | "mean", prependBos: boolean | undefined, argument: string): Promise<HostTensor> {
  const ref = await referenceActivations(model, prompts, [hook], { prependBos }, argument);
  const act = ref.acts.get(hook)!;
  const [batch, pos] = act.shape;
  const inner = trailingSize(act.shape, 2);
  const sum = new Float64Array(inner);
  for (let b = 0; b < batch; b++) {
    // Rows are left-padded: the real tokens are the last ones of each row.
    const real = ref.mask[b].reduce((s, m) => s + m, 0);
    const from = reduce === "last" ? pos - 1 : pos - real;
    const count = pos - from;
    for (let p = from; p < pos; p++) {
      const off = (b * pos + p) * inner;
      for (let i = 0; i < inner; i++) sum[i] += act.data[off + i] / count / batch;
    }
  }
  return { data: Float32Array.from(sum), shape: act.shape.slice(2) };
}

/** Options of steer(): the prompt positions steered, and whether generated tokens are steered too. */
export interface SteerOptions {
  /** Prompt positions to steer (negative counts from the end of the prompt); default every position, generated ones included. */
  positions?: number[];
  /** With `positions`: steer the generated tokens too (default false). */
  generated?: boolean;
}

/**
 * Hooks that add alpha × vector to the vector's hook: `model.generate(prompt, { hooks: steer(v, 4) })`,
 * `model.runWithHooks(prompt, steer(v, -2, { positions: [-1] }))`.
 */
export function steer(vector: SteeringVector | { hook: string; vector: ArrayLike<number>; shape?: number[] }, alpha: number, options: SteerOptions = {}): HookMap {
  if (!vector || typeof vector.hook !== "string" || !vector.vector) throw new ArgumentError("vector", "is not a steering vector", "build one with steeringVector(), or pass { hook, vector }");
  if (!Number.isFinite(alpha)) throw new ArgumentError("alpha", `is ${alpha}`, "use a finite number");
  const data = Float32Array.from(vector.vector);
  const positions = options.positions;
  if (positions !== undefined && (!Array.isArray(positions) || !positions.every(Number.isInteger))) throw new ArgumentError("positions", `is ${JSON.stringify(positions)}`, "use a list of integer positions");
  return {
    [vector.hook]: (act, ctx) => {
      const inner = act.shape.slice(2) as number[];
      if (trailingSize(act.shape, 2) !== data.length) {
        throw new ArgumentError("vector", `has ${data.length} values but "${ctx.name}" has [${inner}] per token`, "build the vector at the hook it steers");
      }
      const delta = tf.mul(tf.tensor(data, [1, 1, ...inner]), alpha);
      if (positions === undefined) return tf.add(act, delta);
      const len = act.shape[1] as number;
      const weights = new Float32Array(len);
      for (const p of localPositions(positions, act, 1, ctx, "positions")) weights[p] = 1;
      if (options.generated) {
        const promptLength = ctx.pastLength + len - ctx.step;
        for (let p = Math.max(promptLength, ctx.pastLength); p < ctx.pastLength + len; p++) weights[p - ctx.pastLength] = 1;
      }
      return tf.add(act, tf.mul(delta, tf.tensor(weights, [1, len, ...inner.map(() => 1)])));
    },
  };
}
