// Weights side by side with K split (kernels/segmented.ts takes each weight's own K-slices), and an MLP's activation
// applied by its input projection's kernel call (the split-K sum's epilogue where the product splits, one pass after
// it otherwise): each must give the numbers of the separate products and the separate activation pass, with fewer
// dispatches. Runs where a WebGPU adapter exists (the software one in CI's WebGPU suite).
import { test } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { fusedActivation } from "../../src/backend/kernels";
import { capability } from "../../src/backend/capabilities";
import { LmprobeError } from "../../src/errors";
import { matMulTiling } from "../../src/backend/kernels/batch-matmul";
import { SplitKSumProgram } from "../../src/backend/kernels/split-k";
import { packWeight, weightMatMul, weightsMatMul, type Weight2D } from "../../src/backend/packed-weight";
import { float32ToBfloat16Bits } from "../../src/io/half-float";
import { loadModel } from "../../src/load";
import { assertWithinLargest, countDispatches, saveEnv, webgpuOrSkip } from "./webgpu-helpers";
import { randoms } from "./product-reference";

/** A [K, N] weight: float32, or bf16 packed as nn.Linear stores it ([N, K]). */
function weight(kind: "f32" | "bf16-nt", K: number, N: number, seed: number): Weight2D {
  const values = randoms(K * N, seed);
  if (kind === "f32") return tf.tensor2d(values, [K, N]);
  const stored = new Uint16Array(K * N);
  for (let k = 0; k < K; k++) for (let n = 0; n < N; n++) stored[n * K + k] = float32ToBfloat16Bits(values[k * N + n]);
  return packWeight(stored, [N, K], "bf16", true);
}

test("the split-K sum's epilogues: per-segment biases, an activation, gate | up; a bad combination is refused", () => {
  const segmented = new SplitKSumProgram(64, 96, true, false, { segments: 3 });
  assert.deepEqual(segmented.variableNames, ["P", "bias0", "bias1", "bias2"]);
  assert.match(segmented.getUserCode(), /segmentBias/);
  const gated = new SplitKSumProgram(64, 48, true, false, { segments: 2, act: "silu", gated: true });
  assert.deepEqual(gated.outputShape, [64, 48]);
  assert.match(gated.getUserCode(), /exp\(/);
  assert.throws(() => new SplitKSumProgram(64, 48, false, true, { act: "relu" }), /no residual/);
  assert.throws(() => new SplitKSumProgram(64, 48, false, false, { gated: true }), /activation/);
});

test("LMPROBE_WEBGPU_ACTIVATION_EPILOGUE takes on or off; another value is an error naming it", () => {
  const restore = saveEnv("LMPROBE_WEBGPU_ACTIVATION_EPILOGUE");
  try {
    process.env.LMPROBE_WEBGPU_ACTIVATION_EPILOGUE = "sometimes";
    assert.throws(() => capability("activatedProjection"), (err: unknown) => err instanceof LmprobeError && /LMPROBE_WEBGPU_ACTIVATION_EPILOGUE/.test((err as Error).message));
    process.env.LMPROBE_WEBGPU_ACTIVATION_EPILOGUE = "off";
    assert.equal(capability("activatedProjection"), false);
  } finally {
    restore();
  }
});

test("weights side by side with K split, and activations in the product's call, equal the separate products and passes bit for bit", async (t) => {
  if (!(await webgpuOrSkip(t))) return;
  const restore = saveEnv("LMPROBE_MATMUL_SPLITK");
  const blocks = matMulTiling.minBlocks128;
  t.after(() => {
    restore();
    matMulTiling.minBlocks128 = blocks;
  });
  matMulTiling.minBlocks128 = Infinity; // 64-wide blocks: one shader per case on the software adapter
  const M = 80;
  const K = 96;
  const x = tf.tensor2d(randoms(M * K, 5), [M, K]);
  // [split, kind, widths, activation, gated]
  const cases: [string, "f32" | "bf16-nt", number[], "gelu_tanh" | "silu" | "relu" | null, boolean][] = [
    ["3", "f32", [128, 64, 64], null, false], // q | k | v, split: one product, one sum with three biases
    ["3", "bf16-nt", [64, 64, 64], null, false],
    ["3", "f32", [192], "gelu_tanh", false], // GPT-2's MLP input: the sum applies the activation
    ["off", "bf16-nt", [128], "relu", false], // unsplit: the product, then the activation pass
    ["2", "bf16-nt", [64, 64], "silu", true], // gate | up, split: act(gate) · up in the sum
    ["off", "f32", [64, 64], "silu", true],
  ];
  for (const [split, kind, widths, act, gated] of cases) {
    process.env.LMPROBE_MATMUL_SPLITK = split;
    const label = `${kind}, widths ${widths}, split ${split}, ${act ?? "no activation"}${gated ? ", gated" : ""}`;
    const before = tf.memory().numTensors;
    const Ws = widths.map((N, i) => weight(kind, K, N, 40 + i));
    const bs = widths.map((N, i) => tf.tensor1d(randoms(N, 60 + i)));
    const dispatches = countDispatches(() => true);
    const joint = weightsMatMul(x, Ws, bs, false, act ? { act, gated } : null);
    dispatches.stop();
    assert.ok(joint, `${label}: taken`);
    // Split: product and sum (the sum applies biases and activation); unsplit: product, then the activation pass.
    assert.equal(dispatches.count(), split === "off" && !act ? 1 : 2, `${label}: dispatches`);
    const apart = tf.tidy(() => {
      const each = Ws.map((W, i) => weightMatMul(x, W, bs[i]));
      if (gated) return fusedActivation(each[0], act!, each[1])!;
      const joined = each.length === 1 ? each[0] : tf.concat(each, 1);
      return act ? fusedActivation(joined, act)! : joined;
    });
    assert.deepEqual(joint.shape, apart.shape, label);
    const got = await joint.data();
    assert.ok(got.some((v) => Math.abs(v) > 1e-3), `${label}: not all zeros`);
    assert.deepEqual(Array.from(got), Array.from(await apart.data()), label);
    tf.dispose([joint, apart, ...bs]);
    for (const W of Ws) W.dispose();
    assert.equal(tf.memory().numTensors, before, `${label}: tensors leaked`);
  }
  // Weights whose own products would split K differently are left to separate products: 64 columns split 3 ways
  // over K = 96 by the forced count, but a weight of 32 columns (below the tiled kernel's size) is not split at all.
  process.env.LMPROBE_MATMUL_SPLITK = "3";
  const [a, b] = [weight("f32", K, 64, 1), weight("f32", K, 32, 2)];
  assert.equal(weightsMatMul(x, [a, b], [null, null]), null);
  tf.dispose([x, a, b]);
});

test("the demo model on webgpu: gate | up and the activation in one product and its sum, with the logits of the separate pass", async (t) => {
  if (!(await webgpuOrSkip(t))) return;
  const restore = saveEnv("LMPROBE_WEBGPU_ACTIVATION_EPILOGUE");
  t.after(restore);
  const model = await loadModel("demo", { backend: "webgpu" });
  // 96 rows: the demo's gate and up ([256, 704] each) split K in two, so the sum applies act(gate) · up.
  const ids = Array.from({ length: 96 }, (_, i) => 1 + ((i * 37 + 11) % (model.config.vocabSize - 1)));
  const run = async (setting: "on" | "off", cache: string[] = []) => {
    process.env.LMPROBE_WEBGPU_ACTIVATION_EPILOGUE = setting;
    const activations = countDispatches((key) => key.startsWith("lmprobeActivation"));
    const r = model.run([ids], { cache });
    const logits = Array.from(await r.logits.data());
    const cached = await Promise.all(cache.map(async (name) => Array.from(await r.cache.get(name).data())));
    activations.stop();
    r.dispose();
    return { logits, cached, activationPasses: activations.count() };
  };
  const off = await run("off");
  const on = await run("on");
  assert.equal(off.activationPasses, model.nLayers, "apart: one activation pass per layer");
  assert.equal(on.activationPasses, 0, "the split-K sums apply the activation");
  assertWithinLargest(on.logits, off.logits, 0, "logits");
  // hook_post still sees the activation; an observed hook_pre makes that layer project gate and up apart.
  const post = ["blocks.1.mlp.hook_post"];
  assert.deepEqual((await run("on", post)).cached, (await run("off", post)).cached, "hook_post");
  const observed = await run("on", ["blocks.0.mlp.hook_pre"]);
  assert.equal(observed.activationPasses, 1, "the observed layer's activation runs apart");
  assertWithinLargest(observed.logits, off.logits, 0, "logits with hook_pre observed");
  model.dispose();
});
