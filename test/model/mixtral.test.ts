import assert from "node:assert/strict";
import path from "node:path";
import { test } from "node:test";
import * as tf from "@tensorflow/tfjs-core";
import type { MoeWeights } from "../../src/model/components/moe";
import { assertParity, FIXTURES, withFixtureModel } from "./fixture-parity";

const DIR = path.join(FIXTURES, "tiny/mixtral");
const PROMPT = "When Mary and John went to the store";

test("mixtral matches the reference (logits, residuals, attention, router logits, generation) on wasm and cpu", async (t) => {
  await assertParity(t, DIR, { moe: true });
});

test("mixtral's MoE hooks: router logits [1, T, E], k experts per token with weights summing to one", async () => {
  await withFixtureModel(DIR, "wasm", (model) => {
    const r = model.run(PROMPT, { cache: ["router_logits", "expert_indices", "expert_weights"] });
    const T = r.tokens[0].length;
    assert.deepEqual(r.cache.get("router_logits", 1).shape, [1, T, 4]);
    const ids = r.cache.get("expert_indices", 0);
    assert.equal(ids.dtype, "int32");
    assert.deepEqual(ids.shape, [1, T, 2]);
    const sums = tf.tidy(() => tf.sum(r.cache.get("expert_weights", 0), -1).dataSync());
    for (const s of sums) assert.ok(Math.abs(s - 1) < 1e-5, `weights sum ${s}`);
    // The chosen experts are the two largest router logits of each token.
    const logits = r.cache.get("router_logits", 0).arraySync() as number[][][];
    (ids.arraySync() as number[][][])[0].forEach((pair, pos) => {
      const ranked = logits[0][pos].map((v, e) => [v, e]).sort((a, b) => b[0] - a[0]).map(([, e]) => e);
      assert.deepEqual(pair, ranked.slice(0, 2), `token ${pos}`);
    });
    r.dispose();
  });
});

test("replacing router logits reroutes tokens, and zero expert weights silence the MLP", async () => {
  await withFixtureModel(DIR, "wasm", (model) => {
    const base = model.run(PROMPT, { cache: ["mlp_out"] });
    // Force experts 2 and 3 for every token of block 0.
    const forced = model.runWithHooks(
      PROMPT,
      { "blocks.0.mlp.hook_router_logits": (x) => tf.tidy(() => tf.add(tf.mul(x, 0), tf.tensor1d([0, 0, 5, 5]))) },
      { cache: ["expert_indices", "mlp_out"] },
    );
    const chosen = (forced.cache.get("expert_indices", 0).arraySync() as number[][][])[0];
    for (const pair of chosen) assert.deepEqual([...pair].sort(), [2, 3]);
    const changed = tf.tidy(() => tf.max(tf.abs(tf.sub(base.cache.get("mlp_out", 0), forced.cache.get("mlp_out", 0)))).dataSync()[0]);
    assert.ok(changed > 1e-3, `rerouting changed block 0's MLP output by ${changed}`);
    const silenced = model.runWithHooks(PROMPT, { "blocks.1.mlp.hook_expert_weights": (w) => tf.zerosLike(w) }, { cache: ["mlp_out"] });
    assert.equal(tf.tidy(() => tf.max(tf.abs(silenced.cache.get("mlp_out", 1))).dataSync()[0]), 0);
    tf.dispose([base, forced, silenced].map((r) => r.logits));
    [base, forced, silenced].forEach((r) => r.cache.dispose());
  });
});

test("gather and dense expert dispatch give the same logits on the fixture model", async () => {
  await withFixtureModel(DIR, "wasm", (model) => {
    const moeBlocks = model.weights.blocks.map((b) => b.mlp as MoeWeights);
    const logitsWith = (dispatch: MoeWeights["dispatch"]) => {
      for (const m of moeBlocks) m.dispatch = dispatch;
      const r = model.run(PROMPT);
      const data = r.logits.dataSync().slice();
      r.dispose();
      return data;
    };
    const gather = logitsWith("gather");
    const dense = logitsWith("dense");
    for (const m of moeBlocks) m.dispatch = "auto";
    let worst = 0;
    for (let i = 0; i < gather.length; i++) worst = Math.max(worst, Math.abs(gather[i] - dense[i]));
    assert.ok(worst < 1e-5, `gather vs dense logits differ by ${worst}`);
  });
});

test("a left-padded batch routes each row as it routes alone", async () => {
  await withFixtureModel(DIR, "wasm", (model) => {
    const prompts = ["When Mary", "When Mary and John went to the store"];
    const batch = model.run(prompts);
    const batchLogits = batch.logits.arraySync();
    const width = batch.logits.shape[1];
    prompts.forEach((prompt, row) => {
      const alone = model.run(prompt);
      const aloneLogits = alone.logits.arraySync()[0];
      const pad = width - aloneLogits.length;
      aloneLogits.forEach((vec, pos) =>
        vec.forEach((v, j) => assert.ok(Math.abs(v - batchLogits[row][pad + pos][j]) < 1e-4, `row ${row} pos ${pos} vocab ${j}`)),
      );
      alone.dispose();
    });
    batch.dispose();
  });
});
