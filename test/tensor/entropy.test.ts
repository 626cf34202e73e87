import { test } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { entropy } from "../../src/tensor/entropy";
import { assertClose, entropy64, extremeRows, onEachBackend, randomMatrix, read, softmax64, input } from "./reference";

test("entropy of logits and of probabilities matches float64, in nats and bits", async () => {
  await onEachBackend(async (backend) => {
    for (const rows of [randomMatrix(5, 41, 11, 3), extremeRows(23, 12)]) {
      const want = rows.map(entropy64);
      assertClose(await read(() => entropy(input(tf.tensor2d(rows)))), want, 2e-5, 1e-4, `${backend} logits nats`);
      assertClose(await read(() => entropy(input(tf.tensor2d(rows)), { base: "2" })), want.map((h) => h / Math.LN2), 3e-5, 1e-4, `${backend} bits`);
      const probs = rows.map(softmax64);
      assertClose(await read(() => entropy(input(tf.tensor2d(probs)), { input: "probs" })), want, 2e-5, 1e-4, `${backend} probs`);
    }
  });
});

test("entropy of a uniform distribution over n is log n", async () => {
  await onEachBackend(async () => {
    assertClose(await read(() => entropy(input(tf.zeros([2, 64])), { base: "2" })), [6, 6], 1e-5, 0);
  });
});

test("entropy rejects any base other than e and 2 with a RangeError", () => {
  const x = tf.zeros([3]);
  for (const base of ["10", "nats", 2, undefined as unknown]) {
    if (base === undefined) continue; // undefined means the default, "e"
    assert.throws(() => entropy(x, { base: base as "e" }), RangeError);
  }
  x.dispose();
});
