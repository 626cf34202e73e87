import assert from "node:assert/strict";
import path from "node:path";
import { test } from "node:test";
import { normalizeConfig } from "../../src/io/config";
import { assertParity, FIXTURES, withFixtureModel } from "./fixture-parity";

const DIR = path.join(FIXTURES, "generated/gemma3_text");

test("gemma3_text (local/global RoPE, q/k norm, sliding layers) matches the reference on wasm and cpu", async (t) => {
  await assertParity(t, DIR, { moe: false });
});

test("sliding layers rotate with rope_local_base_freq, global layers with rope_theta and linear scaling", async () => {
  await withFixtureModel(DIR, "wasm", (model) => {
    const [local, global, local2] = model.weights.blocks.map((b) => b.attn);
    assert.equal(local.slidingWindow, 8);
    assert.equal(global.slidingWindow, null);
    assert.equal(local2.rotary, local.rotary, "layers of one type share their rotary tables");
    for (let i = 0; i < 8; i++) {
      const localExpected = 1 / 10000 ** ((2 * i) / 16);
      const globalExpected = 1 / 1e6 ** ((2 * i) / 16) / 8;
      assert.ok(Math.abs(local.rotary!.invFreq[i] - localExpected) <= 1e-6 * localExpected, `local ${i}`);
      assert.ok(Math.abs(global.rotary!.invFreq[i] - globalExpected) <= 1e-6 * globalExpected, `global ${i}`);
    }
    assert.equal(local.scale, Math.fround(32 ** -0.5), "query_pre_attn_scalar 32, not head_dim 16");
    assert.equal(model.weights.embed.scale, 8, "embeddings scaled by √64");
    assert.equal(local.qNorm!.weightOffset, 1, "(1 + w) q norm");
    assert.deepEqual(local.qNorm!.weight!.shape, [16], "q norm per head");
    assert.ok(model.weights.blocks[0].postAttnNorm && model.weights.blocks[0].postMlpNorm);
  });
});

test("the older config form (rope_theta, rope_local_base_freq, rope_scaling) gives the same RoPE per layer type", () => {
  const base = { model_type: "gemma3_text", hidden_size: 64, num_attention_heads: 4, num_key_value_heads: 2, head_dim: 16, num_hidden_layers: 2, vocab_size: 8, sliding_window: 8, layer_types: ["sliding_attention", "full_attention"] };
  const old = normalizeConfig({ ...base, rope_theta: 1e6, rope_local_base_freq: 10000, rope_scaling: { rope_type: "linear", factor: 8 } }, "config.json");
  const fresh = normalizeConfig(JSON.parse(require("node:fs").readFileSync(path.join(DIR, "config.json"), "utf8")), "config.json");
  for (const c of [old, fresh]) {
    assert.equal(c.ropeByLayerType!.sliding_attention!.theta, 10000);
    assert.equal(c.ropeByLayerType!.full_attention!.theta, 1e6);
    assert.equal(c.ropeByLayerType!.full_attention!.ropeType, "linear");
    assert.equal(c.ropeByLayerType!.full_attention!.factor, 8);
  }
});
