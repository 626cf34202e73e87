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

/** Runs `ids` keeping `cache` (plus blocks.1.hook_resid_post) and records the kernels that ran. */
export async function runCountingKernels(model: LanguageModel, ids: number[], cache: string[]): Promise<CountedRun> {
  let logits = new Float32Array();
  let post = new Float32Array();
  const info = await tf.profile(async () => {
    const r = model.run([ids], { cache: [...cache, "blocks.1.hook_resid_post"] });
    logits = (await r.logits.data()) as Float32Array;
    post = (await r.cache.get("blocks.1.hook_resid_post").data()) as Float32Array;
    r.dispose();
    return [];
  });
  const names = info.kernels.map((k) => k.name);
  return { logits, post, count: (name) => names.filter((n) => n === name).length };
}
