// The wasm-arranged products give what tf.matMul gives (to float32 rounding of a different summation order), on
// every backend, for batches split or not (each side of the size threshold), with and without a transposed b.
import assert from "node:assert/strict";
import { test } from "node:test";
import * as tf from "@tensorflow/tfjs-core";
import { batchedMatMul, matMulTransposedWeight } from "../../src/model/components/linear";
import { onEachBackend } from "../tensor/reference";

function maxRelDiff(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.div(tf.abs(tf.sub(a, b)), tf.add(tf.abs(b), 1))).dataSync()[0]);
}

test("matMulTransposedWeight is x @ Wᵀ", async () => {
  await onEachBackend((backend) => {
    const x = tf.randomNormal([7, 48], 0, 1, "float32", 1) as tf.Tensor2D;
    const W = tf.randomNormal([300, 48], 0, 1, "float32", 2) as tf.Tensor2D;
    const got = matMulTransposedWeight(x, W);
    const want = tf.matMul(x, W, false, true);
    assert.deepEqual(got.shape, [7, 300]);
    assert.ok(maxRelDiff(got, want) < 1e-5, backend);
    tf.dispose([x, W, got, want]);
  });
});

test("batchedMatMul equals tf.matMul for small and large products, batched or single, b transposed or not", async () => {
  await onEachBackend((backend) => {
    // [batch dims, m, k, n]: a tiny product (plain loop), large ones split per matrix, a batch of one.
    const cases: [number[], number, number, number][] = [[[1, 4], 6, 8, 5], [[2, 3], 96, 32, 64], [[1, 1], 128, 64, 128]];
    for (const [batch, m, k, n] of cases) {
      for (const transposeB of [false, true]) {
        const a = tf.randomNormal([...batch, m, k], 0, 1, "float32", m);
        const b = tf.randomNormal(transposeB ? [...batch, n, k] : [...batch, k, n], 0, 1, "float32", n);
        const before = tf.memory().numTensors;
        const got = batchedMatMul(a, b, transposeB);
        assert.equal(tf.memory().numTensors, before + 1, "only the result is left");
        const want = tf.matMul(a, b, false, transposeB);
        assert.deepEqual(got.shape, want.shape);
        assert.ok(maxRelDiff(got, want) < 1e-5, `${backend} [${batch}] ${m}×${k}×${n} transposeB=${transposeB}`);
        tf.dispose([a, b, got, want]);
      }
    }
  });
});

test("the demo model on 128 tokens (attention products split on wasm) gives cpu's logits and patterns", async () => {
  const { setBackend } = await import("../../src/backend");
  const { loadFixture } = await import("./engine-helpers");
  const ids = Array.from({ length: 128 }, (_, i) => 1 + ((i * 7919) % 1023));
  const results: Record<string, { logits: Float32Array; pattern: Float32Array }> = {};
  for (const backend of ["wasm", "cpu"] as const) {
    await setBackend(backend);
    const model = loadFixture("demo");
    const r = model.run(ids, { cache: ["blocks.3.attn.hook_pattern"] });
    results[backend] = { logits: r.logits.dataSync() as Float32Array, pattern: r.cache.get("pattern", 3).dataSync() as Float32Array };
    r.dispose();
    model.dispose();
  }
  for (const key of ["logits", "pattern"] as const) {
    const [a, b] = [results.wasm[key], results.cpu[key]];
    let worst = 0;
    // Within the parity tolerance: |wasm − cpu| ≤ 1e-4 + 1e-4·|cpu|.
    for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]) / (1e-4 + 1e-4 * Math.abs(b[i])));
    assert.ok(worst <= 1, `${key}: wasm and cpu differ by ${worst} × the tolerance`);
  }
});
