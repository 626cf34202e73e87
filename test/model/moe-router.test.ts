import assert from "node:assert/strict";
import { test } from "node:test";
import * as tf from "@tensorflow/tfjs-core";
import { denseRoutingMatrix, routeTokens } from "../../src/model/components/moe-router";
import { assertClose, input, onEachBackend } from "../tensor/reference";

// Logits of two tokens over four experts; the second token prefers expert 3, then expert 0.
const LOGITS = [
  [2, 1, 0, -1],
  [0.5, -2, 0.1, 3],
];

function route(order: "softmax-topk" | "topk-softmax", renormalize: boolean) {
  const r = routeTokens(input(tf.tensor2d(LOGITS)), { order, topK: 2, renormalize });
  const out = { indices: r.indices.arraySync(), weights: r.weights.arraySync() };
  tf.dispose([r.indices, r.weights]);
  return out;
}

test("softmax over every expert, then top-k, without renormalising (Qwen3-MoE norm_topk_prob=false)", async () => {
  await onEachBackend(() => {
    const { indices, weights } = route("softmax-topk", false);
    assert.deepEqual(indices, [[0, 1], [3, 0]]);
    // Token 0: exp(2) and exp(1) over exp(2) + exp(1) + exp(0) + exp(-1).
    const z0 = Math.exp(2) + Math.exp(1) + 1 + Math.exp(-1);
    const z1 = Math.exp(0.5) + Math.exp(-2) + Math.exp(0.1) + Math.exp(3);
    assertClose(weights.flat(), [Math.exp(2) / z0, Math.exp(1) / z0, Math.exp(3) / z1, Math.exp(0.5) / z1], 1e-6, 1e-6, "weights");
    assert.ok(weights[0][0] + weights[0][1] < 0.95, "unnormalised weights keep the mass of the other experts out");
  });
});

test("softmax-then-top-k renormalised (Mixtral) equals top-k-then-softmax (gpt-oss); both sum to one", async () => {
  await onEachBackend(() => {
    const renorm = route("softmax-topk", true);
    const topkFirst = route("topk-softmax", false);
    const expected = [1 / (1 + Math.exp(-1)), Math.exp(-1) / (1 + Math.exp(-1)), 1 / (1 + Math.exp(-2.5)), Math.exp(-2.5) / (1 + Math.exp(-2.5))];
    assertClose(renorm.weights.flat(), expected, 1e-6, 1e-6, "softmax-topk renormalised");
    assertClose(topkFirst.weights.flat(), expected, 1e-6, 1e-6, "topk-softmax");
    assert.deepEqual(renorm.indices, topkFirst.indices);
  });
});

test("a router bias moves the choice: gpt-oss adds it to the logits before top-k", async () => {
  await onEachBackend(() => {
    const biased = tf.tidy(() => tf.add(tf.tensor2d(LOGITS), tf.tensor1d([0, 0, 5, 0])) as tf.Tensor2D);
    const r = routeTokens(input(biased), { order: "topk-softmax", topK: 2, renormalize: false });
    assert.deepEqual(r.indices.arraySync(), [[2, 0], [2, 3]]);
    assertClose(r.weights.arraySync()[0], [1 / (1 + Math.exp(-3)), Math.exp(-3) / (1 + Math.exp(-3))], 1e-6, 1e-6, "biased weights");
    tf.dispose([r.indices, r.weights]);
  });
});

test("denseRoutingMatrix puts each chosen weight in its expert's column and zero elsewhere", async () => {
  await onEachBackend(() => {
    const r = routeTokens(input(tf.tensor2d(LOGITS)), { order: "topk-softmax", topK: 2, renormalize: false });
    const dense = denseRoutingMatrix(r, 4);
    const w = r.weights.arraySync();
    assertClose(dense.arraySync().flat(), [w[0][0], w[0][1], 0, 0, w[1][1], 0, 0, w[1][0]], 1e-7, 0, "dense matrix");
    tf.dispose([r.indices, r.weights, dense]);
  });
});

test("a top-k outside 1..experts is refused", async () => {
  await onEachBackend(() => {
    const logits = input(tf.tensor2d(LOGITS));
    assert.throws(() => routeTokens(logits, { order: "softmax-topk", topK: 5, renormalize: true }), /top-k of 5/);
    assert.throws(() => routeTokens(logits, { order: "softmax-topk", topK: 0, renormalize: true }), /top-k of 0/);
  });
});
