// cpu-native's fewer calls per block: the residual adds inside the products (fusedLinearResidual's native kernel, the
// MLP kernel's residual input) and keys / values read by the attention call as the projections laid them out. Bit for
// bit the composed path's numbers (separate bias and residual adds, head-major keys), two Add and two Transpose
// kernels fewer per block, the composed path whenever hook_attn_out or hook_mlp_out is observed, the residual kept
// on the streamed-attention path, and no fusion where the MLP runs over blocks of positions.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { setBackend } from "../../src/backend";
import { fusedAttention, fusedLinear, fusedLinearResidual, fusedMlp } from "../../src/backend/kernels";
import { loadModel } from "../../src/load";
import { attentionStreaming } from "../../src/model/components/attention-streamed";
import { mlpStreaming } from "../../src/model/forward";
import type { LanguageModel } from "../../src/model/model";
import { runCountingKernels } from "./run-counting-kernels";

function randoms(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  return Float32Array.from({ length: n }, () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32 - 0.5);
}

before(async () => {
  await setBackend("cpu-native");
});

test("cpu-native: fusedLinearResidual and fusedMlp's residual equal the separate adds, bit for bit", async () => {
  for (const [i, c] of [{ M: 5, K: 7, N: 3, bias: true }, { M: 130, K: 96, N: 200, bias: false }, { M: 1, K: 64, N: 64, bias: true }].entries()) {
    const before = tf.memory().numTensors;
    const x = tf.tensor2d(randoms(c.M * c.K, 10 + i), [c.M, c.K]);
    const W = tf.tensor2d(randoms(c.K * c.N, 20 + i), [c.K, c.N]);
    const b = c.bias ? tf.tensor1d(randoms(c.N, 30 + i)) : null;
    const r = tf.tensor2d(randoms(c.M * c.N, 40 + i).map((v) => v * 100), [c.M, c.N]);
    const fused = fusedLinearResidual(x, W, b, r);
    assert.ok(fused, `case ${i}: the native kernel takes any 2-D product`);
    const separate = tf.tidy(() => tf.add(r, (b ? fusedLinear(x, W, b) : null) ?? tf.matMul(x, W)));
    assert.deepEqual(Array.from(await fused.data()), Array.from(await separate.data()), `case ${i}: same bits`);
    tf.dispose([x, W, r, fused, separate, ...(b ? [b] : [])]);
    assert.equal(tf.memory().numTensors, before, `case ${i}: tensors leaked`);
  }
  // Shapes that do not chain are the caller's to reject loudly: null here, so the composed ops raise tfjs's error.
  const a = tf.ones([4, 8]) as tf.Tensor2D;
  assert.equal(fusedLinearResidual(a, tf.ones([6, 8]) as tf.Tensor2D, null, tf.ones([4, 8]) as tf.Tensor2D), null);

  const [rows, d, hidden] = [9, 16, 40];
  const x = tf.tensor2d(randoms(rows * d, 1), [rows, d]);
  const w = {
    gated: true,
    act: "silu",
    W_gate: tf.tensor2d(randoms(d * hidden, 2), [d, hidden]),
    b_gate: null,
    W_in: tf.tensor2d(randoms(d * hidden, 3), [d, hidden]),
    b_in: null,
    W_out: tf.tensor2d(randoms(hidden * d, 4), [hidden, d]),
    b_out: tf.tensor1d(randoms(d, 5)),
  };
  const r = tf.tensor2d(randoms(rows * d, 6), [rows, d]);
  const withResidual = fusedMlp(x, w, r);
  const plain = fusedMlp(x, w);
  assert.ok(withResidual && plain, "the MLP kernel runs, with and without the residual");
  const sum = tf.add(r, plain);
  assert.deepEqual(Array.from(await withResidual.data()), Array.from(await sum.data()), "MLP + residual: same bits");
  assert.equal(fusedMlp(x, w, tf.ones([rows + 1, d]) as tf.Tensor2D), null, "a residual of another shape is refused");
  tf.dispose([x, r, withResidual, plain, sum, w.W_gate, w.W_in, w.W_out, w.b_out]);
});

test("cpu-native attention takes keys and values as projected ([batch, keys, kvHeads, d]): the head-major call's bits", async () => {
  const [b, pos, keys, heads, kvHeads, dHead, dV] = [2, 7, 9, 4, 2, 8, 6];
  const q = tf.tensor4d(randoms(b * pos * heads * dHead, 1), [b, pos, heads, dHead]);
  const k = tf.tensor4d(randoms(b * keys * kvHeads * dHead, 2), [b, keys, kvHeads, dHead]);
  const v = tf.tensor4d(randoms(b * keys * kvHeads * dV, 3), [b, keys, kvHeads, dV]);
  const maskValues = randoms(b * pos * keys, 4).map((x, i) => (i % 5 === 0 ? -Infinity : x));
  const mask = tf.tensor4d(maskValues, [b, 1, pos, keys]);
  for (const softcap of [null, 0.7]) {
    const asProjected = fusedAttention(q, k, v, mask, 0.35, softcap, "positions");
    const headMajor = tf.tidy(() => fusedAttention(q, tf.transpose(k, [0, 2, 1, 3]), tf.transpose(v, [0, 2, 1, 3]), mask, 0.35, softcap));
    assert.ok(asProjected && headMajor, "both layouts run natively");
    assert.deepEqual(asProjected.shape, [b, pos, heads, dV]);
    assert.deepEqual(Array.from(await asProjected.data()), Array.from(await headMajor.data()), `softcap ${softcap}: same bits`);
    tf.dispose([asProjected, headMajor]);
  }
  // Head-major shapes passed as projected (keys ≠ kvHeads) no longer fit the mask: refused, not misread.
  assert.equal(fusedAttention(q, tf.transpose(k, [0, 2, 1, 3]) as tf.Tensor4D, v, mask, 0.35, null, "positions"), null);
  tf.dispose([q, k, v, mask]);
});

async function runOnce(model: LanguageModel, ids: number[], cache: string[]) {
  const run = await runCountingKernels(model, ids, cache);
  return { logits: run.logits, post: run.post, linearResidual: run.count("LmprobeLinearResidual"), adds: run.count("Add"), transposes: run.count("Transpose") };
}

const saved = { minScoreFloats: attentionStreaming.minScoreFloats, mlp: { ...mlpStreaming } };
after(() => {
  attentionStreaming.minScoreFloats = saved.minScoreFloats;
  Object.assign(mlpStreaming, saved.mlp);
});

for (const fixture of ["gpt2", "llama"]) {
  test(`${fixture} on cpu-native: fused residual adds give the composed path's numbers with two Add kernels fewer per block`, async () => {
    const model = await loadModel(`test/fixtures/tiny/${fixture}`);
    const layers = model.config.numLayers;
    const ids = Array.from({ length: 40 }, (_, i) => (i * 37 + 5) % 200);
    const observed = Array.from({ length: layers }, (_, l) => [`blocks.${l}.hook_attn_out`, `blocks.${l}.hook_mlp_out`]).flat();
    const before = tf.memory().numTensors;
    for (const streamed of [false, true]) {
      // streamed: attention a head at a time (attention-streamed.ts), whose output projection must keep the residual.
      attentionStreaming.minScoreFloats = streamed ? 0 : saved.minScoreFloats;
      const fused = await runOnce(model, ids, []);
      const composed = await runOnce(model, ids, observed);
      const label = `${fixture}${streamed ? ", streamed attention" : ""}`;
      assert.equal(fused.linearResidual, layers, `${label}: W_O's product takes the residual in every block`);
      assert.equal(composed.linearResidual, 0, `${label}: observing the sublayer outputs composes the ops`);
      assert.equal(composed.adds - fused.adds, 2 * layers, `${label}: two Add kernels fewer per block`);
      // Keys and values stay as projected where the attention call runs whole; a streamed one takes them head-major.
      if (streamed) assert.ok(fused.transposes >= 2 * layers, `${label}: k/v made head-major (${fused.transposes} transposes)`);
      else assert.equal(fused.transposes, 0, `${label}: no transposes`);
      assert.deepEqual(Array.from(fused.post), Array.from(composed.post), `${label}: hook_resid_post, same bits`);
      assert.deepEqual(Array.from(fused.logits), Array.from(composed.logits), `${label}: logits, same bits`);
    }
    attentionStreaming.minScoreFloats = saved.minScoreFloats;
    // An MLP run over blocks of positions keeps its separate adds (its blocks would each need a residual slice).
    // (Both budgets: on cpu-native the MLP is one call, whose budget is oneCallBlockFloats.)
    Object.assign(mlpStreaming, { blockFloats: 1, oneCallBlockFloats: 1 });
    const blocked = await runOnce(model, ids, []);
    Object.assign(mlpStreaming, saved.mlp);
    const whole = await runOnce(model, ids, []);
    assert.equal(blocked.linearResidual, 0, "no fusion where the MLP is blocked");
    assert.equal(whole.linearResidual, layers, "fusion again once the MLP runs whole");
    // One-row products take other MLAS kernels than 40-row ones, so only the last bits may differ.
    const worst = blocked.logits.reduce((m, v, i) => Math.max(m, Math.abs(v - whole.logits[i])), 0);
    assert.ok(worst < 1e-4, `blocked MLP: logits within 1e-4 of the whole MLP's (worst ${worst})`);
    assert.equal(tf.memory().numTensors, before, "tensors leaked");
    model.dispose();
  });
}
