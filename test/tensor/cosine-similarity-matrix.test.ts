import { test } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { cosineSimilarityMatrix } from "../../src/tensor/cosine-similarity-matrix";
import { ArgumentError } from "../../src/errors";
import { assertClose, cosine64, onEachBackend, randomMatrix, read, input } from "./reference";

test("cosineSimilarityMatrix matches pairwise float64 cosines, one and two matrices", async () => {
  await onEachBackend(async (backend) => {
    const a = randomMatrix(7, 16, 21, 50);
    a[3] = a[3].map(() => 0); // zero row → 0, not NaN
    a[5] = a[1].map((v) => -2 * v); // exactly opposite → −1
    const b = randomMatrix(4, 16, 22, 1e-3);
    assertClose(await read(() => cosineSimilarityMatrix(input(tf.tensor2d(a)))), a.flatMap((r) => a.map((s) => cosine64(r, s))), 2e-6, 0, `${backend} a·a`);
    assertClose(await read(() => cosineSimilarityMatrix(input(tf.tensor2d(a)), input(tf.tensor2d(b)))), a.flatMap((r) => b.map((s) => cosine64(r, s))), 2e-6, 0, `${backend} a·b`);
  });
});

test("cosineSimilarityMatrix uses one matmul, not a loop over pairs", async () => {
  const x = tf.randomNormal([40, 8]);
  // tfjs's profiler lists every kernel that ran.
  const info = await tf.profile(() => cosineSimilarityMatrix(x));
  const matmuls = info.kernels.filter((k) => /MatMul/.test(k.name));
  assert.equal(matmuls.length, 1, `kernels: ${info.kernels.map((k) => k.name).join(",")}`);
  tf.dispose([x, info.result as tf.Tensor]);
});

test("cosineSimilarityMatrix rejects mismatched shapes", () => {
  assert.throws(() => cosineSimilarityMatrix(tf.zeros([3])), ArgumentError);
  assert.throws(() => cosineSimilarityMatrix(tf.zeros([3, 2]), tf.zeros([3, 4])), ArgumentError);
});
