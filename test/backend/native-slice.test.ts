// cpu-native's Slice (one TypedArray copy per innermost run) against tfjs-backend-cpu's on random regions.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import { registerNativeBackend } from "../../src/backend/native";
import { seededRandom } from "../../src/probe/random";

/** A tensor of `shape` whose values tell their positions apart, in each dtype. */
function sample(shape: number[], dtype: "float32" | "int32" | "bool"): tf.Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const values = Array.from({ length: n }, (_, i) => (dtype === "bool" ? i % 3 === 0 : dtype === "int32" ? i * 7 - 11 : i * 0.5 - 3));
  return tf.tensor(values as number[], shape, dtype);
}

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
      const x = sample(c.shape, c.dtype);
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

test("splits equal tfjs-backend-cpu's: equal parts and listed sizes (−1 and 0 included) on every axis", async () => {
  registerNativeBackend();
  const random = seededRandom(11);
  const cases: { shape: number[]; splits: number | number[]; axis: number; dtype: "float32" | "int32" | "bool" }[] = [];
  for (let i = 0; i < 40; i++) {
    const rank = 1 + Math.floor(random() * 4);
    const axis = Math.floor(random() * rank) - (random() < 0.3 ? rank : 0); // negative axes too
    const parts = 1 + Math.floor(random() * 3);
    const shape = Array.from({ length: rank }, () => 1 + Math.floor(random() * 5));
    const at = axis < 0 ? axis + rank : axis;
    let splits: number | number[];
    if (i % 2 === 0) {
      shape[at] = parts * (1 + Math.floor(random() * 3));
      splits = parts;
    } else {
      const sizes = Array.from({ length: parts }, () => Math.floor(random() * 3));
      shape[at] = Math.max(1, sizes.reduce((a, b) => a + b, 0) + Math.floor(random() * 3));
      const listed = sizes.reduce((a, b) => a + b, 0);
      splits = [...sizes, shape[at] - listed].map((s, j, all) => (j === all.length - 1 && random() < 0.5 ? -1 : s));
    }
    cases.push({ shape, splits, axis, dtype: (["float32", "int32", "bool"] as const)[i % 3] });
  }
  const results = async (backend: string) => {
    await tf.setBackend(backend);
    return cases.map((c) => {
      const x = sample(c.shape, c.dtype);
      const ys = tf.split(x, c.splits, c.axis);
      const out = ys.map((y) => ({ shape: y.shape, dtype: y.dtype, values: Array.from(y.dataSync()) }));
      tf.dispose([x, ...ys]);
      return out;
    });
  };
  const reference = await results("cpu");
  const native = await results("cpu-native");
  native.forEach((r, i) => assert.deepEqual(r, reference[i], JSON.stringify(cases[i])));
  // GPT-2's c_attn → q, k, v: [rows, 3·d] into column blocks, the shape that took 100 ms in tfjs's kernel.
  await tf.setBackend("cpu-native");
  const fused = tf.tensor2d(Float32Array.from({ length: 16 * 24 }, (_, i) => i), [16, 24]);
  const [q, k, v] = tf.split(fused, 3, 1);
  assert.deepEqual(Array.from(k.dataSync().slice(0, 8)), [8, 9, 10, 11, 12, 13, 14, 15]);
  assert.deepEqual(Array.from(v.dataSync().slice(8, 16)), [40, 41, 42, 43, 44, 45, 46, 47]);
  tf.dispose([fused, q, k, v]);
});

test("stacks and concatenations equal tfjs-backend-cpu's on every axis (negative axes, one input, every dtype)", async () => {
  registerNativeBackend();
  const random = seededRandom(11);
  const cases: { shape: number[]; count: number; axis: number; dtype: "float32" | "int32" | "bool"; op: "stack" | "concat" }[] = [];
  for (let i = 0; i < 60; i++) {
    const rank = 1 + Math.floor(random() * 3);
    const shape = Array.from({ length: rank }, () => 1 + Math.floor(random() * 4));
    const op = i % 2 === 0 ? "stack" : "concat";
    const axes = op === "stack" ? rank + 1 : rank;
    const axis = Math.floor(random() * axes) - (random() < 0.3 ? axes : 0);
    cases.push({ shape, count: 1 + Math.floor(random() * 4), axis, dtype: (["float32", "int32", "bool"] as const)[i % 3], op });
  }
  const results = async (backend: string) => {
    await tf.setBackend(backend);
    return cases.map((c) => {
      const xs = Array.from({ length: c.count }, (_, k) => tf.tidy(() => (c.dtype === "bool" ? sample(c.shape, c.dtype) : tf.add(sample(c.shape, c.dtype), k * 100))));
      const y = c.op === "stack" ? tf.stack(xs, c.axis) : tf.concat(xs, c.axis);
      const out = { shape: y.shape, values: Array.from(y.dataSync()) };
      tf.dispose([...xs, y]);
      return out;
    });
  };
  const reference = await results("cpu");
  const native = await results("cpu-native");
  native.forEach((r, i) => assert.deepEqual(r, reference[i], JSON.stringify(cases[i])));
});
