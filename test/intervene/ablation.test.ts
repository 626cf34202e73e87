import { test } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { zeroAblate } from "../../src/intervene/zero-ablate";
import { meanAblate } from "../../src/intervene/mean-ablate";
import { resampleAblate, sourceRowFor } from "../../src/intervene/resample-ablate";
import { zeroAblateExpert } from "../../src/intervene/expert-ablate";
import { combineHooks } from "../../src/intervene/combine-hooks";
import { ArgumentError } from "../../src/errors";
import { activationPatching } from "../../src/intervene/activation-patching";
import { ANSWERS, CLEAN, CORRUPTED, maxAbsDiff, model } from "./helpers";

const read = (t: tf.Tensor) => t.arraySync() as number[][][];

test("zero-ablating a head's z removes exactly that head's W_O contribution from attn_out", async () => {
  const m = await model();
  const before = tf.memory().numTensors;
  const names = ["blocks.0.attn.hook_z", "blocks.0.hook_attn_out"];
  const plain = m.run(CLEAN, { cache: names });
  const ablated = m.runWithHooks(CLEAN, zeroAblate("blocks.0.attn.hook_z", { head: 3 }), { cache: names });
  const dHead = m.weights.blocks[0].attn.dHead;
  const z = plain.cache.get(names[0]) as tf.Tensor4D;
  const expected = tf.tidy(() => {
    const zh = z.slice([0, 0, 3, 0], [1, -1, 1, -1]).reshape([-1, dHead]);
    return tf.matMul(zh, m.weights.blocks[0].attn.W_O.slice([3 * dHead, 0], [dHead, -1])).dataSync();
  });
  const delta = tf.tidy(() => tf.sub(plain.cache.get(names[1]), ablated.cache.get(names[1])).dataSync());
  assert.ok(maxAbsDiff(delta, expected) < 1e-4, `attn_out change vs z_h·W_O[h]: ${maxAbsDiff(delta, expected)}`);
  assert.ok(Math.max(...Array.from(expected).map(Math.abs)) > 1e-2, "the head contributes something");
  const za = ablated.cache.get(names[0]).arraySync() as number[][][][];
  const zp = z.arraySync() as number[][][][];
  for (let p = 0; p < 5; p++) {
    for (let h = 0; h < 8; h++) {
      if (h === 3) assert.ok(za[0][p][h].every((v) => v === 0), "head 3 is zero");
      else assert.deepEqual(za[0][p][h], zp[0][p][h], "other heads untouched");
    }
  }
  plain.dispose();
  ablated.dispose();
  assert.equal(tf.memory().numTensors, before, "tensors leaked");
});

test("zero-ablating an MLP neuron changes mlp_out by its activation times its W_out row", async () => {
  const m = await model();
  const names = ["blocks.1.mlp.hook_post", "blocks.1.hook_mlp_out"];
  const plain = m.run(CLEAN, { cache: names });
  const ablated = m.runWithHooks(CLEAN, zeroAblate("mlp.hook_post", { layer: 1, neuron: 17 }), { cache: names });
  const mlp = m.weights.blocks[1].mlp;
  assert.equal(mlp.kind, "dense");
  const expected = tf.tidy(() => tf.matMul(plain.cache.get(names[0]).slice([0, 0, 17], [1, -1, 1]).reshape([-1, 1]), (mlp as { W_out: tf.Tensor2D }).W_out.slice([17, 0], [1, -1])).dataSync());
  const delta = tf.tidy(() => tf.sub(plain.cache.get(names[1]), ablated.cache.get(names[1])).dataSync());
  assert.ok(maxAbsDiff(delta, expected) < 1e-4, `mlp_out change: ${maxAbsDiff(delta, expected)}`);
  plain.dispose();
  ablated.dispose();
});

test("zero-ablating a whole layer output, at every layer or at one position", async () => {
  const m = await model();
  const names = ["resid_pre", "resid_mid"];
  const all = m.runWithHooks(CLEAN, zeroAblate("attn_out"), { cache: names });
  for (let l = 0; l < m.nLayers; l++) assert.equal(maxAbsDiff(all.cache.get("resid_pre", l).dataSync(), all.cache.get("resid_mid", l).dataSync()), 0, `layer ${l}: resid_mid = resid_pre`);
  all.dispose();
  const last = m.runWithHooks(CLEAN, zeroAblate("blocks.2.hook_attn_out", { position: -1 }), { cache: ["blocks.2.hook_attn_out"] });
  const out = read(last.cache.get("blocks.2.hook_attn_out"));
  assert.ok(out[0][4].every((v) => v === 0), "last position zeroed");
  assert.ok(out[0][3].some((v) => v !== 0), "earlier positions kept");
  last.dispose();
});

test("combineHooks: two single-head ablations equal one two-head ablation", async () => {
  const m = await model();
  const a = m.runWithHooks(CLEAN, combineHooks(zeroAblate("blocks.0.attn.hook_z", { head: 1 }), zeroAblate("z", { layer: 0, head: 4 })));
  const b = m.runWithHooks(CLEAN, zeroAblate("blocks.0.attn.hook_z", { head: [1, 4] }));
  const c = m.run(CLEAN);
  assert.ok(maxAbsDiff(a.logits.dataSync(), b.logits.dataSync()) < 1e-5);
  assert.ok(maxAbsDiff(a.logits.dataSync(), c.logits.dataSync()) > 1e-2, "the ablation changes the logits");
  [a, b, c].forEach((r) => r.dispose());
});

test("mean ablation uses the mean over the reference's real tokens (padding excluded), or per position", async () => {
  const m = await model();
  const refs = ["The capital of Italy is", "Paris is the capital of France.", "3 plus 4 is"];
  const before = tf.memory().numTensors;
  const hooks = await meanAblate(m, "blocks.0.attn.hook_z", refs, { head: 2 });
  assert.equal(tf.memory().numTensors, before, "meanAblate holds no tensors");
  // The mean, by hand: each prompt alone (no padding), every token.
  const dHead = m.weights.blocks[0].attn.dHead;
  const sum = new Float64Array(dHead);
  let count = 0;
  for (const p of refs) {
    const r = m.run(p, { cache: ["blocks.0.attn.hook_z"] });
    const z = r.cache.get("blocks.0.attn.hook_z").arraySync() as number[][][][];
    for (const pos of z[0]) {
      pos[2].forEach((v, i) => (sum[i] += v));
      count++;
    }
    r.dispose();
  }
  const mean = Array.from(sum, (s) => s / count);
  const run = m.runWithHooks(CLEAN, hooks, { cache: ["blocks.0.attn.hook_z"] });
  const z = run.cache.get("blocks.0.attn.hook_z").arraySync() as number[][][][];
  for (let p = 0; p < 5; p++) assert.ok(maxAbsDiff(z[0][p][2], mean) < 1e-5, `position ${p} holds the mean`);
  run.dispose();

  const same = ["The capital of Italy is", "The capital of Spain is"];
  const perPos = await meanAblate(m, "blocks.1.mlp.hook_post", same, { perPosition: true, neuron: [0, 5] });
  const r0 = m.run(same, { cache: ["blocks.1.mlp.hook_post"] });
  const post = r0.cache.get("blocks.1.mlp.hook_post").arraySync() as number[][][];
  const ablated = m.runWithHooks(CLEAN, perPos, { cache: ["blocks.1.mlp.hook_post"] });
  const a = ablated.cache.get("blocks.1.mlp.hook_post").arraySync() as number[][][];
  for (let p = 0; p < 5; p++) for (const n of [0, 5]) assert.ok(Math.abs(a[0][p][n] - (post[0][p][n] + post[1][p][n]) / 2) < 1e-5);
  r0.dispose();
  ablated.dispose();
  assert.equal(tf.memory().numTensors, before, "tensors leaked");

  await assert.rejects(meanAblate(m, "blocks.0.attn.hook_pattern", refs), /perPosition/);
  await assert.rejects(meanAblate(m, "blocks.0.hook_mlp_out", refs, { perPosition: true }), /different token lengths/);
  const long = m.runWithHooks.bind(m, "The capital of France is a city", perPos);
  assert.throws(long, /reference/);
});

test("resample ablation takes a seeded source row's activation, the same on every call", async () => {
  const m = await model();
  const sources = ["The capital of Italy is", "The capital of Spain is", "The capital of Egypt is"];
  const name = "blocks.1.hook_mlp_out";
  const src = m.run(sources, { cache: [name] });
  const srcActs = read(src.cache.get(name));
  src.dispose();
  const prompts = [CLEAN, "The capital of Japan is"];
  for (const seed of [0, 5]) {
    const hooks = await resampleAblate(m, name, sources, { seed });
    const run = m.runWithHooks(prompts, hooks, { cache: [name] });
    const again = m.runWithHooks(prompts, hooks);
    const acts = read(run.cache.get(name));
    prompts.forEach((_, b) => {
      const row = sourceRowFor(seed, b, sources.length);
      assert.ok(maxAbsDiff(acts[b].flat(), srcActs[row].flat()) < 1e-6, `seed ${seed} row ${b} holds source row ${row}`);
    });
    assert.equal(maxAbsDiff(run.logits.dataSync(), again.logits.dataSync()), 0, "reproducible");
    run.dispose();
    again.dispose();
  }
  const picks = new Set(Array.from({ length: 16 }, (_, s) => sourceRowFor(s, 0, 3)));
  assert.ok(picks.size > 1, "seeds draw different rows");
  await assert.rejects(resampleAblate(m, name, ["The capital of Italy is", "Paris"]), /different token lengths/);
});

test("ablation and position selection mean the same with and without the key/value cache", async () => {
  const m = await model();
  const hooks = combineHooks(zeroAblate("blocks.0.attn.hook_z", { head: 1, position: -1 }), zeroAblate("blocks.1.mlp.hook_post", { neuron: [3, 4] }));
  const a = await m.generate("The capital of Italy is", { maxNewTokens: 6, hooks, useCache: true });
  const b = await m.generate("The capital of Italy is", { maxNewTokens: 6, hooks, useCache: false });
  assert.deepEqual(a.tokens, b.tokens);
  a.margins.forEach((row, i) => assert.ok(Math.abs(row[0] - b.margins[i][0]) < 1e-3, `step ${i} margin`));
  a.dispose();
  b.dispose();
});

test("demo: zero-ablating the two heads patching ranks first, at the last position, removes \" Paris\"", async () => {
  const m = await model();
  const patched = await activationPatching(m, { clean: CLEAN, corrupted: CORRUPTED, answers: ANSWERS, components: ["z"], positions: [-1] });
  const [a, b] = (patched.table.objects() as { layer: number; head: number; metric: number }[]).sort((x, y) => y.metric - x.metric);
  assert.ok(a.layer === 0 && b.layer === 0, "both in layer 0");
  const paris = m.toTokens(" Paris")[0];
  const pParis = (run: { logits: tf.Tensor3D; dispose(): void }) => {
    const p = tf.tidy(() => tf.softmax(run.logits.slice([0, 4, 0], [1, 1, -1]).reshape([-1])).dataSync()[paris]);
    run.dispose();
    return p;
  };
  const before = pParis(m.run(CLEAN));
  const after = pParis(m.runWithHooks(CLEAN, zeroAblate("blocks.0.attn.hook_z", { head: [a.head, b.head], position: -1 })));
  const one = pParis(m.runWithHooks(CLEAN, zeroAblate("blocks.0.attn.hook_z", { head: a.head, position: -1 })));
  assert.ok(before > 0.9, `clean p(Paris) ${before}`);
  assert.ok(after < 0.1, `both heads ablated: ${after}`);
  assert.ok(one > after, "one head alone removes less");
});

test("bad selections are typed errors naming the argument", async () => {
  const m = await model();
  assert.throws(() => zeroAblate("blocks.0.hook_resid_pre", { head: 1 }), ArgumentError);
  assert.throws(() => zeroAblate("blocks.0.attn.hook_z", { neuron: 1 }), ArgumentError);
  assert.throws(() => zeroAblate("blocks.0.attn.hook_z", { head: 1.5 }), ArgumentError);
  assert.throws(() => m.runWithHooks(CLEAN, zeroAblate("blocks.0.attn.hook_z", { head: 8 })), /target.head.*8 heads|has 8/);
  assert.throws(() => m.runWithHooks(CLEAN, zeroAblate("blocks.0.attn.hook_zz")), /hook point/);
  assert.throws(() => zeroAblateExpert(m, 0, 1), /dense MLP/);
});

test("expert ablation (mixtral fixture): drop zeroes its routing weight; reroute never chooses it", async () => {
  const m = await model("mixtral");
  const ids = m.toTokens("The capital of France is Paris and");
  const p = "blocks.0.mlp.";
  const names = [p + "hook_expert_indices", p + "hook_expert_weights", "blocks.0.hook_mlp_out"];
  const before = tf.memory().numTensors;
  const plain = m.run(ids, { cache: names });
  const indices = plain.cache.get(names[0]).arraySync() as number[][][];
  const expert = indices[0][0][0]; // the first token's top expert
  const drop = m.runWithHooks(ids, zeroAblateExpert(m, 0, expert), { cache: names });
  const w = drop.cache.get(names[1]).arraySync() as number[][][];
  const outPlain = read(plain.cache.get(names[2]));
  const outDrop = read(drop.cache.get(names[2]));
  let touched = 0;
  indices[0].forEach((chosen, t) => {
    chosen.forEach((e, k) => {
      if (e === expert) assert.equal(w[0][t][k], 0, `token ${t} slot ${k}`);
    });
    if (chosen.includes(expert)) {
      touched++;
      assert.ok(maxAbsDiff(outPlain[0][t], outDrop[0][t]) > 1e-6, `token ${t} loses the expert's output`);
    } else assert.ok(maxAbsDiff(outPlain[0][t], outDrop[0][t]) < 1e-6, `token ${t} never used the expert`);
  });
  assert.ok(touched >= 1);
  const reroute = m.runWithHooks(ids, zeroAblateExpert(m, 0, expert, { mode: "reroute" }), { cache: names });
  const ri = reroute.cache.get(names[0]).arraySync() as number[][][];
  assert.ok(ri[0].every((chosen) => !chosen.includes(expert)), "rerouted");
  [plain, drop, reroute].forEach((r) => r.dispose());
  assert.equal(tf.memory().numTensors, before, "tensors leaked");
  assert.throws(() => zeroAblateExpert(m, 0, 99), /expert/);
});
