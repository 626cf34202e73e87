import { test } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { gini, moeRouting } from "../../src/probe/moe";
import { ArgumentError } from "../../src/errors";
import { close, model, referenceOf, rows } from "./models";

for (const name of ["mixtral", "qwen3_moe"]) {
  test(`${name}: router logits match the reference; routing, load and paths are consistent with them`, async () => {
    const m = await model(name);
    const ref = referenceOf(name);
    const [L, T, E] = ref.json.keys.router_logits;
    const want = ref.tensor("router_logits").data;
    const before = tf.memory().numTensors;
    const res = await moeRouting(m, ref.ints("input_ids"));
    assert.equal(tf.memory().numTensors, before, "tensors leaked");
    for (let l = 0; l < L; l++) {
      const got = res.routerLogits.get(l)!;
      for (let t = 0; t < T; t++) for (let e = 0; e < E; e++) assert.ok(close(got[t][e], want[(l * T + t) * E + e]), `router_logits[${l}][${t}][${e}]`);
    }
    // The chosen experts are the top-k of the router (softmax is monotonic), heaviest first.
    const k = m.config.moe!.topK;
    const routing = rows<{ layer: number; position: number; slot: number; expert: number; weight: number }>(res.routing);
    assert.equal(routing.length, L * T * k);
    for (let l = 0; l < L; l++) {
      for (let t = 0; t < T; t++) {
        const logits = Array.from({ length: E }, (_, e) => want[(l * T + t) * E + e]);
        const order = logits.map((v, e) => [v, e]).sort((a, b) => b[0] - a[0]).map(([, e]) => e);
        const chosen = routing.filter((r) => r.layer === l && r.position === t).sort((a, b) => a.slot - b.slot);
        assert.deepEqual(chosen.map((r) => r.expert), order.slice(0, k), `layer ${l} token ${t}`);
        // Mixtral always renormalises the kept probabilities; Qwen3-MoE does with norm_topk_prob (set here).
        assert.ok(close(chosen.reduce((s, r) => s + r.weight, 0), 1, 1e-5, 0));
      }
    }
    const load = rows<{ layer: number; count: number; fraction: number }>(res.load);
    for (let l = 0; l < L; l++) {
      const layerLoad = load.filter((r) => r.layer === l);
      assert.equal(layerLoad.reduce((s, r) => s + r.count, 0), T * k);
      assert.ok(close(layerLoad.reduce((s, r) => s + r.fraction, 0), 1, 1e-9, 0));
    }
    const paths = rows<{ position: number; path: string }>(res.paths);
    assert.equal(paths.length, T);
    assert.equal(paths[0].path, Array.from({ length: L }, (_, l) => routing.find((r) => r.layer === l && r.position === 0 && r.slot === 0)!.expert).join("→"));
    for (const s of rows<{ router_entropy: number; effective_experts: number; gini: number }>(res.layers)) {
      assert.ok(s.router_entropy > 0 && s.router_entropy <= Math.log(E) + 1e-6);
      assert.ok(s.effective_experts >= 1 && s.effective_experts <= E + 1e-9);
      assert.ok(s.gini >= 0 && s.gini < 1);
    }
  });
}

test("gini: 0 for equal load, (n−1)/n for one expert taking everything", () => {
  assert.equal(gini([1, 1, 1, 1]), 0);
  assert.ok(close(gini([0, 0, 0, 1]), 3 / 4, 1e-12, 0));
  assert.ok(close(gini([1, 3]), 0.25, 1e-12, 0)); // mean absolute difference 1 / (2 · mean 2)
});

test("moeRouting on a dense model is an ArgumentError", async () => {
  await assert.rejects(moeRouting(await model("llama"), [1, 2, 3]), ArgumentError);
});
