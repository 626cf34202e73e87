// The gradient cache against central finite differences of a float64 forward pass (test/gradients/float64-forward.ts),
// on the demo model (Llama: RMSNorm, rotary, grouped heads, SwiGLU, tied unembedding) and the tiny GPT-2 fixture
// (LayerNorm, learned positions, biases, gelu_new). The error of each directional derivative is measured relative
// to the gradient's norm; on wasm the worst is 8.5e-7 on the demo model and 7.9e-8 on GPT-2 (float32 forward and
// backward against float64). The tolerance, 1e-4, leaves a 100× margin and is far below what a wrong gradient
// gives (a dropped path or a wrong factor is off by O(1)).
import { test } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { gradientCache } from "../../src/model/gradients";
import { logitDiffMetric } from "../../src/probe/gradient-metrics";
import { withDifferentiableOps } from "../../src/backend/gradient-mode";
import { fusedNorm } from "../../src/backend/kernels";
import { NORM_KERNEL } from "../../src/backend/kernels/fused";
import { ArgumentError, GradientMemoryError } from "../../src/errors";
import { Float64Model } from "./float64-forward";
import { directionalDerivative, model, seeded } from "./helpers";

const TOLERANCE = 1e-4;

interface Case {
  name: string;
  fixture: string;
  ids: (m: Awaited<ReturnType<typeof model>>) => number[];
  answers: [number | string, number | string];
  hooks: string[];
}

const CASES: Case[] = [
  {
    name: "demo model",
    fixture: "demo",
    ids: (m) => m.toTokens("The capital of France is") as number[],
    answers: [" Paris", " Tokyo"],
    hooks: [
      "hook_embed",
      "blocks.0.hook_resid_pre",
      "blocks.0.attn.hook_pattern",
      "blocks.0.attn.hook_z",
      "blocks.0.hook_attn_out",
      "blocks.1.hook_resid_mid",
      "blocks.2.mlp.hook_post",
      "blocks.2.hook_mlp_out",
      "blocks.3.hook_resid_post",
      "ln_final.hook_normalized",
    ],
  },
  {
    name: "tiny GPT-2 fixture",
    fixture: "gpt2",
    ids: () => [3, 17, 42, 9, 100, 7, 55],
    answers: [5, 11],
    hooks: ["hook_embed", "hook_pos_embed", "blocks.0.attn.hook_pattern", "blocks.0.attn.hook_z", "blocks.0.mlp.hook_post", "blocks.1.hook_resid_pre", "blocks.1.hook_attn_out", "blocks.1.hook_resid_post"],
  },
];

for (const c of CASES) {
  test(`gradient cache equals float64 central differences: ${c.name}`, async () => {
    const m = await model(c.fixture);
    const ids = c.ids(m);
    const [a, b] = c.answers.map((t) => (typeof t === "number" ? t : m.toTokens(t)[0]));
    const ref = new Float64Model(m.weights);
    const V = m.weights.vocabSize;
    const T = ids.length;
    const metric64 = (logits: Float64Array) => logits[(T - 1) * V + a] - logits[(T - 1) * V + b];

    const before = tf.memory().numTensors;
    const r = await gradientCache(m, ids, { metric: logitDiffMetric(m, a, b), names: c.hooks });
    // The float64 pass is the model: its metric equals the engine's to float32 rounding.
    const value64 = metric64(ref.forward(ids));
    assert.ok(Math.abs(value64 - r.value) < 1e-3 * Math.max(1, Math.abs(value64)), `metric ${r.value} vs float64 ${value64}`);

    const random = seeded(7);
    let worst = 0;
    for (const name of c.hooks) {
      const g = Float64Array.from(r.gradients.get(name).dataSync());
      assert.deepEqual(r.gradients.get(name).shape, r.cache.get(name).shape, `${name}: gradient shaped like the activation`);
      const gNorm = Math.hypot(...g);
      assert.ok(gNorm > 1e-6, `${name}: gradient is zero`);
      const directions: Array<[string, Float64Array]> = [["along the gradient", g.map((v) => v / gNorm)]];
      // The largest coordinate and two random ones (one-hot directions: each checks one entry of the gradient).
      const coords = [g.reduce((best, v, i) => (Math.abs(v) > Math.abs(g[best]) ? i : best), 0), Math.floor(random() * g.length), Math.floor(random() * g.length)];
      for (const i of coords) {
        const e = new Float64Array(g.length);
        e[i] = 1;
        directions.push([`entry ${i}`, e]);
      }
      for (const [what, u] of directions) {
        const fd = directionalDerivative(ref, ids, name, u, metric64);
        const engine = u.reduce((s, v, i) => s + v * g[i], 0);
        const err = Math.abs(fd - engine) / gNorm;
        worst = Math.max(worst, err);
        assert.ok(err < TOLERANCE, `${name} ${what}: autograd ${engine}, finite difference ${fd} (error ${err.toExponential(2)} of |∇|)`);
      }
    }
    console.log(`${c.name}: worst relative error ${worst.toExponential(2)}`);
    r.dispose();
    assert.equal(tf.memory().numTensors, before, "tensors leaked");
  });
}

test("the gradient at resid_post of block l is the gradient at resid_pre of block l + 1 (one tensor read by both names)", async () => {
  const m = await model();
  const r = await gradientCache(m, "The capital of France is", { metric: logitDiffMetric(m, " Paris", " Tokyo"), names: ["resid_pre", "resid_post"] });
  for (let l = 0; l + 1 < m.nLayers; l++) {
    const diff = tf.tidy(() => tf.max(tf.abs(tf.sub(r.gradients.get("resid_post", l), r.gradients.get("resid_pre", l + 1)))).dataSync()[0]);
    assert.ok(diff < 1e-5, `layer ${l}: ${diff}`);
  }
  r.dispose();
});

test("a batch: each row's gradient is that row's own (rows do not interact)", async () => {
  const m = await model();
  const metric = logitDiffMetric(m, " Paris", " Tokyo");
  const both = await gradientCache(m, ["The capital of France is", "The capital of Japan is"], { metric, names: ["resid_pre"] });
  const one = await gradientCache(m, "The capital of Japan is", { metric, names: ["resid_pre"] });
  assert.equal(both.rowValues.length, 2);
  assert.ok(Math.abs(both.rowValues[1] - one.value) < 1e-4);
  const diff = tf.tidy(() => tf.max(tf.abs(tf.sub(both.gradients.get("resid_pre", 1).slice([1, 0, 0], [1, -1, -1]), one.gradients.get("resid_pre", 1)))).dataSync()[0]);
  assert.ok(diff < 1e-5, `row 1 vs alone: ${diff}`);
  both.dispose();
  one.dispose();
});

test("bad arguments are typed errors naming the argument", async () => {
  const m = await model();
  const before = tf.memory().numTensors;
  const metric = logitDiffMetric(m, " Paris", " Tokyo");
  await assert.rejects(gradientCache(m, "The capital", { metric, names: ["no_such_hook"] }), (e: unknown) => e instanceof ArgumentError && e.argument === "cache");
  await assert.rejects(gradientCache(m, "The capital", { metric: (logits) => logits, names: ["resid_pre"] }), (e: unknown) => e instanceof ArgumentError && e.argument === "metric");
  await assert.rejects(gradientCache(m, "The capital", { metric: 3 as never, names: ["resid_pre"] }), (e: unknown) => e instanceof ArgumentError && e.argument === "metric");
  // An exhausted wasm heap surfaces as a WebAssembly trap inside the pass: it becomes a typed error, nothing leaks.
  const trap = () => {
    throw new WebAssembly.RuntimeError("memory access out of bounds");
  };
  await assert.rejects(gradientCache(m, "The capital", { metric, names: ["resid_pre"], hooks: { "blocks.2.hook_mlp_out": trap } }), (e: unknown) => e instanceof GradientMemoryError && /fewer positions/.test(e.message));
  assert.equal(tf.memory().numTensors, before, "tensors leaked after errors");
});

test("while a gradient is taken, lmprobe's gradient-less kernels decline and the differentiable ops run", () => {
  // A stand-in fused norm kernel on this backend (webgpu registers the real one): selected normally, never in gradient mode.
  const backend = tf.getBackend();
  tf.registerKernel({ kernelName: NORM_KERNEL, backendName: backend, kernelFunc: ({ inputs, backend }) => {
    // The identity, sharing x's data the way tfjs's own reshape kernels do.
    const x = inputs.x as tf.TensorInfo;
    backend.incRef(x.dataId);
    return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
  } });
  try {
    const x = tf.ones([2, 4]);
    const spec = { kind: "rms" as const, weight: null, bias: null, eps: 1e-5, weightOffset: 0 };
    const fast = fusedNorm(x, spec);
    assert.ok(fast !== null, "the kernel is selected outside gradient mode");
    assert.equal(withDifferentiableOps(() => fusedNorm(x, spec)), null, "declined in gradient mode");
    tf.dispose([x, fast!]);
  } finally {
    tf.unregisterKernel(NORM_KERNEL, backend);
  }
});
