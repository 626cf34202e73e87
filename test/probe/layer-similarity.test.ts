import { test } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { layerSimilarity } from "../../src/probe/layer-similarity";
import { close, model, referenceOf, rows } from "./models";

for (const name of ["gpt2", "llama", "gemma2", "gpt_neox", "demo"]) {
  test(`${name}: layer similarity matches layer_cos_last and layer_cos_flat`, async () => {
    const m = await model(name);
    const ref = referenceOf(name);
    const before = tf.memory().numTensors;
    const sim = await layerSimilarity(m, ref.ints("input_ids"), { perPosition: "all" });
    assert.equal(tf.memory().numTensors, before, "tensors leaked");
    const L1 = m.config.numLayers + 1;
    for (const [key, got] of [["layer_cos_last", sim.last], ["layer_cos_flat", sim.flat]] as const) {
      const want = ref.tensor(key).data;
      got.forEach((row, i) => row.forEach((v, j) => assert.ok(close(v, want[i * L1 + j], 1e-5, 1e-4), `${key}[${i}][${j}] = ${v}, reference ${want[i * L1 + j]}`)));
    }
    // The per-position matrix at the last position is the last-position matrix.
    const T = ref.ints("input_ids").length;
    for (const r of rows<{ position: number; layer_a: number; layer_b: number; similarity: number }>(sim.perPosition).filter((r) => r.position === T - 1)) {
      assert.ok(close(r.similarity, sim.last[r.layer_a][r.layer_b], 1e-6, 1e-5));
    }
    assert.equal(sim.table.numRows(), 2 * L1 * L1);
    const flatRows = rows<{ layer_a: number; layer_b: number; similarity: number }>(sim.flatTable);
    assert.equal(flatRows.length, L1 * L1);
    for (const r of flatRows) assert.equal(r.similarity, sim.flat[r.layer_a][r.layer_b]);
  });
}
