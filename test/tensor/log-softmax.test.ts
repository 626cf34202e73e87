import { test } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { logSoftmax, logSumExp } from "../../src/tensor/log-softmax";
import { ArgumentError } from "../../src/errors";
import { assertClose, extremeRows, logSoftmax64, logSumExp64, onEachBackend, randomMatrix, read, input } from "./reference";

test("logSoftmax and logSumExp match float64, masks stay -Infinity, no NaN", async () => {
  await onEachBackend(async (backend) => {
    for (const rows of [randomMatrix(4, 53, 5, 6), extremeRows(31, 6)]) {
      const got = await read(() => logSoftmax(input(tf.tensor2d(rows))));
      // float32 keeps ~7 digits of a 1e4 logit: the absolute error of x − lse is ~1e-3 there.
      assertClose(got, rows.flatMap(logSoftmax64), 2e-3, 1e-6, `${backend} logSoftmax`);
      const lse = await read(() => logSumExp(input(tf.tensor2d(rows))));
      assertClose(lse, rows.map(logSumExp64), 1e-5, 1e-6, `${backend} logSumExp`);
    }
  });
});

test("logSoftmax rejects an axis outside the tensor", () => {
  assert.throws(() => logSoftmax(tf.zeros([2, 3]), 2), ArgumentError);
});
