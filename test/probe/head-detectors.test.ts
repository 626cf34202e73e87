import { test } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { detectHeads, headScoreMasks, headScoresFromCache, topHeads } from "../../src/probe/head-detectors";
import { demoInductionPrompt, isDemoModel } from "../../src/probe/induction-prompts";
import { ActivationCache } from "../../src/model/cache";
import { close, model, ready, rows } from "./models";

type Scores = { layer: number; head: number; previous_token: number; first_token: number; induction: number; duplicate_token: number };

/** Pattern [T, T] with all weight of query q on key f(q). */
function oneHot(T: number, f: (q: number) => number): number[][] {
  return Array.from({ length: T }, (_, q) => Array.from({ length: T }, (_, k) => (k === f(q) ? 1 : 0)));
}

test("detector scores of ideal heads on a repeated sequence are 1 for their type", async () => {
  await ready();
  const tokens = [9, 4, 7, 5, 4, 7, 5];
  // Induction: query 4 (token 4, seen at 1) attends to 2; 5 → 3; 6 → 4. Duplicate: 4 → 1, 5 → 2, 6 → 3.
  const previous = oneHot(7, (q) => Math.max(0, q - 1));
  const sink = oneHot(7, () => 0);
  const induction = oneHot(7, (q) => (q >= 4 ? q - 2 : 0));
  const duplicate = oneHot(7, (q) => (q >= 4 ? q - 3 : 0));
  const cache = new ActivationCache(new Map([["blocks.0.attn.hook_pattern", tf.tensor4d([[previous, sink, induction, duplicate]])]]), 1);
  const before = tf.memory().numTensors;
  const got = rows<Scores>(await headScoresFromCache(cache, [0], tokens));
  assert.equal(tf.memory().numTensors, before);
  assert.equal(got[0].previous_token, 1);
  assert.equal(got[1].first_token, 1);
  assert.ok(close(got[2].induction, 1, 1e-6, 0));
  assert.ok(close(got[3].duplicate_token, 1, 1e-6, 0));
  // Cross-scores by hand: the induction head reads key 0 for queries 1 … 3, the previous token only for query 1.
  assert.ok(close(got[2].previous_token, 1 / 6, 1e-6, 0));
  assert.ok(close(got[0].induction, 0, 1e-6, 0));
  assert.ok(close(got[1].previous_token, 1 / 6, 1e-6, 0)); // the sink is the previous token only for query 1
  cache.dispose();
});

test("headScoreMasks weight each score's queries equally", () => {
  const T = 5;
  const m = headScoreMasks([1, 2, 1, 2, 3]);
  const row = (s: number) => m.subarray(s * T * T, (s + 1) * T * T);
  for (let s = 0; s < 4; s++) assert.ok(close(row(s).reduce((a, b) => a + b, 0), 1, 1e-6, 0), `score ${s} sums to 1`);
  // Induction queries: position 2 (token 1, seen at 0 → key 1) and 3 (token 2, seen at 1 → key 2); 4 is new.
  assert.equal(row(2)[2 * T + 1], 0.5);
  assert.equal(row(2)[3 * T + 2], 0.5);
  // Duplicate-token queries: the same two, reading the earlier occurrences themselves.
  assert.equal(row(3)[2 * T + 0], 0.5);
  assert.equal(row(3)[3 * T + 1], 0.5);
  // Previous-token and first-token scores average over the 4 queries 1 … 4.
  assert.equal(row(0)[4 * T + 3], 0.25);
  assert.equal(row(1)[4 * T + 0], 0.25);
});

test("demo model: the default sequence is the demo's own induction format and finds induction heads", async () => {
  const m = await model("demo");
  assert.ok(isDemoModel(m));
  const res = await detectHeads(m, { seed: 3 });
  assert.equal(m.tokenizer.decode(res.tokens), demoInductionPrompt(3).text);
  const [[l, h]] = topHeads(res.table, "induction", 1);
  const best = rows<Scores>(res.table).find((r) => r.layer === l && r.head === h)!;
  assert.equal(res.table.numRows(), m.config.numLayers * m.config.numHeads);
  // A model trained on this format has heads that attend to the token after the earlier occurrence far more
  // than a uniform head would (1 / position ≈ 0.1 here).
  assert.ok(best.induction > 0.3, `best induction score ${best.induction}`);
});
