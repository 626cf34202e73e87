import assert from "node:assert/strict";
import path from "node:path";
import { test } from "node:test";
import * as tf from "@tensorflow/tfjs-core";
import { normalizeConfig } from "../../src/io/config";
import { isSparseLayer } from "../../src/model/architectures/qwen3_moe";
import { assertParity, FIXTURES, withFixtureModel } from "./fixture-parity";

test("qwen3_moe matches the reference on wasm and cpu", async (t) => {
  await assertParity(t, path.join(FIXTURES, "tiny/qwen3_moe"), { moe: true });
});

test("qwen3_moe with a dense layer (mlp_only_layers) and norm_topk_prob=false matches the reference", async (t) => {
  await assertParity(t, path.join(FIXTURES, "generated/qwen3_moe-sparse"), { moe: true });
});

test("decoder_sparse_step and mlp_only_layers choose the layers with experts, as Qwen3MoeDecoderLayer does", () => {
  const config = (extra: Record<string, unknown>) =>
    normalizeConfig({ model_type: "qwen3_moe", hidden_size: 8, num_attention_heads: 2, num_hidden_layers: 6, vocab_size: 10, num_experts: 4, num_experts_per_tok: 2, ...extra }, "config.json");
  const sparse = (extra: Record<string, unknown>) => [0, 1, 2, 3, 4, 5].filter((l) => isSparseLayer(config(extra), l));
  assert.deepEqual(sparse({}), [0, 1, 2, 3, 4, 5]);
  assert.deepEqual(sparse({ decoder_sparse_step: 2 }), [1, 3, 5]);
  assert.deepEqual(sparse({ decoder_sparse_step: 3, mlp_only_layers: [5] }), [2]);
  assert.throws(() => sparse({ decoder_sparse_step: 0 }), /decoder_sparse_step/);
});

test("the dense layer of a partly sparse model has MLP hooks and no router; unnormalised weights sum below one", async () => {
  await withFixtureModel(path.join(FIXTURES, "generated/qwen3_moe-sparse"), "wasm", (model) => {
    const names = model.hookPoints();
    assert.ok(names.includes("blocks.1.mlp.hook_post") && !names.includes("blocks.1.mlp.hook_router_logits"));
    assert.ok(names.includes("blocks.0.mlp.hook_router_logits") && names.includes("blocks.2.mlp.hook_expert_weights"));
    const r = model.run("When Mary and John went", { cache: ["expert_weights"] });
    const sums = tf.tidy(() => tf.sum(r.cache.get("expert_weights", 2), -1).dataSync());
    for (const s of sums) assert.ok(s < 1 - 1e-3 && s > 0, `top-2 probability mass ${s}`);
    r.dispose();
  });
});
