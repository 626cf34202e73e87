// logitDistribution and layerActivations against float64 computations on the engine's own logits and activations.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { logitDistribution } from "../../src/probe/logit-distribution";
import { layerActivations } from "../../src/probe/layer-activations";
import { close, model, referenceOf, rows } from "./models";

function stats64(v: ArrayLike<number>) {
  const n = v.length;
  let mean = 0;
  for (let i = 0; i < n; i++) mean += v[i] / n;
  let variance = 0;
  let max = -Infinity;
  let min = Infinity;
  for (let i = 0; i < n; i++) {
    variance += (v[i] - mean) ** 2 / n;
    max = Math.max(max, v[i]);
    min = Math.min(min, v[i]);
  }
  let z = 0;
  for (let i = 0; i < n; i++) z += Math.exp(v[i] - max);
  const lse = max + Math.log(z);
  let entropy = 0;
  for (let i = 0; i < n; i++) {
    const p = Math.exp(v[i] - lse);
    if (p > 0) entropy -= p * (v[i] - lse);
  }
  return { mean, std: Math.sqrt(variance), min, max, lse, entropy };
}

for (const name of ["demo", "gemma2"]) {
  test(`${name}: logit histograms and vocabulary statistics match float64 on the reference logits`, async () => {
    const m = await model(name);
    const ref = referenceOf(name);
    const logits = ref.tensor("logits");
    const [T, V] = logits.shape;
    const before = tf.memory().numTensors;
    const res = await logitDistribution(m, ref.ints("input_ids"), { positions: [0, -1], bins: 20 });
    assert.equal(tf.memory().numTensors, before, "tensors leaked");
    const stats = rows<Record<string, number>>(res.stats);
    assert.deepEqual(stats.map((s) => s.position), [0, T - 1]);
    for (const s of stats) {
      const row = logits.data.subarray(s.position * V, (s.position + 1) * V);
      const e = stats64(row);
      assert.ok(close(s.mean, e.mean, 1e-4, 1e-3), `mean ${s.mean} vs ${e.mean}`);
      assert.ok(close(s.std, e.std, 1e-4, 1e-3), `std ${s.std} vs ${e.std}`);
      assert.ok(close(s.max, e.max, 1e-4, 1e-4) && close(s.min, e.min, 1e-4, 1e-4));
      assert.ok(close(s.log_sum_exp, e.lse, 1e-4, 1e-4), `lse ${s.log_sum_exp} vs ${e.lse}`);
      assert.ok(close(s.entropy, e.entropy, 1e-4, 1e-3), `entropy ${s.entropy} vs ${e.entropy}`);
      assert.ok(close(s.top_prob, Math.exp(e.max - e.lse), 1e-5, 1e-4));
      assert.equal(s.non_finite, 0);
      const hist = rows<{ position: number; kind: string; count: number; lower: number; upper: number }>(res.histogram).filter((h) => h.position === s.position);
      for (const kind of ["logit", "logprob"]) {
        const bins = hist.filter((h) => h.kind === kind);
        assert.equal(bins.length, 20);
        assert.equal(bins.reduce((a, h) => a + h.count, 0), V, `${kind} counts cover the vocabulary`);
        const shift = kind === "logit" ? 0 : e.lse;
        const expected = bins.map((b, i) => Array.from(row).filter((x) => x - shift >= b.lower - 1e-4 && (i === 19 ? x - shift <= b.upper + 1e-4 : x - shift < b.upper)).length);
        const off = bins.reduce((a, b, i) => a + Math.abs(b.count - expected[i]), 0);
        assert.ok(off <= 4, `${kind} histogram off by ${off}`);
      }
    }
  });
}

test("demo: layer activation statistics, MLP sparsity and histograms match float64 on the cached activations", async () => {
  const m = await model("demo");
  const prompt = "The capital of France is";
  const before = tf.memory().numTensors;
  const res = await layerActivations(m, prompt, { bins: 16, sparsityThreshold: 0.05, topNeurons: 5 });
  assert.equal(tf.memory().numTensors, before, "tensors leaked");
  const L = m.config.numLayers;
  const run = m.run(prompt, { cache: ["resid_pre", "resid_post", "mlp.hook_post"] });
  try {
    const layers = rows<{ layer: number; mean_abs: number; max_abs: number; mlp_sparsity: number | null }>(res.layers);
    assert.equal(layers.length, L + 1);
    for (const r of layers) {
      const x = (r.layer === 0 ? run.cache.get("resid_pre", 0) : run.cache.get("resid_post", r.layer - 1)).dataSync();
      const abs = Array.from(x, Math.abs);
      assert.ok(close(r.mean_abs, abs.reduce((s, v) => s + v, 0) / abs.length, 1e-4, 1e-4));
      assert.ok(close(r.max_abs, Math.max(...abs), 1e-4, 1e-5));
      const counts = rows<{ layer: number; count: number }>(res.histogram).filter((h) => h.layer === r.layer);
      assert.equal(counts.reduce((s, h) => s + h.count, 0), x.length, "every activation lands in a bin of the shared range");
      if (r.layer === 0) {
        assert.equal(r.mlp_sparsity, null);
        continue;
      }
      const post = run.cache.get("mlp.hook_post", r.layer - 1).dataSync();
      assert.ok(close(r.mlp_sparsity!, Array.from(post).filter((v) => Math.abs(v) < 0.05).length / post.length, 1e-6, 1e-6));
    }
    assert.equal(res.neurons.numRows(), 5);
  } finally {
    run.dispose();
  }
});
