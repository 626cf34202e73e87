import { test } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { branchGeneration } from "../../src/intervene/branching";
import { ArgumentError } from "../../src/errors";
import { CLEAN, lastLogits, model } from "./helpers";

const softmax = (v: Float32Array) => {
  const max = Math.max(...v);
  const e = Array.from(v, (x) => Math.exp(x - max));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((x) => x / s);
};

test("branching: the original is the plain generation; each branch continues from its alternative", async () => {
  const m = await model();
  const before = tf.memory().numTensors;
  const plain = await m.generate(CLEAN, { maxNewTokens: 6 });
  const r = await branchGeneration(m, CLEAN, { maxNewTokens: 6, at: 0, alternatives: [" Rome", " Berlin"] });
  assert.equal(r.branches.length, 3);
  assert.deepEqual(r.branches[0].tokens, plain.tokens[0], "original = greedy generation");
  assert.equal(r.position, 5);
  for (const [i, alt] of [[1, " Rome"], [2, " Berlin"]] as const) {
    const br = r.branches[i];
    assert.equal(br.label, alt);
    assert.equal(br.newTokens[0], m.toTokens(alt)[0]);
    assert.equal(br.newTokens.length, 6);
    // Continuing from the alternative by hand gives the same tokens.
    const cont = await m.generate([...m.toTokens(CLEAN), br.newTokens[0]], { maxNewTokens: 5 });
    assert.deepEqual(br.tokens, cont.tokens[0]);
    cont.dispose();
  }
  // Probabilities: at the branch point, the model's distribution after the prompt.
  const run = m.run(CLEAN);
  const p = softmax(lastLogits(run.logits));
  run.dispose();
  for (const br of r.branches) assert.ok(Math.abs(br.probs[0] - p[br.newTokens[0]]) < 1e-4, `${br.label}: ${br.probs[0]} vs ${p[br.newTokens[0]]}`);
  // A later step, by hand: p(token 3 | everything before it) on the Rome branch.
  const rome = r.branches[1];
  const prefix = rome.tokens.slice(0, 5 + 3);
  const r3 = m.run(prefix);
  assert.ok(Math.abs(rome.probs[3] - softmax(lastLogits(r3.logits))[rome.newTokens[3]]) < 1e-4);
  r3.dispose();
  plain.dispose();
  assert.equal(tf.memory().numTensors, before, "tensors leaked");
});

test("branching tables: long form marks the branch point; side by side has one row per step", async () => {
  const m = await model();
  const r = await branchGeneration(m, CLEAN, { maxNewTokens: 5, at: 1, topAlternatives: 2 });
  assert.equal(r.branches.length, 3);
  const original = r.branches[0];
  // Alternatives default to the likeliest other tokens at that step; the prefix before the step is shared.
  for (const br of r.branches.slice(1)) {
    assert.notEqual(br.newTokens[1], original.newTokens[1]);
    assert.equal(br.newTokens[0], original.newTokens[0]);
    assert.ok(br.probs[1] <= original.probs[1], "greedy took the likeliest token");
  }
  assert.ok(r.branches[1].probs[1] >= r.branches[2].probs[1], "alternatives in order of probability");
  const long = r.table.objects() as { branch: string; step: number; branched: boolean; prob: number }[];
  assert.equal(long.length, 15);
  assert.deepEqual(long.filter((row) => row.branched).map((row) => row.step), [1, 1]);
  assert.equal(r.sideBySide.numRows(), 5);
  const names = r.sideBySide.columnNames();
  assert.equal(names.length, 2 + 2 * 3);
  assert.deepEqual(r.sideBySide.array("original p"), original.probs);
});

test("branching from a given generation, and bad steps are typed errors", async () => {
  const m = await model();
  const gen = await m.generate("3 plus 4 is", { maxNewTokens: 4 });
  const r = await branchGeneration(m, "3 plus 4 is", { from: gen.tokens[0], at: -1, alternatives: ["."] });
  gen.dispose();
  assert.deepEqual(r.branches[0].tokens, gen.tokens[0]);
  assert.equal(r.branches[1].newTokens.length, 4);
  assert.equal(r.branches[1].newTokens[3], m.toTokens(".")[0]);
  await assert.rejects(branchGeneration(m, CLEAN, { maxNewTokens: 3, at: 3 }), ArgumentError);
  await assert.rejects(branchGeneration(m, CLEAN, { maxNewTokens: 3, at: 0, alternatives: [" Paris and"] }), /alternatives\[0\]/);
  await assert.rejects(branchGeneration(m, CLEAN, { from: [1, 2, 3], at: 0 }), /from/);
});
