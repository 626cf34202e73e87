// Llama with YaRN RoPE scaling and tied embeddings (test/fixtures/generated/llama-yarn-tied): parity with the
// reference, and the two things this fixture adds over tiny/llama, checked against what the reference recorded.
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { test } from "node:test";
import * as tf from "@tensorflow/tfjs-core";
import { assertParity, FIXTURES, withFixtureModel } from "./fixture-parity";

const DIR = path.join(FIXTURES, "generated/llama-yarn-tied");

test("llama with YaRN scaling and tied embeddings matches the reference on wasm and cpu", async (t) => {
  await assertParity(t, DIR, { moe: false });
});

test("YaRN: inverse frequencies and attention scaling are the reference's own rotary buffers", async () => {
  const debug = JSON.parse(fs.readFileSync(path.join(DIR, "reference.json"), "utf8")).rope_debug as Record<string, number | number[]>;
  const invFreq = debug["model.rotary_emb.inv_freq"] as number[];
  const scaling = debug["model.rotary_emb.attention_scaling"] as number;
  await withFixtureModel(DIR, "wasm", (model) => {
    const rotary = model.weights.blocks[0].attn.rotary!;
    assert.equal(rotary.invFreq.length, invFreq.length);
    // The reference's buffers are float32: ours must be the same float32 values, not merely close.
    invFreq.forEach((v, i) => assert.equal(rotary.invFreq[i], Math.fround(v), `inv_freq[${i}]`));
    assert.ok(Math.abs(rotary.attentionScaling - scaling) < 1e-12, `attention scaling ${rotary.attentionScaling} vs ${scaling}`);
    assert.ok(scaling > 1.1, "the fixture exercises a non-trivial YaRN attention factor");
  });
});

test("tied embeddings: no separate unembedding is held; logits are ln_final(resid) · W_Eᵀ", async () => {
  await withFixtureModel(DIR, "wasm", (model) => {
    assert.equal(model.weights.unembed.W_U, null);
    const r = model.run("When Mary and John", { cache: ["ln_final"] });
    const normed = r.cache.get("ln_final"); // [1, pos, d]
    const expected = tf.tidy(() => tf.matMul(normed.reshape([-1, model.weights.dModel]), model.weights.embed.W_E, false, true));
    const got = r.logits.reshape([-1, model.weights.vocabSize]);
    const worst = tf.tidy(() => tf.max(tf.abs(tf.sub(got, expected))).dataSync()[0]);
    tf.dispose([expected, got]);
    r.dispose();
    assert.ok(worst < 1e-4, `logits differ from the tied unembedding by ${worst}`);
  });
});
