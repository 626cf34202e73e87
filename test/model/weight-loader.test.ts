// WeightLoader.linear transposes nn.Linear weights ([out, in] → [in, out]) on the host. On wasm one buffer is
// reused for every transpose (the backend copies values when a tensor is made); elsewhere each weight gets its
// own array, since a backend may keep the array itself. Both must leave every weight intact.
import assert from "node:assert/strict";
import { test } from "node:test";
import * as tf from "@tensorflow/tfjs-core";
import type { WeightSource } from "../../src/io/weight-source";
import { transposeInto, WeightLoader } from "../../src/model/architectures/weight-loader";
import { onEachBackend } from "../tensor/reference";

/** Values that say where they are: element [i][j] of tensor t is t·10⁴ + i·100 + j. */
function numbered(t: number, rows: number, cols: number): Float32Array {
  return Float32Array.from({ length: rows * cols }, (_, k) => t * 1e4 + Math.floor(k / cols) * 100 + (k % cols));
}

function source(tensors: Record<string, { rows: number; cols: number }>): WeightSource {
  const names = Object.keys(tensors);
  return {
    origin: "memory",
    names: () => [...names].sort(),
    has: (n) => n in tensors,
    info: (n) => ({ name: n, dtype: "F32", shape: [tensors[n].rows, tensors[n].cols], file: "memory" }),
    read: (n) => numbered(names.indexOf(n), tensors[n].rows, tensors[n].cols),
    close: () => undefined,
  };
}

test("transposeInto: tiles of 32 with ragged edges give the exact transpose", () => {
  const [rows, cols] = [45, 70];
  const src = numbered(0, rows, cols);
  const out = new Float32Array(rows * cols);
  transposeInto(src, rows, cols, out);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) assert.equal(out[j * rows + i], src[i * cols + j]);
});

test("consecutive linear weights keep their own values on every backend (the reused buffer is copied, not shared)", async () => {
  await onEachBackend(async (backend) => {
    const shapes = { big: { rows: 40, cols: 33 }, small: { rows: 3, cols: 5 }, other: { rows: 40, cols: 33 } };
    const w = new WeightLoader(source(shapes), "test");
    const loaded = Object.entries(shapes).map(([name, s]) => ({ name, s, t: w.linear(name, s.cols, s.rows) }));
    for (const [index, { name, s, t }] of loaded.entries()) {
      assert.deepEqual(t.shape, [s.cols, s.rows], `${backend} ${name}: [in, out]`);
      const values = (await t.data()) as Float32Array;
      const expected = tf.tidy(() => tf.transpose(tf.tensor2d(numbered(index, s.rows, s.cols), [s.rows, s.cols])).dataSync());
      assert.deepEqual(Array.from(values), Array.from(expected), `${backend} ${name}`);
    }
    tf.dispose(loaded.map((l) => l.t));
  });
});
