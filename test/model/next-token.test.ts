// Choosing the next token from the last logits: greedy reads only the top two from the device, yet gives exactly
// the host's first-maximum argmax (ties included) and the top-2 margin; sampling draws only for unskipped rows.
import assert from "node:assert/strict";
import { before, test } from "node:test";
import * as tf from "@tensorflow/tfjs-core";
import { nextTokens } from "../../src/model/next-token";
import { argmax, seededRandom, topTwo } from "../../src/model/sampling";
import { useBackend } from "./engine-helpers";

before(useBackend);

test("greedy: the first maximum of each row and its top-2 margin, ties going to the lower id", async () => {
  const rows = [
    [0.5, 3, -1, 2.5, 0],
    [1, 4, 0, 4, 2], // tie between ids 1 and 3: torch.argmax picks 1
    [7, 7, 7, 7, 7], // everything tied: id 0
  ];
  const logits = tf.tensor3d(rows.map((r) => [r]));
  const baseline = tf.memory().numTensors;
  const out = await nextTokens(logits, {}, seededRandom(1), [false, false, false]);
  assert.equal(tf.memory().numTensors, baseline, "no tensors left behind");
  logits.dispose();
  assert.deepEqual(out.ids, rows.map((r) => argmax(r)));
  assert.deepEqual(out.ids, [1, 1, 0]);
  assert.deepEqual(out.margins, rows.map((r) => topTwo(r)[0] - topTwo(r)[1]));
});

test("greedy on random logits agrees with the host argmax for every row", async () => {
  const logits = tf.randomNormal([6, 1, 1000], 0, 3, "float32", 11);
  const host = (await logits.data()) as Float32Array;
  const out = await nextTokens(logits, { temperature: 0 }, seededRandom(1), new Array(6).fill(false));
  for (let b = 0; b < 6; b++) {
    const row = host.subarray(b * 1000, (b + 1) * 1000);
    assert.equal(out.ids[b], argmax(row));
    assert.ok(Math.abs(out.margins[b] - (topTwo(row)[0] - topTwo(row)[1])) === 0);
  }
  logits.dispose();
});

test("sampling: skipped rows draw no random number, so the other rows' draws do not depend on them", async () => {
  const logits = tf.randomNormal([2, 1, 50], 0, 1, "float32", 5);
  const both = await nextTokens(logits, { temperature: 1 }, seededRandom(9), [false, false]);
  const secondOnly = await nextTokens(logits, { temperature: 1 }, seededRandom(9), [true, false]);
  const firstOnly = await nextTokens(logits, { temperature: 1 }, seededRandom(9), [false, true]);
  logits.dispose();
  assert.equal(secondOnly.ids[0], null);
  assert.equal(firstOnly.ids[1], null);
  assert.equal(firstOnly.ids[0], both.ids[0]);
  assert.equal(typeof secondOnly.ids[1], "number");
});
