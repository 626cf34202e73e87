// Token attribution on the demo model and the tiny GPT-2 fixture: integrated gradients' completeness (Σ IG =
// f(input) − f(baseline), measured on wasm: 9.5e-5 relative at 128 trapezoid steps on the demo model), input ×
// gradient against a float64 central difference along each token's own embedding, and the chart's escaping.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as aq from "arquero";
import * as tf from "@tensorflow/tfjs-core";
import { tokenAttribution } from "../../src/probe/token-attribution";
import { tokenAttributionChart } from "../../src/display/charts/token-attribution";
import { ArgumentError } from "../../src/errors";
import { Float64Model } from "./float64-forward";
import { directionalDerivative, model } from "./helpers";

const PROMPT = "The capital of France is";

test("demo: integrated gradients are complete (Σ IG = f(x) − f(baseline)) and converge with the steps", async () => {
  const m = await model();
  const before = tf.memory().numTensors;
  const coarse = await tokenAttribution(m, PROMPT, { steps: 32 });
  const fine = await tokenAttribution(m, PROMPT, { steps: 128 });
  assert.equal(tf.memory().numTensors, before, "tensors leaked");
  assert.equal(fine.target?.token, " Paris", "the top prediction is attributed by default");
  assert.ok(Math.abs(fine.completeness.expected) > 1, `f(x) − f(b) is not trivial: ${fine.completeness.expected}`);
  assert.ok(fine.completeness.relativeError < 1e-3, `128 steps: Σ IG ${fine.completeness.sum} vs ${fine.completeness.expected}`);
  assert.ok(fine.completeness.relativeError < coarse.completeness.relativeError, "more steps, smaller error");
  const ig = fine.table.array("integrated_gradients") as number[];
  assert.equal(ig.length, 5);
  // The subject carries the answer: " France" has the largest attribution.
  const best = ig.indexOf(Math.max(...ig));
  assert.equal(fine.tokens[best], " France", `IG ${ig.map((v) => v.toFixed(2)).join(", ")}`);
});

test("demo: steps 0 gives saliency and input × gradient alone, in one pass, the values they have beside integrated gradients", async () => {
  const m = await model();
  const before = tf.memory().numTensors;
  const alone = await tokenAttribution(m, PROMPT, { steps: 0 });
  const full = await tokenAttribution(m, PROMPT, { steps: 2 });
  assert.equal(tf.memory().numTensors, before, "tensors leaked");
  assert.deepEqual(alone.table.columnNames(), ["position", "token", "saliency", "input_x_gradient"]);
  assert.equal(alone.completeness, null);
  assert.equal(alone.passes, 1);
  assert.equal(alone.steps, 0);
  assert.ok(Number.isNaN(alone.baselineValue));
  assert.deepEqual(alone.table.array("saliency"), full.table.array("saliency"));
  assert.deepEqual(alone.table.array("input_x_gradient"), full.table.array("input_x_gradient"));
  assert.ok(Math.abs(alone.value - full.value) <= 1e-5 * Math.max(1, Math.abs(full.value)), `f(x): ${alone.value} vs ${full.value}`);
  assert.equal(alone.target?.token, " Paris");
  await assert.rejects(tokenAttribution(m, PROMPT, { steps: 1 }), ArgumentError);
});

test("GPT-2 fixture: completeness with the logit score and a token baseline", async () => {
  const m = await model("gpt2");
  const r = await tokenAttribution(m, [3, 17, 42, 9, 100, 7], { score: "logit", baseline: { token: 0 }, steps: 128 });
  assert.ok(Math.abs(r.completeness.expected) > 1e-3, `f(x) − f(b) = ${r.completeness.expected}`);
  assert.ok(r.completeness.relativeError < 1e-3, `Σ IG ${r.completeness.sum} vs ${r.completeness.expected}`);
});

test("demo: input × gradient equals the float64 derivative along each token's own embedding", async () => {
  const m = await model();
  const r = await tokenAttribution(m, PROMPT, { target: " Paris", score: "logit", steps: 2 });
  const ids = m.toTokens(PROMPT) as number[];
  const ref = new Float64Model(m.weights);
  const V = m.weights.vocabSize;
  const T = ids.length;
  const paris = m.toTokens(" Paris")[0];
  const metric = (logits: Float64Array) => logits[(T - 1) * V + paris];
  const d = m.weights.dModel;
  const W_E = m.weights.embed.W_E.dataSync();
  const ixg = r.table.array("input_x_gradient") as number[];
  const sal = r.table.array("saliency") as number[];
  for (let t = 0; t < T; t++) {
    const u = new Float64Array(T * d);
    for (let i = 0; i < d; i++) u[t * d + i] = W_E[ids[t] * d + i];
    const fd = directionalDerivative(ref, ids, "hook_embed", u, metric);
    assert.ok(Math.abs(fd - ixg[t]) < 1e-4 * Math.max(1, Math.abs(fd)) + 1e-3 * sal[t], `token ${t}: input × gradient ${ixg[t]} vs finite difference ${fd}`);
  }
});

test("bad arguments are typed errors", async () => {
  const m = await model();
  await assert.rejects(tokenAttribution(m, PROMPT, { position: 9 }), (e: unknown) => e instanceof ArgumentError && e.argument === "position");
  await assert.rejects(tokenAttribution(m, PROMPT, { steps: 1 }), (e: unknown) => e instanceof ArgumentError && e.argument === "steps");
  await assert.rejects(tokenAttribution(m, PROMPT, { baseline: "mean" as never }), (e: unknown) => e instanceof ArgumentError && e.argument === "baseline");
  await assert.rejects(tokenAttribution(m, PROMPT, { target: " not one token at all" }), (e: unknown) => e instanceof ArgumentError && e.argument === "target");
});

test("the chart colours each token per method and keeps markup in token text as text", () => {
  const table = aq.from([
    { position: 0, token: "<script>alert(1)</script>", saliency: 0.5, input_x_gradient: -1, integrated_gradients: 2 },
    { position: 1, token: "&amp;", saliency: 1, input_x_gradient: 0.5, integrated_gradients: -4 },
  ]);
  const chart = tokenAttributionChart(table);
  const values = (chart.spec.data as { values: Array<{ method: string; scaled: number; value: number }> }).values;
  assert.equal(values.length, 6, "3 methods × 2 tokens");
  const ig = values.filter((v) => v.method === "integrated gradients").map((v) => v.scaled);
  assert.deepEqual(ig, [0.5, -1], "scaled by the largest magnitude of the method, sign kept");
  const svg = chart.toSvg();
  assert.doesNotMatch(svg, /<script/);
  assert.match(svg, /&lt;script&gt;/);
  const bundle = chart.toBundle();
  assert.doesNotMatch(String(bundle["text/html"]), /<script>alert/);
});
