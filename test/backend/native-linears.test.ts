// cpu-native's q, k and v projections as one onnxruntime call with three outputs (fusedLinears): each output is the
// bits of its own product (with and without biases, grouped key/value widths, sizes on both sides of the
// one-thread line), products whose threading would differ are refused, and a model run makes one such call per
// layer with the hooks and logits of separate products.
import { before, test } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { setBackend } from "../../src/backend";
import { fusedLinear, fusedLinears } from "../../src/backend/kernels";
import { nativeSingleThread } from "../../src/backend/native/runtime";
import { loadModel } from "../../src/load";
import { randoms } from "./product-reference";
import { runCountingKernels } from "./run-counting-kernels";

before(async () => {
  await setBackend("cpu-native");
});

test("cpu-native: fusedLinears gives each weight's own product, bit for bit", async () => {
  const cases = [
    { M: 5, K: 7, widths: [7, 3, 3], bias: [true, true, true] }, // one thread
    { M: 130, K: 256, widths: [256, 64, 64], bias: [false, false, false] },
    { M: 200, K: 384, widths: [384, 384, 384], bias: [true, false, true] }, // every thread
  ];
  for (const [i, c] of cases.entries()) {
    const before = tf.memory().numTensors;
    const x = tf.tensor2d(randoms(c.M * c.K, 10 + i), [c.M, c.K]);
    const Ws = c.widths.map((n, j) => tf.tensor2d(randoms(c.K * n, 20 + 3 * i + j), [c.K, n]));
    const bs = c.widths.map((n, j) => (c.bias[j] ? tf.tensor1d(randoms(n, 40 + 3 * i + j)) : null));
    const together = fusedLinears(x, Ws, bs);
    assert.ok(together, `case ${i}: taken`);
    for (const [j, W] of Ws.entries()) {
      const apart = tf.tidy(() => (bs[j] ? fusedLinear(x, W, bs[j]) : null) ?? tf.matMul(x, W));
      assert.deepEqual(together[j].shape, [c.M, c.widths[j]]);
      assert.deepEqual(Array.from(await together[j].data()), Array.from(await apart.data()), `case ${i}, weight ${j}: same bits`);
      apart.dispose();
    }
    tf.dispose([x, ...Ws, ...together, ...bs.filter((b): b is tf.Tensor1D => b != null)]);
    assert.equal(tf.memory().numTensors, before, `case ${i}: tensors leaked`);
  }
});

test("cpu-native: fusedLinears refuses products that would run on different thread counts, and shapes that do not chain", () => {
  // M·K·N/16 below the line for the narrow weight and above it for the wide one.
  const [M, K] = [64, 128];
  const line = nativeSingleThread.belowWork * 16;
  const narrow = Math.max(1, Math.floor(line / (M * K)) - 8);
  const wide = Math.ceil(line / (M * K)) + 8;
  const x = tf.ones([M, K]) as tf.Tensor2D;
  const Ws = [tf.ones([K, wide]), tf.ones([K, narrow])] as tf.Tensor2D[];
  assert.equal(fusedLinears(x, Ws, [null, null]), null, "mixed threading: null");
  const bad = [tf.ones([K, 8]), tf.ones([K + 1, 8])] as tf.Tensor2D[];
  assert.equal(fusedLinears(x, bad, [null, null]), null, "a weight with other rows: null");
  assert.equal(fusedLinears(x, [Ws[0], Ws[0]], [tf.ones([3]) as tf.Tensor1D, null]), null, "a bias of another width: null");
  tf.dispose([x, ...Ws, ...bad]);
});

for (const fixture of ["gpt2", "llama", "qwen2"]) {
  test(`${fixture} on cpu-native: one call for q, k and v per layer, with the hooks of separate products`, async () => {
    const model = await loadModel(`test/fixtures/tiny/${fixture}`);
    const layers = model.config.numLayers;
    const ids = Array.from({ length: 40 }, (_, i) => (i * 37 + 5) % 200);
    const names = ["blocks.0.attn.hook_q", "blocks.0.attn.hook_k", "blocks.0.attn.hook_v", "blocks.0.ln1.hook_normalized"];
    const before = tf.memory().numTensors;
    const run = await runCountingKernels(model, ids, []);
    assert.equal(run.count("LmprobeLinears"), layers, "one call per layer");
    const r = model.run([ids], { cache: names });
    const x = r.cache.get("blocks.0.ln1.hook_normalized").reshape([ids.length, -1]) as tf.Tensor2D;
    const attn = model.weights.blocks[0].attn;
    for (const [j, [W, b]] of ([[attn.W_Q, attn.b_Q], [attn.W_K, attn.b_K], [attn.W_V, attn.b_V]] as const).entries()) {
      const apart = tf.tidy(() => (b ? fusedLinear(x, W as tf.Tensor2D, b) : null) ?? tf.matMul(x, W as tf.Tensor2D));
      assert.deepEqual(Array.from(await r.cache.get(names[j]).data()), Array.from(await apart.data()), `${names[j]}: the bits of its own product`);
      apart.dispose();
    }
    x.dispose();
    r.dispose();
    assert.equal(tf.memory().numTensors, before, "tensors leaked");
    model.dispose();
  });
}
