// The checkpointed gradient cache (each block recomputed inside its own gradient call during the backward sweep,
// src/model/gradients-checkpointed.ts) against the gradient of the whole pass differentiated at once
// (checkpoint: false): the same gradients at every kind of hook point and the same cached activations, on the demo
// model (Llama-style), the tiny Gemma 2 fixture (post-norms, softcaps) and the tiny GPT-NeoX fixture (parallel
// residual), with and without interventions, and nothing left on the backend. The recomputation repeats the same
// ops on the same inputs, so the only difference allowed is float32 summation order in the backward pass:
// max |Δ| ≤ 1e-6 of the gradient's scale (one hundred times below the float64 check's tolerance).
import { test } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { gradientCache, type GradientCacheOptions } from "../../src/model/gradients";
import { logitDiffMetric } from "../../src/probe/gradient-metrics";
import type { LanguageModel } from "../../src/model/model";
import { model } from "./helpers";

const TOLERANCE = 1e-6;

async function assertSame(m: LanguageModel, input: number[][] | string, opts: GradientCacheOptions, what: string): Promise<{ worst: number; compared: number }> {
  const before = tf.memory().numTensors;
  const plain = await gradientCache(m, input, { ...opts, checkpoint: false });
  const checkpointed = await gradientCache(m, input, opts);
  let worst = 0;
  const compared = plain.gradients.names().length;
  try {
    assert.equal(checkpointed.value, plain.value, `${what}: the metric`);
    assert.deepEqual(checkpointed.gradients.names(), plain.gradients.names(), `${what}: the gradients' names`);
    assert.deepEqual(checkpointed.cache.names(), plain.cache.names(), `${what}: the cached names`);
    for (const name of plain.gradients.names()) {
      const a = await plain.gradients.get(name).data();
      const b = await checkpointed.gradients.get(name).data();
      let scale = 0;
      let diff = 0;
      for (let i = 0; i < a.length; i++) {
        scale = Math.max(scale, Math.abs(a[i]));
        diff = Math.max(diff, Math.abs(a[i] - b[i]));
      }
      const rel = scale > 0 ? diff / scale : diff;
      worst = Math.max(worst, rel);
      assert.ok(rel <= TOLERANCE, `${what}: gradient at ${name} differs by ${rel.toExponential(2)} of its scale ${scale.toExponential(2)}`);
    }
    // The activations equal as numbers (the whole pass adds its zero δ, turning a −0 into +0; the checkpointed
    // forward sweep adds none).
    for (const name of plain.cache.names()) {
      const a = await plain.cache.get(name).data();
      const b = await checkpointed.cache.get(name).data();
      const at = a.findIndex((v, i) => v !== b[i]);
      assert.equal(at, -1, `${what}: cached ${name} differs at ${at}: ${a[at]} against ${b[at]}`);
    }
  } finally {
    plain.dispose();
    checkpointed.dispose();
  }
  assert.equal(tf.memory().numTensors, before, `${what}: tensors left on the backend`);
  return { worst, compared };
}

const EVERY_KIND = ["hook_embed", "resid_pre", "ln1.hook_normalized", "attn.hook_pattern", "z", "attn_out", "resid_mid", "mlp.hook_post", "mlp_out", "resid_post", "ln_final.hook_normalized"];

for (const name of ["demo", "gemma2", "gpt_neox"]) {
  test(`checkpointed gradients equal the whole pass's at every kind of hook point: ${name}`, async (t) => {
    const m = await model(name);
    const ids = name === "demo" ? [m.toTokens("The capital of France is") as number[]] : [[3, 17, 42, 9, 100, 7]];
    const [a, b] = name === "demo" ? [" Paris", " Tokyo"] : [5, 11];
    const available = m.hookPoints();
    const names = (n: string) => EVERY_KIND.some((k) => n.endsWith(k.includes(".") ? k : `hook_${k}`) || n === k || n.endsWith(`.${k}`)) && available.includes(n);
    const every = await assertSame(m, ids, { metric: logitDiffMetric(m, a, b), names }, name);
    const kinds = new Set(available.filter(names).map((n) => n.replace(/^blocks\.\d+\./, "")));
    assert.ok(kinds.size >= (name === "gpt_neox" ? 9 : 10), `hook kinds compared: ${[...kinds]}`);
    const last = await assertSame(m, ids, { metric: logitDiffMetric(m, a, b), names: ["resid_pre", "attn_out"], lastPositionOnly: true }, `${name}, last position only`);
    t.diagnostic(`${every.compared} hook points of ${kinds.size} kinds: worst relative difference ${every.worst.toExponential(2)}; last position only ${last.worst.toExponential(2)}`);
  });
}

test("checkpointed gradients under interventions: a steered residual, an ablated head, a replaced block input (no gradient below it)", async () => {
  const m = await model("demo");
  const metric = logitDiffMetric(m, " Paris", " Tokyo");
  const ids = [m.toTokens("The capital of France is") as number[]];
  const steer = tf.tidy(() => tf.mul(tf.randomNormal([m.weights.dModel], 0, 1, "float32", 7), 0.5));
  const replacement = tf.tidy(() => tf.randomNormal([1, ids[0].length, m.weights.dModel], 0, 1, "float32", 3));
  try {
    const hooks = {
      "blocks.1.hook_resid_pre": (x: tf.Tensor) => tf.add(x, steer),
      "blocks.0.attn.hook_z": (z: tf.Tensor) => tf.mul(z, tf.oneHot([1], z.shape[2]!).reshape([1, 1, -1, 1]).sub(1).neg()),
    };
    await assertSame(m, ids, { metric, names: ["resid_pre", "z", "mlp_out"], hooks }, "steered and ablated");
    // Block 2's input replaced: the metric no longer depends on anything before it, so every gradient below is zero
    // (the block's own gradient call finds its input unconnected), in both passes alike.
    // (A copy: the cache owns what a hook returns at a cached point.)
    const cut = { "blocks.2.hook_resid_pre": () => replacement.clone() };
    await assertSame(m, ids, { metric, names: ["hook_embed", "resid_pre", "attn_out"], hooks: cut }, "block 2's input replaced");
    const g = await gradientCache(m, ids, { metric, names: ["resid_pre", "hook_embed"], hooks: cut });
    try {
      for (const n of ["hook_embed", "blocks.0.hook_resid_pre", "blocks.1.hook_resid_pre"]) assert.equal(tf.tidy(() => tf.max(tf.abs(g.gradients.get(n))).dataSync()[0]), 0, n);
      assert.ok(tf.tidy(() => tf.max(tf.abs(g.gradients.get("resid_pre", 2))).dataSync()[0]) > 0, "block 2's own input has a gradient");
    } finally {
      g.dispose();
    }
  } finally {
    tf.dispose([steer, replacement]);
  }
});

test("a hook that throws during the recomputation is rethrown and leaves nothing on the backend", async () => {
  const m = await model("demo");
  const before = tf.memory().numTensors;
  let calls = 0;
  const flaky = (x: tf.Tensor) => {
    if (++calls === 2) throw new Error("second call");
    return x;
  };
  await assert.rejects(
    gradientCache(m, "The capital of France is", { metric: logitDiffMetric(m, " Paris", " Tokyo"), names: ["resid_pre"], hooks: { "blocks.1.hook_mlp_out": flaky } }),
    /second call/,
  );
  assert.equal(calls, 2, "the hook ran in the forward sweep, then threw in the recomputation");
  assert.equal(tf.memory().numTensors, before);
});
