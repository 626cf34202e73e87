// Ablating mixture-of-experts experts. "drop" (default) removes an expert's weighted output wherever the router
// chose it, leaving the other chosen experts and their weights as they were; "reroute" makes the router never
// choose it (its logit becomes the float32 minimum), so the next-best expert takes its slot.
import * as tf from "@tensorflow/tfjs-core";
import { ArgumentError } from "../errors";
import type { HookMap } from "../model/hooks";
import type { LanguageModel } from "../model/model";
import { asList } from "./hook-layout";

/** Options of zeroAblateExpert(): "drop" the expert's weighted output, or "reroute" as if the router never chose it. */
export interface ExpertAblationOptions {
  mode?: "drop" | "reroute";
}

const FLOAT32_MIN = -3.4028234663852886e38;

/** Hooks that ablate `expert` (one or several) of block `layer`. `zeroAblateExpert(model, 1, 3)`. */
export function zeroAblateExpert(model: LanguageModel, layer: number, expert: number | number[], options: ExpertAblationOptions = {}): HookMap {
  const block = model.weights.blocks[layer];
  if (!Number.isInteger(layer) || !block) throw new ArgumentError("layer", `is ${layer}`, `use a block index 0 … ${model.nLayers - 1}`);
  if (block.mlp.kind !== "moe") throw new ArgumentError("layer", `${layer} has a dense MLP, not experts`, "ablate neurons with zeroAblate(\"mlp.hook_post\", { layer, neuron }) or pick a mixture-of-experts layer");
  const numExperts = block.mlp.numExperts;
  const experts = asList(expert)!;
  for (const e of experts) {
    if (!Number.isInteger(e) || e < 0 || e >= numExperts) throw new ArgumentError("expert", `holds ${e}`, `use experts 0 … ${numExperts - 1}`);
  }
  const mode = options.mode ?? "drop";
  const p = `blocks.${layer}.mlp.`;
  if (mode === "reroute") {
    const isAblated = new Float32Array(numExperts);
    for (const e of experts) isAblated[e] = 1;
    return {
      [p + "hook_router_logits"]: (logits) => tf.where(tf.broadcastTo(tf.greater(tf.tensor1d(isAblated), 0), logits.shape), tf.fill(logits.shape, FLOAT32_MIN), logits),
    };
  }
  if (mode !== "drop") throw new ArgumentError("options.mode", `is ${JSON.stringify(mode)}`, 'use "drop" or "reroute"');
  // The weights hook runs right after the indices hook of the same block and forward pass: the indices it sees
  // are those of this very run.
  let indices: tf.Tensor | null = null;
  return {
    [p + "hook_expert_indices"]: (idx) => {
      indices = idx;
    },
    [p + "hook_expert_weights"]: (weights) => {
      if (!indices) throw new Error(`${p}hook_expert_weights ran before hook_expert_indices`);
      let chosen = tf.equal(indices, experts[0]);
      for (const e of experts.slice(1)) chosen = tf.logicalOr(chosen, tf.equal(indices, e));
      indices = null;
      return tf.where(chosen, tf.zerosLike(weights), weights);
    },
  };
}
