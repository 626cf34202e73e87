import { test } from "node:test";
import * as tf from "@tensorflow/tfjs-core";
import assert from "node:assert/strict";
import { norm } from "../../src/tensor/norm";
import { assertClose, norm64, onEachBackend, randomMatrix, read, input } from "./reference";

test("norm over the last axis, the first axis and all axes matches float64", async () => {
  await onEachBackend(async (backend) => {
    const m = randomMatrix(6, 9, 7, 3);
    m[2] = m[2].map(() => 0); // a zero row has norm 0, not NaN
    m[3] = m[3].map((v) => v * 1e20); // squares would overflow float32 without scaling
    const x = input(tf.tensor2d(m));
    assertClose(await read(() => norm(x)), m.map(norm64), 0, 1e-5, `${backend} rows`);
    assertClose(await read(() => norm(x, { axis: 0 })), m[0].map((_, j) => norm64(m.map((r) => r[j]))), 0, 1e-5, `${backend} cols`);
    assertClose(await read(() => norm(x, { axis: null })), [norm64(m.flat())], 0, 1e-5, `${backend} all`);
    const kept = norm(x, { axis: 1, keepDims: true });
    assert.deepEqual(kept.shape, [6, 1]);
    kept.dispose();
  });
});
