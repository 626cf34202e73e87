import { test } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { steer, steeringVector } from "../../src/intervene/steering";
import { activationPatching } from "../../src/intervene/activation-patching";
import { ArgumentError } from "../../src/errors";
import { ANSWERS, CLEAN, CORRUPTED, lastLogits, maxAbsDiff, model } from "./helpers";

const argmax = (v: ArrayLike<number>) => Array.from(v).reduce((best, x, i, a) => (x > a[best] ? i : best), 0);

test("a steering vector is the mean difference of the hook's activations (last token, or mean over tokens)", async () => {
  const m = await model();
  const positive = ["The capital of France is", "Paris is the capital of"];
  const negative = ["The capital of Japan is", "Tokyo is the capital"];
  const before = tf.memory().numTensors;
  const last = await steeringVector(m, { positive, negative, hook: "resid_pre", layer: 2 });
  const mean = await steeringVector(m, { positive, negative, hook: "blocks.2.hook_resid_pre", reduce: "mean" });
  assert.equal(tf.memory().numTensors, before, "tensors leaked");
  assert.equal(last.hook, "blocks.2.hook_resid_pre");
  assert.deepEqual(last.shape, [m.weights.dModel]);
  // By hand, one prompt at a time (no padding).
  const actOf = (p: string) => {
    const r = m.run(p, { cache: ["blocks.2.hook_resid_pre"] });
    const a = r.cache.get("blocks.2.hook_resid_pre").arraySync() as number[][][];
    r.dispose();
    return a[0];
  };
  const d = m.weights.dModel;
  const wantLast = new Float64Array(d);
  const wantMean = new Float64Array(d);
  for (const [list, sign] of [[positive, 1], [negative, -1]] as const) {
    for (const p of list) {
      const rows = actOf(p);
      for (let i = 0; i < d; i++) {
        wantLast[i] += (sign * rows[rows.length - 1][i]) / list.length;
        wantMean[i] += (sign * rows.reduce((s, r) => s + r[i], 0)) / rows.length / list.length;
      }
    }
  }
  assert.ok(maxAbsDiff(last.vector, wantLast) < 1e-3, `last: ${maxAbsDiff(last.vector, wantLast)}`);
  assert.ok(maxAbsDiff(mean.vector, wantMean) < 1e-3, `mean: ${maxAbsDiff(mean.vector, wantMean)}`);
  assert.ok(Math.abs(last.norm - Math.hypot(...last.vector)) < 1e-3);
});

test("steering by one pair's difference at the last position is activation patching there", async () => {
  const m = await model();
  const v = await steeringVector(m, { positive: CLEAN, negative: CORRUPTED, hook: "resid_pre", layer: 1 });
  const steered = m.runWithHooks(CORRUPTED, steer(v, 1, { positions: [-1] }));
  const logits = lastLogits(steered.logits);
  steered.dispose();
  const [paris, tokyo] = ANSWERS.map((a) => m.toTokens(a)[0]);
  const patched = await activationPatching(m, { clean: CLEAN, corrupted: CORRUPTED, answers: ANSWERS, components: ["resid_pre"], layers: [1], positions: [-1] });
  const cell = patched.table.objects()[0] as { value: number };
  assert.ok(Math.abs(logits[paris] - logits[tokyo] - cell.value) < 1e-3, `${logits[paris] - logits[tokyo]} vs ${cell.value}`);
  assert.equal(argmax(logits), paris, "Japan's prompt now answers Paris");
  // alpha = 0 changes nothing; a negative alpha pushes the other way.
  const zero = m.runWithHooks(CORRUPTED, steer(v, 0));
  const plain = m.run(CORRUPTED);
  assert.equal(maxAbsDiff(zero.logits.dataSync(), plain.logits.dataSync()), 0);
  const away = m.runWithHooks(CORRUPTED, steer(v, -1, { positions: [-1] }));
  const la = lastLogits(away.logits);
  const lp = lastLogits(plain.logits);
  assert.ok(la[paris] - la[tokyo] < lp[paris] - lp[tokyo]);
  [zero, plain, away].forEach((r) => r.dispose());
});

test("steered generation is the same with and without the key/value cache", async () => {
  const m = await model();
  const v = await steeringVector(m, {
    positive: ["The capital of France is", "Paris is the capital of"],
    negative: ["The capital of Japan is", "Tokyo is the capital of"],
    hook: "resid_pre",
    layer: 2,
  });
  const before = tf.memory().numTensors;
  const plain = await m.generate(CORRUPTED, { maxNewTokens: 8 });
  for (const [alpha, opts] of [[1, {}], [2, { positions: [-1] }], [1, { positions: [-1], generated: true }]] as const) {
    const hooks = steer(v, alpha, opts);
    const a = await m.generate(CORRUPTED, { maxNewTokens: 8, hooks, useCache: true });
    const b = await m.generate(CORRUPTED, { maxNewTokens: 8, hooks, useCache: false });
    assert.deepEqual(a.tokens, b.tokens, `alpha ${alpha} ${JSON.stringify(opts)}`);
    a.margins.forEach((row, i) => assert.ok(Math.abs(row[0] - b.margins[i][0]) < 1e-3, `step ${i}: ${row[0]} vs ${b.margins[i][0]}`));
    assert.notDeepEqual(a.tokens, plain.tokens, "steering changes the generation");
    a.dispose();
    b.dispose();
  }
  plain.dispose();
  assert.equal(tf.memory().numTensors, before, "tensors leaked");
});

test("steering: bad input is a typed error", async () => {
  const m = await model();
  await assert.rejects(steeringVector(m, { positive: [CLEAN, CLEAN], negative: [CORRUPTED], hook: "resid_pre", layer: 0 }), /negative.*1 prompts.*2/);
  await assert.rejects(steeringVector(m, { positive: CLEAN, negative: CORRUPTED, hook: "resid_pre" }), ArgumentError);
  await assert.rejects(steeringVector(m, { positive: CLEAN, negative: CORRUPTED, hook: "pattern", layer: 0 }), ArgumentError);
  assert.throws(() => steer({ hook: "blocks.0.hook_resid_pre", vector: [1, 2] }, NaN), /alpha/);
  assert.throws(() => m.runWithHooks(CLEAN, steer({ hook: "blocks.0.hook_resid_pre", vector: [1, 2] }, 1)), /2 values/);
});
