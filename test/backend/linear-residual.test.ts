// The residual add fused into the tiled matmul's store (fusedLinearResidual) and the engine's use of it on webgpu:
// bit-for-bit the numbers of the separate bias and residual adds, two dispatches fewer per block, and the
// composed path again whenever hook_attn_out or hook_mlp_out is observed. On backends without the kernel (cpu, wasm)
// the function returns null; cpu-native's kernel is tested in native-linear-residual.test.ts.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { ensureBackend } from "../../src/backend";
import { fusedLinear, fusedLinearResidual } from "../../src/backend/kernels";
import { loadModel } from "../../src/load";
import { webgpuOrSkip } from "./webgpu-helpers";
import { runCountingKernels } from "./run-counting-kernels";

function randoms(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  return Float32Array.from({ length: n }, () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32 - 0.5);
}

test("fusedLinearResidual is null on a backend without the kernel (cpu), so callers compose the ops", async () => {
  await ensureBackend();
  const active = tf.getBackend();
  await tf.setBackend("cpu");
  try {
    const x = tf.ones([64, 64]) as tf.Tensor2D;
    assert.equal(fusedLinearResidual(x, x, null, x), null);
    x.dispose();
  } finally {
    await tf.setBackend(active);
  }
});

test("fusedLinearResidual equals residual + (x·W + b) computed by separate dispatches, bit for bit", async (t) => {
  if (!(await webgpuOrSkip(t))) return;
  const cases = [
    { M: 80, K: 64, N: 64, bias: true },
    { M: 130, K: 256, N: 96, bias: true },
    { M: 64, K: 48, N: 128, bias: false },
  ];
  for (const [i, c] of cases.entries()) {
    const before = tf.memory().numTensors;
    const x = tf.tensor2d(randoms(c.M * c.K, 10 + i), [c.M, c.K]);
    const W = tf.tensor2d(randoms(c.K * c.N, 20 + i), [c.K, c.N]);
    const b = c.bias ? tf.tensor1d(randoms(c.N, 30 + i)) : null;
    const r = tf.tensor2d(randoms(c.M * c.N, 40 + i), [c.M, c.N]);
    const fused = fusedLinearResidual(x, W, b, r);
    assert.ok(fused, `case ${i}: the fused kernel runs`);
    const separate = tf.tidy(() => tf.add(r, (b ? fusedLinear(x, W, b) : null) ?? tf.matMul(x, W)));
    const got = await fused.data();
    const want = await separate.data();
    const residual = await r.data();
    assert.deepEqual(fused.shape, [c.M, c.N]);
    assert.ok(got.some((v, j) => Math.abs(v - residual[j]) > 1e-3), `case ${i}: the product is there, not only the residual`);
    assert.deepEqual(Array.from(got), Array.from(want), `case ${i}: same bits as the separate adds`);
    tf.dispose([x, W, r, fused, separate, ...(b ? [b] : [])]);
    assert.equal(tf.memory().numTensors, before, `case ${i}: tensors leaked`);
  }
  // A product too small for the tiled kernel is left to the caller.
  const small = tf.ones([8, 64]) as tf.Tensor2D;
  const W = tf.ones([64, 64]) as tf.Tensor2D;
  assert.equal(fusedLinearResidual(small, W, null, small), null);
  tf.dispose([small, W]);
});

test("GPT-2 on webgpu: the fused residual adds give the composed path's logits with two dispatches fewer per block", async (t) => {
  if (!(await webgpuOrSkip(t))) return;
  const model = await loadModel("test/fixtures/tiny/gpt2");
  const ids = Array.from({ length: 80 }, (_, i) => (i * 37 + 5) % 512);
  const layers = model.config.numLayers;
  const runOnce = (cache: string[]) => runCountingKernels(model, ids, cache);
  const before = tf.memory().numTensors;
  const fused = await runOnce([]);
  // Observing every block's attention and MLP outputs forces the composed path (separate Add dispatches).
  const observed = Array.from({ length: layers }, (_, l) => [`blocks.${l}.hook_attn_out`, `blocks.${l}.hook_mlp_out`]).flat();
  const composed = await runOnce(observed);
  assert.equal(tf.memory().numTensors, before, "tensors leaked");
  assert.equal(fused.count("LmprobeLinearResidual"), 2 * layers);
  assert.equal(composed.count("LmprobeLinearResidual"), 0);
  assert.equal(composed.count("Add") - fused.count("Add"), 2 * layers);
  assert.deepEqual(Array.from(fused.post), Array.from(composed.post), "hook_resid_post: same bits");
  assert.deepEqual(Array.from(fused.logits), Array.from(composed.logits), "logits: same bits");
  model.dispose();
});
