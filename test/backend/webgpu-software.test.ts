// The WebGPU path, run where no GPU is: Dawn's OpenGL backend on Mesa's software rasteriser (llvmpipe, from
// Debian's libegl-mesa0 and libgl1-mesa-dri, which scripts/system-deps.sh installs). lmprobe never picks a
// software adapter by itself; these runs ask for it, so that every WGSL kernel, the lean dispatch and the
// fused engine paths are exercised here and in CI, not only on a machine with a GPU. Each run is a child
// process, since a tfjs backend, once chosen, is the process's.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { test } from "node:test";
import { runInGroup } from "../../scripts/process-group.mjs";

const root = path.resolve(__dirname, "../..");
const softwareGpu = {
  ...process.env,
  EGL_PLATFORM: "surfaceless",
  LMPROBE_DAWN_OPTIONS: "backend=opengl",
};

delete softwareGpu.NODE_TEST_CONTEXT; // else the child's test runner takes itself for a nested one and runs nothing

// Mesa compiles each WGSL kernel with LLVM on first use, and CI starts with no shader cache: there the kernel files
// take ~4 minutes of compiling on two cores (~40 s once Mesa's cache at ~/.cache/mesa_shader_cache is warm). The
// limit leaves room for that beside the rest of the suite; past it the group's processes are named and killed.
const LIMIT_MS = 900_000;

async function run(args: string[], label: string): Promise<{ status: number | null; output: string }> {
  const r = await runInGroup(process.execPath, args, { cwd: root, env: softwareGpu, timeoutMs: LIMIT_MS, capture: true, label });
  return { status: r.timedOut ? null : r.status, output: r.timedOut ? `${label}: killed after ${LIMIT_MS / 1000} s\n${r.output}` : r.output };
}

const linux = process.platform === "linux";

test("the WebGPU kernel and engine tests pass on a software adapter", { skip: !linux && "needs Linux with Mesa" }, async () => {
  const files = (JSON.parse(readFileSync(path.join(__dirname, "webgpu-in-process.json"), "utf8")) as { files: string[] }).files
    .map((f) => path.join("test/backend", `${f}.test.ts`));
  // Two files at a time: compiling is most of the time here and runs on one core per process.
  const r = await run(["--import", "tsx", "--test", "--test-reporter=spec", "--test-concurrency=2", ...files], "the WebGPU kernel tests");
  assert.equal(r.status, 0, r.output.slice(-4000));
  assert.match(r.output, /ℹ skipped 0/, `a WebGPU test skipped: no software adapter?\n${r.output.slice(-3000)}`);
  assert.match(r.output, /ℹ fail 0/);
});

test("lmprobe verify passes on every fixture with the webgpu backend on a software adapter", { skip: !linux && "needs Linux with Mesa" }, async () => {
  const r = await run(["--import", "tsx", "bench/verify-all.mjs", "--backend", "webgpu", "--src"], "verify on webgpu");
  assert.equal(r.status, 0, r.output.slice(-4000));
  assert.match(r.output, /(\d+)\/\1 fixtures pass on webgpu/);
});

test("the public probes run on webgpu (asynchronous reads only) and find the demo's answer", { skip: !linux && "needs Linux with Mesa" }, async () => {
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
  const r = await run(["--import", "tsx", "-e", script], "the public probes on webgpu");
  assert.equal(r.status, 0, r.output.slice(-4000));
  const result = JSON.parse(/RESULT (.*)/.exec(r.output)![1]);
  assert.equal(result.backend, "webgpu");
  assert.equal(result.top, " Paris");
  assert.ok(result.prob > 0.99, `p(" Paris") = ${result.prob}`);
});
