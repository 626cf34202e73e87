// One forward pass of a model under tf.profile, for tests that compare a fused path with the composed one: the
// logits, blocks.1.hook_resid_post and how many times each kernel ran.
import * as tf from "@tensorflow/tfjs-core";
import type { LanguageModel } from "../../src/model/model";

export interface CountedRun {
  logits: Float32Array;
  post: Float32Array;
  /** Calls of the kernel named `name` during the pass. */
  count(name: string): number;
}

/**
 * Runs `ids` keeping `cache` (plus blocks.1.hook_resid_post) and records the kernels that ran. Every block's
 * hook_resid_mid is kept too, unless `opByOp` is false: an observed point inside a block keeps it op by op (where
 * cpu-native would otherwise run it as one call, model/whole-block.ts), so the per-op kernels these tests count run.
 */
export async function runCountingKernels(model: LanguageModel, ids: number[], cache: string[], opByOp = true): Promise<CountedRun> {
  let logits = new Float32Array();
  let post = new Float32Array();
  const mids = opByOp ? Array.from({ length: model.config.numLayers }, (_, l) => `blocks.${l}.hook_resid_mid`) : [];
  const info = await tf.profile(async () => {
    const r = model.run([ids], { cache: [...cache, ...mids, "blocks.1.hook_resid_post"] });
    logits = (await r.logits.data()) as Float32Array;
    post = (await r.cache.get("blocks.1.hook_resid_post").data()) as Float32Array;
    r.dispose();
    return [];
  });
  const names = info.kernels.map((k) => k.name);
  return { logits, post, count: (name) => names.filter((n) => n === name).length };
}
