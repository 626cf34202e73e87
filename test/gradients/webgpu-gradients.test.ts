// Gradients on the WebGPU path (Dawn on Mesa's software rasteriser, as test/backend/webgpu-software.test.ts runs
// it): lmprobe's fused kernels have no gradients, so in gradient mode they must decline and the composed ops run
// (else tfjs stops with "gradient function not found"). The gradients must equal those of the wasm backend
// (measured: within 2.4e-6 of the largest entry), read asynchronously, with no tensor left behind.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import path from "node:path";
import { test } from "node:test";
import { gradientCache } from "../../src/model/gradients";
import { logitDiffMetric } from "../../src/probe/gradient-metrics";
import { model } from "./helpers";

const root = path.resolve(__dirname, "../..");
const NAMES = ["resid_pre", "z", "hook_embed"];

test("webgpu (software adapter): the gradient cache equals the wasm backend's", { skip: process.platform !== "linux" && "needs Linux with Mesa" }, async () => {
  const script = `
    const { loadModel, gradientCache, logitDiffMetric } = require("./src/index.ts");
    const tf = require("@tensorflow/tfjs-core");
    (async () => {
      const model = await loadModel("demo", { backend: "webgpu" });
      const before = tf.memory().numTensors;
      const r = await gradientCache(model, "The capital of Japan is", { metric: logitDiffMetric(model, " Paris", " Tokyo"), names: ${JSON.stringify(NAMES)} });
      const out = { backend: tf.getBackend(), value: r.value, gradients: {} };
      for (const n of r.gradients.names()) out.gradients[n] = Array.from(await r.gradients.get(n).data());
      r.dispose();
      out.leaked = tf.memory().numTensors - before;
      console.log("RESULT " + JSON.stringify(out));
    })().catch((e) => { console.error(e); process.exit(1); });`;
  const env: NodeJS.ProcessEnv = { ...process.env, EGL_PLATFORM: "surfaceless", LMPROBE_DAWN_OPTIONS: "backend=opengl" };
  delete env.NODE_TEST_CONTEXT;
  const child = spawnSync(process.execPath, ["--import", "tsx", "-e", script], { cwd: root, env, encoding: "utf8", timeout: 300_000 });
  const output = `${child.stdout}\n${child.stderr}`;
  assert.equal(child.status, 0, output.slice(-4000));
  const gpu = JSON.parse(/RESULT (.*)/.exec(output)![1]) as { backend: string; value: number; gradients: Record<string, number[]>; leaked: number };
  assert.equal(gpu.backend, "webgpu");
  assert.equal(gpu.leaked, 0);

  const m = await model();
  const cpu = await gradientCache(m, "The capital of Japan is", { metric: logitDiffMetric(m, " Paris", " Tokyo"), names: NAMES });
  assert.ok(Math.abs(gpu.value - cpu.value) < 1e-4, `metric ${gpu.value} vs ${cpu.value}`);
  assert.deepEqual(Object.keys(gpu.gradients).sort(), cpu.gradients.names().sort());
  for (const name of cpu.gradients.names()) {
    const expected = cpu.gradients.get(name).dataSync();
    const actual = gpu.gradients[name];
    const scale = Math.max(...Array.from(expected, Math.abs));
    const worst = Math.max(...actual.map((v, i) => Math.abs(v - expected[i])));
    assert.ok(worst < 1e-4 * scale, `${name}: webgpu vs wasm ${worst} (max |∇| ${scale})`);
  }
  cpu.dispose();
});
