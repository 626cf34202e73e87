import { test } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { histogram } from "../../src/tensor/histogram";
import { ready } from "../probe/models";

test("histogram counts finite values into equal bins, the maximum in the last bin, non-finite apart", async () => {
  await ready();
  const before = tf.memory().numTensors;
  const x = tf.tensor1d([0, 0.5, 1, 1.5, 2, 2, 4, NaN, Infinity, -Infinity]);
  const h = histogram(x, 4);
  assert.deepEqual(Array.from(await h.counts.data()), [2, 2, 2, 1]); // [0,1) [1,2) [2,3) [3,4]
  assert.equal((await h.min.data())[0], 0);
  assert.equal((await h.max.data())[0], 4);
  assert.equal((await h.nonFinite.data())[0], 3);
  tf.dispose([x, h.counts, h.min, h.max, h.nonFinite]);
  assert.equal(tf.memory().numTensors, before);
});

test("a given range drops values outside it; a constant input fills one bin", async () => {
  await ready();
  const x = tf.tensor1d([-5, 0.1, 0.2, 0.9, 7]);
  const h = histogram(x, 2, { min: 0, max: 1 });
  assert.deepEqual(Array.from(await h.counts.data()), [2, 1]);
  const c = tf.fill([6], 3);
  const hc = histogram(c, 5);
  assert.deepEqual(Array.from(await hc.counts.data()), [6, 0, 0, 0, 0]);
  tf.dispose([x, c, h.counts, h.min, h.max, h.nonFinite, hc.counts, hc.min, hc.max, hc.nonFinite]);
  assert.throws(() => histogram(x, 0), /bins/);
  assert.throws(() => histogram(x, 3, { min: 2, max: 1 }), /range/);
});

test("random data: counts equal a float64 count with the same edges", async () => {
  await ready();
  const values = Array.from({ length: 5000 }, (_, i) => Math.sin(i * 12.9898) * 43758.5453 % 7);
  const x = tf.tensor1d(values);
  const h = histogram(x, 13);
  const [min, max] = [Math.min(...values), Math.max(...values)];
  const w = (max - min) / 13;
  const expected = new Array(13).fill(0);
  for (const v of values) expected[Math.min(Math.floor((v - min) / w), 12)]++;
  const got = Array.from(await h.counts.data());
  // float32 edges may move a value lying within rounding of an edge into the neighbouring bin.
  assert.equal(got.reduce((s, v) => s + v, 0), 5000);
  assert.ok(got.reduce((s, v, i) => s + Math.abs(v - expected[i]), 0) <= 2, `${got} vs ${expected}`);
  tf.dispose([x, h.counts, h.min, h.max, h.nonFinite]);
});
