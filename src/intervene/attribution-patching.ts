// Attribution patching (Nanda; Syed et al.): the first-order estimate of activation patching. Patching one
// activation from the source run into the base run changes the metric by about (a_source − a_base) · ∂m/∂a, the
// gradient taken on the base run. One forward pass of the source prompt (its activations) and one forward and
// backward pass of the base prompt (its activations and the gradient at every hook of the grid) give every cell
// of the grid at once; the result has activationPatching's table, matrices and charts, so the two compare cell
// by cell (compareAttribution in patching-comparison.ts).
import * as tf from "@tensorflow/tfjs-core";
import type { LanguageModel } from "../model/model";
import { gradientCache, type GradientMetric } from "../model/gradients";
import { cellHook, patchingGrid, type ActivationPatchingOptions } from "./activation-patching";
import { normaliser, unpatchedRun } from "./patching-setup";
import { patchingResult, type PatchingResult } from "./patching-result";
import type { LogitsMetric } from "./batched-forward";

/** Same options and result shape as activationPatching; `forwardPasses` counts 2 (one of them with its backward pass). */
export async function attributionPatching(model: LanguageModel, options: ActivationPatchingOptions): Promise<PatchingResult> {
  const { setup, positions, layers, cells, hooks } = patchingGrid(model, options);
  const T = setup.cleanTokens.length;

  const source = await unpatchedRun(model, setup.sourceTokens, setup.metric, hooks);
  try {
    options.onProgress?.({ stage: "attribution patching", done: 1, total: 2 });
    // The answers' logit difference by slices: the patching default gathers, whose gradient (UnsortedSegmentSum)
    // tfjs-wasm lacks. A custom metric is differentiated as given.
    const metric = setup.answers ? logitDifferenceBySlices(setup.answers.clean.id, setup.answers.corrupted.id) : onLastPosition(setup.metric);
    const base = await gradientCache(model, [setup.baseTokens], { metric, names: hooks, lastPositionOnly: true });
    let effects: Map<string, Float32Array>;
    try {
      // Per hook: Σ over the feature axis of (source − base) · gradient, [pos] or [pos, heads] (z).
      effects = new Map();
      for (const hook of hooks) {
        const t = tf.tidy(() => {
          const delta = tf.mul(tf.sub(source.cache.get(hook), base.cache.get(hook)), base.gradients.get(hook));
          return tf.sum(delta, delta.rank - 1); // [1, pos] or [1, pos, heads]
        });
        effects.set(hook, (await t.data()) as Float32Array);
        t.dispose();
      }
    } finally {
      base.dispose();
    }
    options.onProgress?.({ stage: "attribution patching", done: 2, total: 2 });
    const baseValue = base.value;
    const raw = cells.map((c) => {
      const e = effects.get(cellHook(c))!;
      const nHeads = model.weights.blocks[c.layer].attn.nHeads;
      if (c.component === "z") return baseValue + e[c.position! * nHeads + c.head!];
      if (c.component === "z_all") {
        let s = 0;
        for (let p = 0; p < T; p++) s += e[p * nHeads + c.head!];
        return baseValue + s;
      }
      return baseValue + e[c.position!];
    });
    const [clean, corrupted] = setup.direction === "denoise" ? [source.value, baseValue] : [baseValue, source.value];
    const norm = normaliser(clean, corrupted);
    return patchingResult({
      setup,
      cells,
      raw,
      normalised: raw.map(norm),
      clean,
      corrupted,
      layers,
      positions,
      nHeads: model.weights.blocks.map((b) => b.attn.nHeads),
      forwardPasses: 2,
      method: "Attribution patching",
    });
  } finally {
    source.cache.dispose();
  }
}

/** logit(a) − logit(b) at the last position, per row. */
function logitDifferenceBySlices(a: number, b: number): GradientMetric {
  return (logits) => {
    const last = tf.slice(logits, [0, logits.shape[1] - 1, 0], [-1, 1, -1]);
    return tf.reshape(tf.sub(tf.slice(last, [0, 0, a], [-1, 1, 1]), tf.slice(last, [0, 0, b], [-1, 1, 1])), [-1]);
  };
}

/** A patching metric of the last position's logits [rows, vocab] as a gradient metric of logits [rows, 1, vocab]. */
function onLastPosition(metric: LogitsMetric): GradientMetric {
  return (logits) => metric(tf.reshape(tf.slice(logits, [0, logits.shape[1] - 1, 0], [-1, 1, -1]), [logits.shape[0], logits.shape[2]]) as tf.Tensor2D);
}
