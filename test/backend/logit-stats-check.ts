// The logit-statistics kernel (logitStats: log Σ exp, entropy, top-k per row) against float64 on the host, with
// ties, masked (−Infinity) entries, a NaN, large logits and a row with fewer finite logits than k: shared by the
// webgpu test (kernels.test.ts) and the cpu-native one (native.test.ts), on whichever backend is active.
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { logitStats } from "../../src/backend";
import { randoms } from "./product-reference";

export async function checkLogitStats(): Promise<void> {
  const rows = 9;
  const V = 1001;
  const x = randoms(rows * V, 3, 8);
  x[2 * V + 17] = 30; // ties at the top: the lower id first
  x[2 * V + 5] = 30;
  for (let i = 0; i < V; i++) if (i % 3 === 0) x[4 * V + i] = -Infinity; // masked entries
  x[5 * V + 9] = NaN; // skipped
  for (let i = 0; i < V; i++) x[6 * V + i] = 1e4 + (i % 7); // large logits: no cancellation
  for (let i = 0; i < V; i++) x[7 * V + i] = i === 100 || i === 200 ? i / 100 : -Infinity; // fewer finite logits than k
  const before = tf.memory().numTensors;
  const logits = tf.tensor2d(x, [rows, V]);
  const st = logitStats(logits, 5)!;
  const [lse, ent, topV, topI] = await Promise.all([st.logSumExp.data(), st.entropy.data(), st.topLogits.data(), st.topIds.data()]);
  assert.equal(st.topIds.dtype, "int32");
  for (let r = 0; r < rows; r++) {
    const row = Array.from(x.subarray(r * V, (r + 1) * V)).map((v, i) => [v, i]).filter(([v]) => !Number.isNaN(v));
    const m = Math.max(...row.map(([v]) => v));
    const s = row.reduce((acc, [v]) => acc + Math.exp(v - m), 0);
    const l = m + Math.log(s);
    const h = -row.reduce((acc, [v]) => acc + (v === -Infinity ? 0 : Math.exp(v - l) * (v - l)), 0);
    const order = row.sort((a, b) => b[0] - a[0] || a[1] - b[1]).slice(0, 5);
    assert.ok(Math.abs(lse[r] - l) <= 1e-5 * Math.max(1, Math.abs(l)), `row ${r} lse ${lse[r]} vs ${l}`);
    assert.ok(Math.abs(ent[r] - h) <= 2e-5, `row ${r} entropy ${ent[r]} vs ${h}`);
    assert.deepEqual(Array.from(topI.subarray(r * 5, r * 5 + 5)), order.map(([, i]) => i), `row ${r} top ids`);
    order.forEach(([v], j) => assert.ok(topV[r * 5 + j] === v || Math.abs(topV[r * 5 + j] - v) < 1e-4, `row ${r} top ${j}: ${topV[r * 5 + j]} vs ${v}`));
  }
  assert.deepEqual(Array.from(topI.subarray(10, 12)), [5, 17]);
  // The masked tail of a row with two finite logits: the lowest ids, at −Infinity, after the finite ones.
  assert.deepEqual(Array.from(topI.subarray(35, 40)), [200, 100, 0, 1, 2]);
  assert.deepEqual(Array.from(topV.subarray(37, 40)), [-Infinity, -Infinity, -Infinity]);
  tf.dispose([logits, st.logSumExp, st.entropy, st.topLogits, st.topIds]);
  assert.equal(tf.memory().numTensors, before);
}
