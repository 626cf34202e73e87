import { test } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { Matrix, SingularValueDecomposition } from "ml-matrix";
import { pca } from "../../src/tensor/pca";
import { embeddingPca } from "../../src/probe/embedding-pca";
import { compareRuns } from "../../src/probe/run-comparison";
import { close, model, ready, rows } from "./models";

/** Float64 PCA by a full SVD of the centred matrix (ml-matrix): scores U·Σ, ratios σ² / Σσ². */
function referencePca(x: number[][], k: number) {
  const n = x.length;
  const means = x[0].map((_, j) => x.reduce((s, r) => s + r[j], 0) / n);
  const centred = new Matrix(x.map((r) => r.map((v, j) => v - means[j])));
  const svd = new SingularValueDecomposition(centred, { autoTranspose: true });
  const total = svd.diagonal.reduce((s, v) => s + v * v, 0);
  const scores = centred.mmul(svd.rightSingularVectors).to2DArray().map((r) => r.slice(0, k));
  return { scores, ratios: svd.diagonal.slice(0, k).map((s) => (s * s) / total) };
}

function assertSameUpToSign(got: number[][], expected: number[][], scale: number, what: string) {
  for (let c = 0; c < expected[0].length; c++) {
    const sign = Math.sign(got.reduce((s, r, i) => s + r[c] * expected[i][c], 0)) || 1;
    got.forEach((r, i) => assert.ok(Math.abs(sign * r[c] - expected[i][c]) <= 2e-3 * scale, `${what} pc${c + 1} row ${i}: ${r[c]} vs ${expected[i][c]}`));
  }
}

test("device PCA matches a float64 SVD, for wide (Gram) and tall (scatter) matrices, and rank-deficient input", async () => {
  await ready();
  const rand = (i: number) => (Math.sin(i * 78.233) * 43758.5453) % 1;
  // A few strong directions plus noise, so the components are well separated.
  const make = (n: number, d: number) =>
    Array.from({ length: n }, (_, i) => Array.from({ length: d }, (_, j) => 5 * rand(i + 1) * Math.cos(j) + 2 * rand(i + 7) * Math.sin(3 * j) + 0.1 * rand(i * d + j)));
  for (const [n, d] of [[12, 40], [60, 9]]) {
    const x = make(n, d);
    const t = tf.tensor2d(x);
    const before = tf.memory().numTensors;
    const got = await pca(t, 3);
    assert.equal(tf.memory().numTensors, before);
    t.dispose();
    const ref = referencePca(x, 3);
    got.explainedRatio.forEach((r, i) => assert.ok(close(r, ref.ratios[i], 1e-4, 1e-3), `[${n}, ${d}] ratio ${i}: ${r} vs ${ref.ratios[i]}`));
    const scale = Math.max(...ref.scores.flat().map(Math.abs));
    assertSameUpToSign(got.scores, ref.scores, scale, `[${n}, ${d}]`);
  }
  // Repeated rows: rank 1 after centring; the second component has no variance and nothing turns NaN.
  const t = tf.tensor2d([[1, 2, 3], [1, 2, 3], [4, 5, 7]]);
  const r = await pca(t, 2);
  t.dispose();
  assert.ok(r.scores.flat().every(Number.isFinite));
  assert.ok(close(r.explainedRatio[0], 1, 1e-4, 0));
  assert.ok(r.explainedRatio[1] < 1e-4);
  await assert.rejects(() => pca(tf.zeros([1, 4]) as tf.Tensor2D, 1), /components/);
});

test("demo: embedding PCA at a layer equals the float64 PCA of the cached residual stream", async () => {
  const m = await model("demo");
  const prompt = "The capital of France is Paris. The capital of Japan is Tokyo.";
  const before = tf.memory().numTensors;
  const res = await embeddingPca(m, prompt, { layer: 2, components: 2, topDimensions: 4 });
  assert.equal(tf.memory().numTensors, before, "tensors leaked");
  const run = m.run(prompt, { cache: ["blocks.1.hook_resid_post"] });
  const x = (run.cache.get("blocks.1.hook_resid_post").arraySync() as number[][][])[0];
  run.dispose();
  const ref = referencePca(x, 2);
  const scores = rows<{ pc1: number; pc2: number }>(res.scores).map((r) => [r.pc1, r.pc2]);
  assertSameUpToSign(scores, ref.scores, Math.max(...ref.scores.flat().map(Math.abs)), "demo layer 2");
  rows<{ explained_ratio: number }>(res.components).forEach((c, i) => assert.ok(close(c.explained_ratio, ref.ratios[i], 1e-4, 1e-3)));
  // The top-variance dimensions are those of largest float64 variance, with the tokens' own values.
  const variance = x[0].map((_, j) => {
    const mean = x.reduce((s, r) => s + r[j], 0) / x.length;
    return x.reduce((s, r) => s + (r[j] - mean) ** 2, 0);
  });
  const top = variance.map((v, j) => [v, j]).sort((a, b) => b[0] - a[0]).slice(0, 4).map(([, j]) => j);
  const dims = rows<{ position: number; dimension: number; value: number }>(res.dimensions);
  assert.deepEqual([...new Set(dims.map((r) => r.dimension))].sort((a, b) => a - b), [...top].sort((a, b) => a - b));
  for (const r of dims) assert.ok(close(r.value, x[r.position][r.dimension], 1e-5, 1e-5));
  await assert.rejects(() => embeddingPca(m, prompt, { layer: 9 }), /layer/);
});

test("demo: two-prompt comparison equals float64 distances and cosines of the two runs; lengths must be aligned", async () => {
  const m = await model("demo");
  const [a, b] = ["The capital of France is", "The capital of Japan is"];
  const before = tf.memory().numTensors;
  const res = await compareRuns(m, a, b);
  assert.equal(tf.memory().numTensors, before, "tensors leaked");
  const ra = m.run(a, { cache: ["resid_pre", "resid_post"] });
  const rb = m.run(b, { cache: ["resid_pre", "resid_post"] });
  try {
    const stream = (r: typeof ra, layer: number) => (layer === 0 ? r.cache.get("resid_pre", 0) : r.cache.get("resid_post", layer - 1)).arraySync() as number[][][];
    for (const row of rows<{ layer: number; position: number; l2: number; cosine: number }>(res.table)) {
      const [xa, xb] = [stream(ra, row.layer)[0][row.position], stream(rb, row.layer)[0][row.position]];
      const l2 = Math.sqrt(xa.reduce((s, v, i) => s + (v - xb[i]) ** 2, 0));
      const dot = xa.reduce((s, v, i) => s + v * xb[i], 0);
      const cos = dot / Math.sqrt(xa.reduce((s, v) => s + v * v, 0) * xb.reduce((s, v) => s + v * v, 0));
      assert.ok(close(row.l2, l2, 1e-3, 1e-3), `l2 ${row.layer}/${row.position}: ${row.l2} vs ${l2}`);
      assert.ok(close(row.cosine, cos, 1e-5, 1e-4), `cos ${row.layer}/${row.position}`);
    }
  } finally {
    ra.dispose();
    rb.dispose();
  }
  // Same tokens before the country: identical streams there at layer 0.
  const first = rows<{ layer: number; position: number; l2: number }>(res.table).filter((r) => r.layer === 0 && r.position < 3);
  first.forEach((r) => assert.ok(r.l2 < 1e-6));
  await assert.rejects(() => compareRuns(m, a, "The capital of the country called Japan is"), /align/);
  const aligned = await compareRuns(m, a, "So the capital of Japan is", { align: "end" });
  const last = rows<{ layer: number; token_a: string; token_b: string }>(aligned.table).filter((r) => r.layer === 0).at(-1)!;
  assert.equal(last.token_a, last.token_b);
});
