import { test } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { topK } from "../../src/tensor/top-k";
import { ArgumentError } from "../../src/errors";
import { extremeRows, onEachBackend, randomMatrix, input } from "./reference";

function topK64(row: number[], k: number): number[] {
  return row.map((v, i) => [v, i]).sort((x, y) => y[0] - x[0] || x[1] - y[1]).slice(0, k).map(([, i]) => i);
}

test("topK returns the k largest, descending, ties by lower index", async () => {
  await onEachBackend(async (backend) => {
    const rows = [...randomMatrix(4, 30, 31), ...extremeRows(30, 32), [3, 1, 3, 2, 3, 0, ...Array(24).fill(-1)]];
    const { values, indices } = topK(input(tf.tensor2d(rows)), 5);
    const idx = (await indices.array()) as number[][];
    const val = (await values.array()) as number[][];
    rows.forEach((row, r) => {
      const want = topK64(row, 5);
      assert.deepEqual(val[r], want.map((i) => Math.fround(row[i])), `${backend} row ${r} values`);
      // Among −Infinity entries (masked tokens) the order is the backend's; everywhere else it is fixed.
      want.forEach((i, j) => row[i] !== -Infinity && assert.equal(idx[r][j], i, `${backend} row ${r} rank ${j}`));
    });
    tf.dispose([values, indices]);
  });
});

test("topK rejects k outside [1, n]", () => {
  const x = tf.zeros([2, 4]);
  assert.throws(() => topK(x, 0), ArgumentError);
  assert.throws(() => topK(x, 5), ArgumentError);
  assert.throws(() => topK(x, 1.5), ArgumentError);
  x.dispose();
});
