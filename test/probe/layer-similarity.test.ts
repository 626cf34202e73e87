import { test } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { layerSimilarity, layerSimilarityFromCache } from "../../src/probe/layer-similarity";
import { residualHookNames } from "../../src/probe/residual-rows";
import { seededRandom } from "../../src/probe/random";
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

// Entries of 1e20 are finite, but their squares are not in float32: the Gram matrices overflow and the stream is
// scaled by its largest magnitude before the product. The cosines must be those of the same stream at a sane
// scale, computed here in float64; a stream with a NaN gives NaN where that layer is involved.
test("layer similarity of a stream whose squares overflow float32 equals that of the stream scaled down; NaN stays NaN", async () => {
  const [L, T, d] = [3, 6, 16];
  const random = seededRandom(5);
  const base = residualHookNames(L).map(() => Float32Array.from({ length: T * d }, () => random() * 2 - 1));
  const cacheOf = (scale: number, nanAt?: number) => {
    const tensors = new Map(residualHookNames(L).map((n, l) => {
      const values = base[l].map((v) => v * scale);
      if (l === nanAt) values[3] = NaN;
      return [n, tf.tensor3d(values, [1, T, d])] as const;
    }));
    return { cache: { get: (n: string) => tensors.get(n)! }, dispose: () => tf.dispose([...tensors.values()]) };
  };
  const cos = (a: Float32Array, b: Float32Array, from = 0, to = a.length) => {
    let ab = 0, aa = 0, bb = 0;
    for (let i = from; i < to; i++) { ab += a[i] * b[i]; aa += a[i] * a[i]; bb += b[i] * b[i]; }
    return ab / Math.sqrt(aa * bb);
  };
  const huge = cacheOf(1e20);
  const before = tf.memory().numTensors;
  const sim = await layerSimilarityFromCache(huge.cache, L, { perPosition: "all" });
  assert.equal(tf.memory().numTensors, before, "tensors leaked");
  for (let i = 0; i <= L; i++) for (let j = 0; j <= L; j++) {
    assert.ok(close(sim.flat[i][j], cos(base[i], base[j]), 1e-5, 1e-5), `flat[${i}][${j}] = ${sim.flat[i][j]}`);
    assert.ok(close(sim.last[i][j], cos(base[i], base[j], (T - 1) * d, T * d), 1e-5, 1e-5), `last[${i}][${j}] = ${sim.last[i][j]}`);
  }
  huge.dispose();
  const withNan = cacheOf(1, 1);
  const nan = await layerSimilarityFromCache(withNan.cache, L);
  assert.ok(Number.isNaN(nan.flat[0][1]) && Number.isNaN(nan.flat[1][2]), "layer 1 has a NaN");
  assert.ok(close(nan.flat[0][2], cos(base[0], base[2]), 1e-5, 1e-5), "pairs without layer 1 are unaffected");
  withNan.dispose();
});

test("per-position similarities at every position, adjacent and all pairs, and the long table's two scopes", async () => {
  const [L, T, d] = [3, 5, 8];
  const random = seededRandom(11);
  const streams = residualHookNames(L).map(() => Float32Array.from({ length: T * d }, () => random() * 2 - 1));
  const tensors = new Map(residualHookNames(L).map((n, l) => [n, tf.tensor3d(streams[l], [1, T, d])] as const));
  const cache = { get: (n: string) => tensors.get(n)! };
  const cosAt = (i: number, j: number, p: number) => {
    let ab = 0, aa = 0, bb = 0;
    for (let c = p * d; c < (p + 1) * d; c++) { ab += streams[i][c] * streams[j][c]; aa += streams[i][c] ** 2; bb += streams[j][c] ** 2; }
    return ab / Math.sqrt(aa * bb);
  };
  type Row = { position: number; layer_a: number; layer_b: number; similarity: number };
  for (const mode of ["adjacent", "all"] as const) {
    const sim = await layerSimilarityFromCache(cache, L, { perPosition: mode });
    const got = rows<Row>(sim.perPosition);
    const want: Array<[number, number, number]> = [];
    for (let p = 0; p < T; p++) for (let i = 0; i <= L; i++) for (let j = 0; j <= L; j++) if (mode === "all" || j === i + 1) want.push([p, i, j]);
    assert.deepEqual(got.map((r) => [r.position, r.layer_a, r.layer_b]), want, mode);
    got.forEach((r) => assert.ok(close(r.similarity, cosAt(r.layer_a, r.layer_b, r.position), 1e-5, 1e-5), `${mode} ${JSON.stringify(r)}`));
    const long = rows<Omit<Row, "position"> & { scope: string }>(sim.table);
    const n = L + 1;
    long.forEach((r, at) => {
      const scope = at < n * n ? "last" : "flat";
      const cell = at % (n * n);
      assert.deepEqual([r.scope, r.layer_a, r.layer_b], [scope, Math.floor(cell / n), cell % n]);
      assert.equal(r.similarity, sim[scope][r.layer_a][r.layer_b]);
    });
    assert.deepEqual(rows<Omit<Row, "position">>(sim.lastTable), long.slice(0, n * n).map(({ scope: _, ...r }) => r));
  }
  tf.dispose([...tensors.values()]);
});
