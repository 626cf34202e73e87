import assert from "node:assert/strict";
import path from "node:path";
import { test } from "node:test";
import * as tf from "@tensorflow/tfjs-core";
import { assertParity, FIXTURES, withFixtureModel } from "./fixture-parity";

const DIR = path.join(FIXTURES, "generated/olmo2");

test("olmo2 (post-norms, whole-projection q/k norm) matches the reference on wasm and cpu", async (t) => {
  await assertParity(t, DIR, { moe: false });
});

test("olmo2 blocks: no pre-norms, norms on the sublayer outputs, q/k norm over all heads at once", async () => {
  await withFixtureModel(DIR, "wasm", (model) => {
    const b = model.weights.blocks[0];
    assert.equal(b.ln1, null);
    assert.equal(b.ln2, null);
    assert.ok(b.postAttnNorm && b.postMlpNorm);
    assert.equal(b.attn.qkNormScope, "all");
    assert.deepEqual(b.attn.qNorm!.weight!.shape, [64]); // 4 heads × 16
    assert.deepEqual(b.attn.kNorm!.weight!.shape, [32]); // 2 kv heads × 16
    assert.ok(!model.hookPoints().includes("blocks.0.ln1.hook_normalized"));
  });
});

test("norming q over all heads differs from norming each head (the reference's choice matters)", async () => {
  await withFixtureModel(DIR, "wasm", (model) => {
    const prompt = "When Mary and John went to the store";
    const read = () => {
      const r = model.run(prompt);
      const v = r.logits.dataSync().slice();
      r.dispose();
      return v;
    };
    const attn = model.weights.blocks[0].attn;
    const whole = read();
    // Per-head norms with the first head's slice of the weights: a plausible but wrong reading of OLMo2.
    const saved = { q: attn.qNorm!, k: attn.kNorm! };
    const headQ = saved.q.weight!.slice([0], [16]);
    const headK = saved.k.weight!.slice([0], [16]);
    attn.qNorm = { ...saved.q, weight: headQ };
    attn.kNorm = { ...saved.k, weight: headK };
    attn.qkNormScope = "head";
    const perHead = read();
    attn.qNorm = saved.q;
    attn.kNorm = saved.k;
    attn.qkNormScope = "all";
    tf.dispose([headQ, headK]);
    let worst = 0;
    for (let i = 0; i < whole.length; i++) worst = Math.max(worst, Math.abs(whole[i] - perHead[i]));
    assert.ok(worst > 1e-2, `scope changed logits by only ${worst}`);
  });
});
