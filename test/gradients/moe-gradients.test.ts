// Gradients through mixtures of experts: the routing weights (top-k of the router's softmax, or a softmax of the
// top-k logits for gpt-oss) carry the gradient back to the router. Checked against float32 central differences of
// the engine itself along the gradient's direction (h = 1e-2; measured agreement ~1e-4 relative on wasm, and a
// gradient that treated the weights as constants was 5% off on the Mixtral fixture).
import { test } from "node:test";
import assert from "node:assert/strict";
import path from "node:path";
import * as tf from "@tensorflow/tfjs-core";
import { loadModel } from "../../src/load";
import { gradientCache } from "../../src/model/gradients";
import { logitDiffMetric } from "../../src/probe/gradient-metrics";

const FIXTURES: Record<string, string> = {
  mixtral: path.resolve(__dirname, "../fixtures/tiny/mixtral"),
  qwen3_moe: path.resolve(__dirname, "../fixtures/tiny/qwen3_moe"),
  gpt_oss: path.resolve(__dirname, "../fixtures/generated/gpt_oss"),
};

for (const [name, dir] of Object.entries(FIXTURES)) {
  test(`${name}: the gradient at the router logits and before the MoE block matches central differences`, async () => {
    const m = await loadModel(dir, { backend: (process.env.LMPROBE_BACKEND as "wasm" | "cpu") ?? "wasm" });
    const ids = [3, 5, 7, 9, 11];
    const metric = logitDiffMetric(m, 5, 11);
    const before = tf.memory().numTensors;
    for (const hook of ["blocks.0.hook_resid_mid", "blocks.0.mlp.hook_router_logits"]) {
      const r = await gradientCache(m, ids, { metric, names: [hook] });
      const g = r.gradients.get(hook);
      const norm = tf.tidy(() => tf.norm(g).dataSync()[0]);
      const u = tf.div(g, norm);
      const f = (h: number) => {
        const run = m.runWithHooks(ids, { [hook]: (x) => tf.add(x, tf.mul(u, h)) });
        const v = tf.tidy(() => metric(run.logits).dataSync()[0]);
        run.dispose();
        return v;
      };
      const h = 1e-2;
      const fd = (f(h) - f(-h)) / (2 * h);
      assert.ok(norm > 1e-4, `${hook}: gradient is zero`);
      assert.ok(Math.abs(fd - norm) < 2e-3 * norm, `${hook}: autograd |∇| ${norm}, central difference along it ${fd}`);
      u.dispose();
      r.dispose();
    }
    assert.equal(tf.memory().numTensors, before, "tensors leaked");
    m.dispose();
  });
}
