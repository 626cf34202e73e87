import { test } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { confidenceBand, generationProbabilities, tokenProbabilities } from "../../src/probe/token-probs";
import { ArgumentError } from "../../src/errors";
import { close, model, referenceOf, rows } from "./models";

type Row = { position: number; next_token_id: number; prob: number; logprob: number; surprisal_bits: number; rank: number; entropy: number; band: string; generated: boolean };

for (const name of ["llama", "demo"]) {
  test(`${name}: next-token probabilities equal the reference's final-layer distribution`, async () => {
    const m = await model(name);
    const ref = referenceOf(name);
    const ids = ref.ints("input_ids");
    const [L1, T, V] = ref.json.keys.lens_logprobs;
    const logprobs = ref.tensor("lens_logprobs").data;
    const final = (p: number, id: number) => logprobs[((L1 - 1) * T + p) * V + id];
    const before = tf.memory().numTensors;
    const res = await tokenProbabilities(m, ids, { k: 4 });
    assert.equal(tf.memory().numTensors, before, "tensors leaked");
    const table = rows<Row>(res.table);
    assert.equal(table.length, T - 1);
    for (const r of table) {
      const want = final(r.position, ids[r.position + 1]);
      assert.ok(close(r.logprob, want), `position ${r.position}: ${r.logprob} vs ${want}`);
      assert.ok(close(r.surprisal_bits, -want / Math.LN2, 1e-4, 1e-4));
      assert.equal(r.band, confidenceBand(r.prob));
      assert.equal(r.generated, false);
    }
    const alts = rows<{ position: number; rank: number; token_id: number; prob: number; actual: boolean }>(res.alternatives);
    assert.equal(alts.length, (T - 1) * 4);
    for (const a of alts) {
      assert.ok(close(a.prob, Math.exp(final(a.position, a.token_id)), 1e-6, 1e-4));
      assert.equal(a.actual, a.token_id === ids[a.position + 1]);
    }
  });
}

test("demo: generated tokens are scored and marked, and match the reference continuation", async () => {
  const m = await model("demo");
  const ref = referenceOf("demo");
  const ids = ref.ints("input_ids");
  const res = await generationProbabilities(m, ids, { maxNewTokens: 8 });
  assert.deepEqual(res.tokens, ref.ints("generated_ids"));
  const table = rows<Row>(res.table);
  assert.deepEqual(table.map((r) => r.generated), table.map((r) => r.position + 1 >= ids.length));
  // Greedy decoding picks the most probable token: rank 1 at every generated position.
  for (const r of table.filter((r) => r.generated)) assert.equal(r.rank, 1, `position ${r.position}`);
  const paris = table.find((r) => r.position === ids.length - 1)!;
  assert.equal(m.toStrTokens([paris.next_token_id])[0], " Paris");
  assert.equal(paris.band, "high");
});

test("confidence bands and a one-token input", async () => {
  assert.deepEqual([0.9, 0.5, 0.2, 0.1, 0.05].map((p) => confidenceBand(p)), ["high", "high", "medium", "medium", "low"]);
  assert.equal(confidenceBand(0.3, { high: 0.25, medium: 0.05 }), "high");
  await assert.rejects(tokenProbabilities(await model("demo"), [5]), ArgumentError);
});
