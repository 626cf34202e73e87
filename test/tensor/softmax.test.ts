import { test } from "node:test";
import * as tf from "@tensorflow/tfjs-core";
import { softmax } from "../../src/tensor/softmax";
import { assertClose, extremeRows, onEachBackend, randomMatrix, read, softmax64, input } from "./reference";

test("softmax matches float64 on random and extreme rows, on every backend", async () => {
  await onEachBackend(async (backend) => {
    for (const rows of [randomMatrix(5, 37, 1, 4), extremeRows(29, 2)]) {
      const got = await read(() => softmax(input(tf.tensor2d(rows))));
      assertClose(got, rows.flatMap(softmax64), 1e-6, 1e-5, `${backend} softmax`);
    }
  });
});

test("softmax along the first axis equals softmax of the transpose", async () => {
  await onEachBackend(async () => {
    const m = randomMatrix(7, 4, 3, 2);
    const cols = m[0].map((_, j) => m.map((r) => r[j]));
    const x = input(tf.tensor2d(m));
    const got = await read(() => tf.tidy(() => tf.transpose(softmax(x, 0))));
    assertClose(got, cols.flatMap(softmax64), 1e-6, 1e-5, "axis 0");
  });
});
