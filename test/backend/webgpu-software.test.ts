// The WebGPU path, run where no GPU is: Dawn's OpenGL backend on Mesa's software rasteriser (llvmpipe, from
// Debian's libegl-mesa0 and libgl1-mesa-dri, which scripts/system-deps.sh installs). lmprobe never picks a
// software adapter by itself; these runs ask for it, so that every WGSL kernel, the lean dispatch and the
// fused engine paths are exercised here and in CI, not only on a machine with a GPU. Each run is a child
// process, since a tfjs backend, once chosen, is the process's.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import path from "node:path";
import { test } from "node:test";

const root = path.resolve(__dirname, "../..");
const softwareGpu = {
  ...process.env,
  EGL_PLATFORM: "surfaceless",
  LMPROBE_DAWN_OPTIONS: "backend=opengl",
};

delete softwareGpu.NODE_TEST_CONTEXT; // else the child's test runner takes itself for a nested one and runs nothing

function run(args: string[]): { status: number | null; output: string } {
  const r = spawnSync(process.execPath, args, { cwd: root, env: softwareGpu, encoding: "utf8", timeout: 300_000 });
  return { status: r.status, output: `${r.stdout}\n${r.stderr}` };
}

const linux = process.platform === "linux";

test("the WebGPU kernel and engine tests pass on a software adapter", { skip: !linux && "needs Linux with Mesa" }, () => {
  const files = (JSON.parse(readFileSync(path.join(__dirname, "webgpu-in-process.json"), "utf8")) as { files: string[] }).files
    .map((f) => path.join("test/backend", `${f}.test.ts`));
  const r = run(["--import", "tsx", "--test", "--test-reporter=spec", ...files]);
  assert.equal(r.status, 0, r.output.slice(-4000));
  assert.match(r.output, /ℹ skipped 0/, `a WebGPU test skipped: no software adapter?\n${r.output.slice(-3000)}`);
  assert.match(r.output, /ℹ fail 0/);
});

test("lmprobe verify passes on every fixture with the webgpu backend on a software adapter", { skip: !linux && "needs Linux with Mesa" }, () => {
  const r = run(["--import", "tsx", "bench/verify-all.mjs", "--backend", "webgpu", "--src"]);
  assert.equal(r.status, 0, r.output.slice(-4000));
  assert.match(r.output, /(\d+)\/\1 fixtures pass on webgpu/);
});

test("the public probes run on webgpu (asynchronous reads only) and find the demo's answer", { skip: !linux && "needs Linux with Mesa" }, () => {
  // Node cannot read a GPU tensor synchronously: any dataSync() on the probes' path would throw here.
  const script = `
    const { loadModel, fullProbe, logitLens, layerSimilarity } = require("./src/index.ts");
    (async () => {
      const model = await loadModel("demo", { backend: "webgpu" });
      await fullProbe(model, "The capital of France is");
      await layerSimilarity(model, "The capital of France is");
      const lens = await logitLens(model, "The capital of France is", { k: 10, positions: "last" });
      const top = lens.table.objects().filter((r) => r.layer === model.config.numLayers && r.rank === 1)[0];
      console.log("RESULT " + JSON.stringify({ backend: require("@tensorflow/tfjs-core").getBackend(), top: top.token, prob: top.prob }));
    })().catch((e) => { console.error(e); process.exit(1); });`;
  const r = run(["--import", "tsx", "-e", script]);
  assert.equal(r.status, 0, r.output.slice(-4000));
  const result = JSON.parse(/RESULT (.*)/.exec(r.output)![1]);
  assert.equal(result.backend, "webgpu");
  assert.equal(result.top, " Paris");
  assert.ok(result.prob > 0.99, `p(" Paris") = ${result.prob}`);
});
