import { test } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { attentionFromCache, attentionPatterns } from "../../src/probe/attention";
import { ActivationCache } from "../../src/model/cache";
import { close, model, ready, referenceOf, rows } from "./models";

type Summary = { layer: number; head: number; entropy: number; first_token: number; self: number; previous: number };

test("attention summaries of a hand-made pattern equal the hand-computed values", async () => {
  await ready();
  // One layer, two heads, three positions. Head 0 attends to the previous token (query 0 to itself);
  // head 1 spreads evenly over the keys it can see.
  const p = [
    [[1, 0, 0], [1, 0, 0], [0, 1, 0]],
    [[1, 0, 0], [0.5, 0.5, 0], [1 / 3, 1 / 3, 1 / 3]],
  ];
  const cache = new ActivationCache(new Map([["blocks.0.attn.hook_pattern", tf.tensor4d([p])]]), 1);
  const res = await attentionFromCache(cache, [0], ["a", "b", "c"]);
  const [h0, h1] = rows<Summary>(res.summary);
  // Means over queries 1 and 2.
  assert.deepEqual([h0.first_token, h0.self, h0.previous, h0.entropy], [0.5, 0, 1, 0]);
  assert.ok(close(h1.first_token, (0.5 + 1 / 3) / 2, 1e-6, 0));
  assert.ok(close(h1.self, (0.5 + 1 / 3) / 2, 1e-6, 0));
  assert.ok(close(h1.previous, (0.5 + 1 / 3) / 2, 1e-6, 0));
  assert.ok(close(h1.entropy, (Math.log(2) + Math.log(3)) / 2, 1e-6, 0));
  // The pattern table holds the causal part only: 1 + 2 + 3 keys per head.
  assert.equal(res.patterns.numRows(), 12);
  assert.equal(res.perQuery.numRows(), 6);
  cache.dispose();
});

for (const name of ["gpt2", "mistral", "gemma2"]) {
  test(`${name}: attention patterns come from the hook exactly (reference attentions, sliding window included)`, async () => {
    const m = await model(name);
    const ref = referenceOf(name);
    const [L, H, T] = ref.json.keys.attentions;
    const want = ref.tensor("attentions").data;
    const before = tf.memory().numTensors;
    const res = await attentionPatterns(m, ref.ints("input_ids"));
    assert.equal(tf.memory().numTensors, before, "tensors leaked");
    const got = rows<{ layer: number; head: number; query: number; key: number; weight: number }>(res.patterns);
    assert.equal(got.length, (L * H * T * (T + 1)) / 2);
    for (const r of got) {
      const e = want[((r.layer * H + r.head) * T + r.query) * T + r.key];
      assert.ok(close(r.weight, e, 1e-5, 1e-4), `${r.layer}.${r.head} q${r.query} k${r.key}: ${r.weight} vs ${e}`);
    }
  });
}
