// The engine on webgpu with lmprobe's fused kernels against the same engine with them switched off
// (LMPROBE_WEBGPU_FUSED=off composes the tfjs ops): same logits and activations, fewer dispatches, and hooks on
// the intermediates a fused kernel skips still see them. On a WebGPU adapter only (elsewhere skipped).
import { test } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { probeWebgpu } from "../../src/backend/probe-webgpu";
import { setBackend } from "../../src/backend";
import { loadModel } from "../../src/load";

async function run(model: Awaited<ReturnType<typeof loadModel>>, ids: number[], fused: boolean, cache: string[]) {
  process.env.LMPROBE_WEBGPU_FUSED = fused ? "on" : "off";
  try {
    let names: string[] = [];
    let values: Record<string, Float32Array> = {};
    const info = await tf.profile(async () => {
      const r = model.run([ids], { cache });
      values = { logits: (await r.logits.data()) as Float32Array };
      for (const name of cache) values[name] = (await r.cache.get(name).data()) as Float32Array;
      r.dispose();
      return [];
    });
    names = info.kernels.map((k) => k.name);
    return { values, names };
  } finally {
    delete process.env.LMPROBE_WEBGPU_FUSED;
  }
}

function maxDiff(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

test("the demo model gives the same numbers with the fused webgpu kernels as with composed ops, in fewer dispatches", async (t) => {
  const probe = await probeWebgpu();
  if (!probe.available && !probe.usableOnRequest) return t.skip(`no WebGPU adapter here: ${probe.reason}`);
  await setBackend("webgpu");
  const model = await loadModel("demo");
  try {
    const ids = Array.from({ length: 24 }, (_, i) => 3 + ((i * 53) % 900));
    const before = tf.memory().numTensors;
    const plain = ["blocks.1.hook_resid_post", "blocks.2.attn.hook_pattern", "blocks.3.mlp.hook_post", "ln_final.hook_normalized"];
    const a = await run(model, ids, true, plain);
    const b = await run(model, ids, false, plain);
    // The order of a row's sums and the GPU's fused multiply-adds differ: agreement to ~1e-5 relative (verify allows 1e-4).
    for (const key of Object.keys(b.values)) assert.ok(maxDiff(a.values[key], b.values[key]) < 1e-4, `${key}: fused and composed differ by ${maxDiff(a.values[key], b.values[key])}`);
    // Block 2's pattern is observed: its attention runs as q·kᵀ, the fused softmax and pattern · v; the other
    // blocks' as one flash kernel (LmprobeAttention).
    for (const kernel of ["LmprobeNorm", "LmprobeScoresSoftmax", "LmprobeAttention", "LmprobeActivation", "LmprobeRotaryHalf"]) {
      assert.ok(a.names.includes(kernel), `${kernel} runs in the fused forward`);
      assert.ok(!b.names.includes(kernel), `${kernel} is off with LMPROBE_WEBGPU_FUSED=off`);
    }
    const dispatches = (names: string[]) => names.filter((n) => n !== "Reshape").length;
    assert.ok(dispatches(a.names) < 0.7 * dispatches(b.names), `dispatches: ${dispatches(a.names)} fused vs ${dispatches(b.names)} composed`);
    // Caching hook_attn_scores needs the scores, so that block's attention runs composed and the cache holds them.
    const withScores = await run(model, ids, true, ["blocks.0.attn.hook_attn_scores", "blocks.0.attn.hook_pattern"]);
    const ref = await run(model, ids, false, ["blocks.0.attn.hook_attn_scores", "blocks.0.attn.hook_pattern"]);
    assert.ok(maxDiff(withScores.values["blocks.0.attn.hook_attn_scores"], ref.values["blocks.0.attn.hook_attn_scores"]) < 1e-5);
    assert.ok(!withScores.names.includes("LmprobeScoresSoftmax"), "the observed block composed");
    assert.ok(withScores.names.filter((n) => n === "LmprobeAttention").length === model.config.numLayers - 1, "one block composed, the rest fused");
    assert.equal(tf.memory().numTensors, before);
  } finally {
    model.dispose();
  }
});
