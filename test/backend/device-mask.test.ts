// The attention mask built on the device (what webgpu forwards use: one LmprobeAttentionMask dispatch there, tensor
// ops elsewhere or with the fused kernels off) against the host-loop mask the engine uses on wasm/cpu: identical
// elements for causal, sliding-window, left-padded and cached-past cases, and no tensor left.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { ensureBackend } from "../../src/backend";
import { attentionMask, attentionMaskOnDevice, MASKED } from "../../src/model/components/masks";
import { withDifferentiableOps } from "../../src/backend/gradient-mode";
import { ensureTfjsGradients } from "../../src/backend/tfjs-gradients";

function row(keys: number, padding: number): Uint8Array {
  const r = new Uint8Array(keys).fill(1);
  r.fill(0, 0, padding);
  return r;
}

const cases: { name: string; keyValid: Uint8Array[]; past: number; queries: number; window: number | null }[] = [
  { name: "causal", keyValid: [row(7, 0)], past: 0, queries: 7, window: null },
  { name: "sliding window", keyValid: [row(9, 0)], past: 0, queries: 9, window: 3 },
  { name: "left padding, two rows", keyValid: [row(6, 0), row(6, 2)], past: 0, queries: 6, window: null },
  { name: "cached past, padding and window", keyValid: [row(8, 1), row(8, 3)], past: 5, queries: 3, window: 4 },
  { name: "one new token", keyValid: [row(5, 0)], past: 4, queries: 1, window: 2 },
  // Above tfjs-webgpu's CPU hand-off size (1000 elements per input), where its tensor ops run on the GPU.
  { name: "1030 tokens, padded, windowed", keyValid: [row(1030, 5)], past: 0, queries: 1030, window: 700 },
];

/** The device mask with the fused kernels on or off, and the kernels that built it. */
async function deviceMask(c: (typeof cases)[number], fused: boolean): Promise<{ values: Float32Array; shape: number[]; kernels: string[] }> {
  const saved = process.env.LMPROBE_WEBGPU_FUSED;
  if (fused) delete process.env.LMPROBE_WEBGPU_FUSED;
  else process.env.LMPROBE_WEBGPU_FUSED = "off";
  try {
    let values = new Float32Array();
    let shape: number[] = [];
    const info = await tf.profile(async () => {
      const mask = attentionMaskOnDevice(c.keyValid, c.past, c.queries, c.window);
      values = (await mask.data()) as Float32Array;
      shape = mask.shape;
      mask.dispose();
      return [];
    });
    return { values, shape, kernels: info.kernels.map((k) => k.name) };
  } finally {
    if (saved === undefined) delete process.env.LMPROBE_WEBGPU_FUSED;
    else process.env.LMPROBE_WEBGPU_FUSED = saved;
  }
}

for (const c of cases) {
  test(`the on-device attention mask equals the host one: ${c.name}`, async () => {
    const backend = await ensureBackend();
    const before = tf.memory().numTensors;
    const host = attentionMask(c.keyValid, c.past, c.queries, c.window);
    const h = (await host.data()) as Float32Array;
    for (const fused of [true, false]) {
      const device = await deviceMask(c, fused);
      assert.deepEqual(device.shape, host.shape);
      // Element by element (a deepEqual of a million-element array reports nothing useful when it fails).
      let first = -1;
      for (let i = 0; i < h.length && first < 0; i++) if (!Object.is(device.values[i], h[i])) first = i;
      assert.equal(first, -1, `fused=${fused}: element ${first} is ${device.values[first]}, the host mask has ${h[first]}`);
      // Both kinds of element occur, so an all-0 or all-MASKED mask would fail.
      assert.ok(device.values.includes(MASKED) && device.values.includes(0));
      // webgpu builds it in one dispatch unless the fused kernels are off; other backends compose tensor ops.
      const oneDispatch = backend === "webgpu" && fused;
      assert.equal(device.kernels.includes("LmprobeAttentionMask"), oneDispatch, `fused=${fused} on ${backend}: ${device.kernels.join(", ")}`);
      if (oneDispatch) assert.ok(!device.kernels.includes("Sub"), "no index arithmetic beside the one dispatch");
    }
    host.dispose();
    assert.equal(tf.memory().numTensors, before);
  });
}

test("while a gradient is taken, the mask is still built in one dispatch and the gradient is the host mask's", async () => {
  const backend = await ensureBackend();
  ensureTfjsGradients();
  const keyValid = [row(9, 2)];
  const scores = tf.randomNormal([1, 2, 9, 9], 0, 1, "float32", 3);
  // The gradient of a masked softmax with respect to the scores: the mask is a constant on the way.
  const gradWith = (mask: () => tf.Tensor4D) =>
    withDifferentiableOps(() => tf.grad((s: tf.Tensor) => tf.sum(tf.mul(tf.softmax(tf.add(s, mask())), tf.range(0, 9, 1, "float32"))))(scores));
  let names: string[] = [];
  let device = new Float32Array();
  const info = await tf.profile(async () => {
    const g = gradWith(() => attentionMaskOnDevice(keyValid, 0, 9, 4));
    device = (await g.data()) as Float32Array;
    g.dispose();
    return [];
  });
  names = info.kernels.map((k) => k.name);
  const h = gradWith(() => attentionMask(keyValid, 0, 9, 4));
  const host = (await h.data()) as Float32Array;
  tf.dispose([h, scores]);
  let worst = 0;
  for (let i = 0; i < host.length; i++) worst = Math.max(worst, Math.abs(device[i] - host[i]));
  assert.ok(worst < 1e-6, `max |device − host| gradient = ${worst}; device ${device.slice(0, 12)}; host ${host.slice(0, 12)}`);
  assert.equal(names.includes("LmprobeAttentionMask"), backend === "webgpu", names.join(", "));
});
