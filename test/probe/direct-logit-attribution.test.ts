import { test } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { directLogitAttribution } from "../../src/probe/direct-logit-attribution";
import { close, model, referenceOf, rows } from "./models";

type Comp = { component: string; layer: number | null; contribution: number };

for (const name of ["gpt2", "llama", "gpt_neox", "gemma2", "demo"]) {
  test(`${name}: the attributions sum to the model's logit; heads sum to their layer; neurons to their MLP`, async () => {
    const m = await model(name);
    const ids = referenceOf(name).ints("input_ids");
    const before = tf.memory().numTensors;
    const res = await directLogitAttribution(m, ids, { topNeurons: 1e9 });
    assert.equal(tf.memory().numTensors, before, "tensors leaked");
    const cap = m.config.finalLogitSoftcap;
    // The sum is the logit before the final softcap (Gemma 2 applies cap·tanh(x/cap) after).
    const expected = cap ? cap * Math.tanh(res.total / cap) : res.total;
    assert.ok(close(expected, res.modelLogit, 1e-3, 1e-4), `Σ = ${res.total} (→ ${expected}) vs logit ${res.modelLogit}`);
    const comps = rows<Comp>(res.components);
    assert.equal(comps.length, 2 + 2 * m.config.numLayers);
    // Each head's share sums to its layer's attention contribution, up to the output bias b_O.
    const heads = rows<{ layer: number; head: number; contribution: number }>(res.heads);
    m.weights.blocks.forEach((blk, l) => {
      if (blk.postAttnNorm) {
        assert.equal(heads.filter((h) => h.layer === l).length, 0, "no head split through a post-attention norm");
        return;
      }
      const sum = heads.filter((h) => h.layer === l).reduce((s, h) => s + h.contribution, 0);
      const attn = comps.find((c) => c.component === "attn" && c.layer === l)!.contribution;
      if (!blk.attn.b_O) assert.ok(close(sum, attn, 1e-4, 1e-3), `layer ${l}: heads ${sum} vs attn ${attn}`);
      if (blk.mlp.kind === "dense" && !blk.mlp.b_out && !blk.postMlpNorm) {
        const neurons = rows<{ layer: number; contribution: number }>(res.neurons).filter((n) => n.layer === l);
        const mlp = comps.find((c) => c.component === "mlp" && c.layer === l)!.contribution;
        assert.ok(close(neurons.reduce((s, n) => s + n.contribution, 0), mlp, 1e-4, 1e-3), `layer ${l}: neurons vs mlp ${mlp}`);
      }
    });
  });
}

test("demo: ' Paris' over ' Rome' after 'The capital of France is' is attributed, and a baseline subtracts", async () => {
  const m = await model("demo");
  const paris = await directLogitAttribution(m, "The capital of France is", { target: " Paris" });
  const rome = await directLogitAttribution(m, "The capital of France is", { target: " Rome" });
  const diff = await directLogitAttribution(m, "The capital of France is", { target: " Paris", baseline: " Rome", topNeurons: 3 });
  assert.ok(close(diff.total, paris.total - rome.total, 1e-3, 1e-4));
  assert.ok(close(diff.modelLogit, paris.modelLogit - rome.modelLogit, 1e-3, 1e-4));
  assert.ok(diff.total > 0, "the model prefers Paris");
  assert.equal(diff.neurons.numRows(), 3);
  const top = rows<{ contribution: number }>(diff.neurons);
  assert.ok(Math.abs(top[0].contribution) >= Math.abs(top[2].contribution));
});
