// A dense MLP run over blocks of positions (when nothing observes its hidden activations) gives the same logits and
// residual stream as one pass over every position, and really splits; observing hook_post keeps the single pass.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import * as tf from "@tensorflow/tfjs-core";
import { mlpStreaming } from "../../src/model/forward";
import { loadFixture, maxAbsDiff, useBackend } from "./engine-helpers";
import type { LanguageModel } from "../../src/model/model";

before(useBackend);
const defaults = { ...mlpStreaming };
after(() => Object.assign(mlpStreaming, defaults));

const PROMPT = "When Mary and John went to the store, John gave a book to Mary because she";

async function runOnce(model: LanguageModel, cache: string[]) {
  let out: { logits: Float32Array; resid: Float32Array[]; positions: number } | undefined;
  const info = await tf.profile(() => {
    const r = model.run(PROMPT, { cache });
    out = {
      logits: r.logits.dataSync() as Float32Array,
      positions: r.tokens[0].length,
      resid: Array.from({ length: model.config.numLayers }, (_, l) => r.cache.get("resid_post", l).dataSync() as Float32Array),
    };
    r.dispose();
  });
  return { ...out!, products: info.kernels.filter((k) => k.name === "BatchMatMul").length };
}

for (const name of ["gpt2", "llama"]) {
  test(`an MLP over blocks of positions matches one pass: ${name}`, async () => {
    const model = loadFixture(name);
    try {
      const baseline = tf.memory().numTensors;
      const whole = await runOnce(model, ["resid_post"]);
      const dMlp = model.weights.blocks[0].mlp.kind === "dense" ? model.weights.blocks[0].mlp.W_in.shape[1] : 0;
      mlpStreaming.blockFloats = 3 * dMlp; // three positions per block
      const blocked = await runOnce(model, ["resid_post"]);
      const observed = await runOnce(model, ["resid_post", "blocks.0.mlp.hook_post"]);
      Object.assign(mlpStreaming, defaults);
      assert.equal(tf.memory().numTensors, baseline);

      const L = model.config.numLayers;
      const T = whole.positions;
      const perBlock = model.weights.blocks[0].mlp.kind === "dense" && model.weights.blocks[0].mlp.gated ? 3 : 2;
      const blocks = Math.ceil(T / 3);
      assert.equal(blocked.products - whole.products, L * perBlock * (blocks - 1), "each layer's MLP products run once per block");
      assert.equal(observed.products - whole.products, (L - 1) * perBlock * (blocks - 1), "block 0, whose hook_post is cached, runs whole");
      assert.ok(maxAbsDiff(blocked.logits, whole.logits) <= 1e-5, `logits differ by ${maxAbsDiff(blocked.logits, whole.logits)}`);
      whole.resid.forEach((r, l) => assert.ok(maxAbsDiff(blocked.resid[l], r) <= 1e-5, `resid_post ${l}`));
    } finally {
      model.dispose();
    }
  });
}
