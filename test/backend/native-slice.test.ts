// cpu-native's Slice (one TypedArray copy per innermost run) against tfjs-backend-cpu's on random regions.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import { registerNativeBackend } from "../../src/backend/native";
import { seededRandom } from "../../src/probe/random";

test("slices equal tfjs-backend-cpu's for every rank, region and dtype, -1 sizes included", async () => {
  registerNativeBackend();
  const random = seededRandom(7);
  const cases: { shape: number[]; begin: number[]; size: number[]; dtype: "float32" | "int32" | "bool" }[] = [];
  for (let i = 0; i < 60; i++) {
    const rank = 1 + Math.floor(random() * 4);
    const shape = Array.from({ length: rank }, () => 1 + Math.floor(random() * 6));
    const begin = shape.map((s) => Math.floor(random() * s));
    const size = shape.map((s, d) => (random() < 0.2 ? -1 : Math.floor(random() * (s - begin[d] + 1))));
    cases.push({ shape, begin, size, dtype: (["float32", "int32", "bool"] as const)[i % 3] });
  }
  const results = async (backend: string) => {
    await tf.setBackend(backend);
    return cases.map((c) => {
      const n = c.shape.reduce((a, b) => a * b, 1);
      const values = Array.from({ length: n }, (_, i) => (c.dtype === "bool" ? i % 3 === 0 : c.dtype === "int32" ? i * 7 - 11 : i * 0.5 - 3));
      const x = tf.tensor(values as number[], c.shape, c.dtype);
      const y = tf.slice(x, c.begin, c.size);
      const out = { shape: y.shape, values: Array.from(y.dataSync()) };
      tf.dispose([x, y]);
      return out;
    });
  };
  const reference = await results("cpu");
  const native = await results("cpu-native");
  native.forEach((r, i) => assert.deepEqual(r, reference[i], JSON.stringify(cases[i])));
});
