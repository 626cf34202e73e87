// Attention streamed one head (and one block of queries) at a time gives the batched path's logits and residual
// stream: forced on tiny fixtures that cover multi-head and grouped heads, sliding windows, softcapping, sinks and
// a left-padded batch. It really streams (one softmax per head and query block), and it steps aside when a hook or
// the cache reads the scores or the pattern.
import assert from "node:assert/strict";
import path from "node:path";
import { after, before, test } from "node:test";
import * as tf from "@tensorflow/tfjs-core";
import { attentionStreaming } from "../../src/model/components/attention-streamed";
import { fixtureDir, loadFixture, maxAbsDiff, useBackend } from "./engine-helpers";
import { FIXTURES } from "./fixture-parity";
import { openCheckpoint } from "../../src/io/checkpoint";
import { buildModel } from "../../src/model/build";
import type { LanguageModel } from "../../src/model/model";

before(useBackend);
const defaults = { ...attentionStreaming };
after(() => Object.assign(attentionStreaming, defaults));

const PROMPT = "When Mary and John went to the store, John gave a book to Mary because she";

function loadAny(name: string): LanguageModel {
  if (!name.startsWith("generated/")) return loadFixture(name);
  const checkpoint = openCheckpoint(path.join(FIXTURES, name));
  try {
    return buildModel(checkpoint, name);
  } finally {
    checkpoint.weights.close();
  }
}

/** Logits and every resid_post of a run, and how many Softmax kernels it ran. */
async function runOnce(model: LanguageModel, input: string | string[], cache: string[] = ["resid_post"]) {
  let out: { logits: Float32Array; resid: Float32Array[] } | undefined;
  const info = await tf.profile(() => {
    const r = model.run(input, { cache });
    out = {
      logits: r.logits.dataSync() as Float32Array,
      resid: Array.from({ length: model.config.numLayers }, (_, l) => r.cache.get("resid_post", l).dataSync() as Float32Array),
    };
    r.dispose();
  });
  return { ...out!, softmaxes: info.kernels.filter((k) => k.name === "Softmax").length };
}

for (const name of ["gpt2", "llama", "gemma2", "mistral", "generated/gpt_oss"]) {
  test(`streamed attention matches the batched path: ${name}`, async () => {
    const model = loadAny(name);
    try {
      const baseline = tf.memory().numTensors;
      const batched = await runOnce(model, PROMPT);
      Object.assign(attentionStreaming, { minScoreFloats: 0, blockFloats: 40 }); // several query blocks per head
      const streamed = await runOnce(model, PROMPT);
      Object.assign(attentionStreaming, defaults);
      assert.equal(tf.memory().numTensors, baseline);

      const L = model.config.numLayers;
      // Batched: one attention softmax per layer; streamed: one per head and query block (at least two blocks).
      const extra = streamed.softmaxes - batched.softmaxes;
      assert.ok(extra >= L * (2 * model.config.numHeads - 1), `streamed ran ${extra} more softmaxes over ${L} layers`);
      const scale = Math.max(...batched.logits.map(Math.abs));
      assert.ok(maxAbsDiff(streamed.logits, batched.logits) <= 1e-5 * scale, `logits differ by ${maxAbsDiff(streamed.logits, batched.logits)}`);
      batched.resid.forEach((r, l) => assert.ok(maxAbsDiff(streamed.resid[l], r) <= 1e-4, `resid_post ${l}`));
    } finally {
      model.dispose();
    }
  });
}

test("streamed attention handles a left-padded batch", async () => {
  const model = loadFixture("llama");
  try {
    const input = [PROMPT, "The capital of France is"];
    const batched = await runOnce(model, input);
    Object.assign(attentionStreaming, { minScoreFloats: 0, blockFloats: 64 });
    const streamed = await runOnce(model, input);
    Object.assign(attentionStreaming, defaults);
    assert.ok(maxAbsDiff(streamed.logits, batched.logits) <= 1e-4, `logits differ by ${maxAbsDiff(streamed.logits, batched.logits)}`);
  } finally {
    model.dispose();
  }
});

test("a cached pattern or a hook on the scores keeps the batched path", async () => {
  const model = loadFixture("gpt2");
  try {
    Object.assign(attentionStreaming, { minScoreFloats: 0 });
    const cached = await runOnce(model, PROMPT, ["resid_post", "blocks.1.attn.hook_pattern"]);
    Object.assign(attentionStreaming, defaults);
    const L = model.config.numLayers;
    const H = model.config.numHeads;
    // Block 1 runs one batched softmax; every other block streams, one per head.
    assert.equal(cached.softmaxes, (L - 1) * H + 1);
  } finally {
    model.dispose();
  }
});
