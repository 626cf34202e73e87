// tf.softmax on webgpu (lmprobe's kernel in place of tfjs-webgpu's): the float64 softmax on rows of every width
// (one thread's share, several, more than the fused attention kernel takes), rows of nothing but the float32
// minimum uniform as in PyTorch (tfjs-webgpu's kernel gave NaN there), and a left-padded batch whose composed
// attention path (hook_attn_scores observed) gives the fused path's logits instead of NaN everywhere.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { MASKED } from "../../src/model/components/masks";
import { ensureTfjsGradients } from "../../src/backend/tfjs-gradients";
import { webgpuOrSkip } from "./webgpu-helpers";
import { rng } from "../tensor/reference";

/** Softmax of one row in float64. */
function softmax64(row: number[]): number[] {
  const m = Math.max(...row);
  const e = row.map((v) => Math.exp(v - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / s);
}

test("softmax on webgpu: the float64 values at every width, uniform rows where every entry is the float32 minimum", async (t) => {
  if (!(await webgpuOrSkip(t))) return;
  const r = rng(7);
  for (const shape of [[5], [3, 7], [2, 3, 300], [1, 2, 2, 9000]]) {
    const width = shape[shape.length - 1];
    const rows = shape.reduce((a, b) => a * b, 1) / width;
    const data = Array.from({ length: rows }, () => Array.from({ length: width }, () => (r() - 0.5) * 16));
    if (rows > 1) data[1] = data[1].map(() => MASKED); // a fully masked row
    data[0][0] = MASKED; // one masked entry in an ordinary row
    const x = tf.tensor(data.flat(), shape);
    const y = tf.softmax(x);
    const got = (await y.data()) as Float32Array;
    tf.dispose([x, y]);
    const want = data.map(softmax64).flat();
    let worst = 0;
    for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got[i] - want[i]));
    assert.ok(worst < 2e-6, `[${shape}]: max |webgpu − float64| = ${worst}`);
    if (rows > 1) assert.ok(got.slice(width, 2 * width).every((v) => Math.abs(v - 1 / width) < 1e-6), `[${shape}]: the fully masked row is uniform`);
  }
});

test("softmax on webgpu keeps tfjs's gradient, finite through a fully masked row", async (t) => {
  if (!(await webgpuOrSkip(t))) return;
  ensureTfjsGradients();
  const x = tf.tensor2d([[0.5, -1, 2], [MASKED, MASKED, MASKED]]);
  const w = tf.tensor2d([[1, 2, 3], [1, 2, 3]]);
  const g = tf.grad((v: tf.Tensor) => tf.sum(tf.mul(tf.softmax(v), w)))(x);
  const got = Array.from(await g.data());
  tf.dispose([x, w, g]);
  // d/dx_i Σ_j w_j p_j = p_i (w_i − Σ_j w_j p_j): for a uniform row, (w_i − 2) / 3.
  const p = softmax64([0.5, -1, 2]);
  const mean = p.reduce((a, v, j) => a + v * (j + 1), 0);
  const want = [...p.map((v, i) => v * (i + 1 - mean)), -1 / 3, 0, 1 / 3];
  got.forEach((v, i) => assert.ok(Math.abs(v - want[i]) < 1e-5, `gradient ${i}: ${v}, want ${want[i]}`));
});

test("a left-padded batch through the composed attention path gives the fused path's logits on webgpu", async (t) => {
  if (!(await webgpuOrSkip(t))) return;
  const { loadModel } = await import("../../src/load");
  const model = await loadModel("demo", { backend: "webgpu" });
  try {
    const prompts = ["The capital of France is", "Hi"];
    const logitsWith = async (cache: (name: string) => boolean) => {
      const run = model.run(prompts, { cache });
      const values = Array.from(await run.logits.data());
      run.dispose();
      return values;
    };
    const fused = await logitsWith(() => false);
    // Observing the scores makes every layer compose scale, mask and tf.softmax.
    const composed = await logitsWith((name) => name.endsWith("hook_attn_scores"));
    assert.ok(composed.every(Number.isFinite), `${composed.filter((v) => !Number.isFinite(v)).length} of ${composed.length} logits not finite`);
    let worst = 0;
    for (let i = 0; i < fused.length; i++) worst = Math.max(worst, Math.abs(fused[i] - composed[i]));
    assert.ok(worst < 1e-3, `max |composed − fused| = ${worst}`);
  } finally {
    model.dispose();
  }
});
