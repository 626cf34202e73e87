import { test } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { causalTrace } from "../../src/intervene/causal-trace";
import { gaussianNoise } from "../../src/intervene/gaussian";
import { tokenSpan } from "../../src/intervene/token-span";
import { ArgumentError } from "../../src/errors";
import { causalTraceChart } from "../../src/display";
import { CLEAN, model } from "./helpers";

test("causal trace: shape, subject found, seeded noise reproduces and differs across seeds", async () => {
  const m = await model();
  const before = tf.memory().numTensors;
  const a = await causalTrace(m, CLEAN, { subject: "France", samples: 4, seed: 1 });
  assert.equal(tf.memory().numTensors, before, "tensors leaked");
  assert.deepEqual(a.subjectPositions, [3]);
  assert.equal(a.answer.token, " Paris");
  assert.equal(a.matrix.length, m.nLayers);
  assert.ok(a.matrix.every((row) => row.length === 5));
  assert.equal(a.table.numRows(), m.nLayers * 5);
  assert.deepEqual(a.table.columnNames(), ["layer", "position", "input_token", "subject", "prob", "indirect_effect"]);
  assert.ok(a.cleanProb > 0.9, `clean p(Paris) ${a.cleanProb}`);
  assert.ok(a.corruptedProb < a.cleanProb - 0.5, `noise destroys the answer: ${a.corruptedProb}`);
  // 3 × the standard deviation of the embedding matrix.
  const std = tf.tidy(() => tf.sqrt(tf.moments(m.weights.embed.W_E).variance).dataSync()[0]);
  assert.ok(Math.abs(a.noiseStd - 3 * std) < 1e-6);
  const again = await causalTrace(m, CLEAN, { subject: "France", samples: 4, seed: 1 });
  assert.deepEqual(again.matrix, a.matrix, "same seed, same trace");
  assert.equal(again.corruptedProb, a.corruptedProb);
  const other = await causalTrace(m, CLEAN, { subject: "France", samples: 4, seed: 2 });
  assert.notEqual(other.corruptedProb, a.corruptedProb, "another seed, other noise");
  // Positions before the subject never see the noise (causal attention): restoring them does nothing.
  for (let l = 0; l < m.nLayers; l++) for (let p = 0; p < 3; p++) assert.ok(Math.abs(a.matrix[l][p]) < 1e-6, `layer ${l} position ${p}`);
  // Restoring the last position's output of any block restores the answer's probability there.
  for (let l = 0; l < m.nLayers; l++) assert.ok(Math.abs(a.matrix[l][4] - (a.cleanProb - a.corruptedProb)) < 1e-3, `layer ${l} last position`);
});

test("causal trace of resid_pre: restoring the subject's block-0 input undoes the noise exactly", async () => {
  const m = await model();
  const r = await causalTrace(m, CLEAN, { subject: [3], state: "resid_pre", samples: 3, batchSize: 5 });
  assert.ok(Math.abs(r.matrix[0][3] - (r.cleanProb - r.corruptedProb)) < 1e-5, `${r.matrix[0][3]} vs ${r.cleanProb - r.corruptedProb}`);
  // From block 1 on the subject's state no longer carries the fact (it moved to the last position in block 0).
  for (let l = 1; l < m.nLayers; l++) assert.ok(r.matrix[l][3] < 0.2, `layer ${l}: ${r.matrix[l][3]}`);
  for (let l = 0; l < m.nLayers; l++) for (let p = 0; p < 3; p++) assert.ok(Math.abs(r.matrix[l][p]) < 1e-6, `layer ${l} position ${p}`);
  const chart = causalTraceChart(r);
  assert.equal((chart.spec.data as { values: unknown[] }).values.length, m.nLayers * 5);
});

test("causal trace: answers given by text; bad subjects are typed errors", async () => {
  const m = await model();
  const r = await causalTrace(m, CLEAN, { subject: "France", answer: " Rome", samples: 1 });
  assert.equal(r.answer.token, " Rome");
  assert.ok(r.cleanProb < 0.1);
  await assert.rejects(causalTrace(m, CLEAN, { subject: "Germany" }), ArgumentError);
  await assert.rejects(causalTrace(m, CLEAN, { subject: [7] }), /subject/);
  await assert.rejects(causalTrace(m, CLEAN, { subject: "France", samples: 0 }), /samples/);
});

test("token spans and seeded Gaussian noise", () => {
  assert.deepEqual(tokenSpan(["The", " capital", " of", " France", " is"], "France"), [3]);
  assert.deepEqual(tokenSpan(["When", " Mary", " and", " John"], " Mary and"), [1, 2]);
  const a = gaussianNoise(20000, 7, 2);
  assert.deepEqual(a, gaussianNoise(20000, 7, 2));
  const mean = a.reduce((s, v) => s + v, 0) / a.length;
  const sd = Math.sqrt(a.reduce((s, v) => s + (v - mean) ** 2, 0) / a.length);
  assert.ok(Math.abs(mean) < 0.05 && Math.abs(sd - 2) < 0.05, `mean ${mean} sd ${sd}`);
});
