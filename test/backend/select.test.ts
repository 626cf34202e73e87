import { test } from "node:test";
import assert from "node:assert/strict";
import { selectBackend, checkBackendName } from "../../src/backend/select";
import type { BackendCandidate, BackendName, ProbeResult } from "../../src/backend/types";
import { ArgumentError, BackendUnavailableError } from "../../src/errors";

/** A fake candidate that records whether it was probed and activated. */
function fake(name: BackendName, probe: ProbeResult | Error, activateError?: Error) {
  const log = { probed: 0, activated: 0 };
  const candidate: BackendCandidate = {
    name,
    probe: async () => {
      log.probed++;
      if (probe instanceof Error) throw probe;
      return probe;
    },
    activate: async () => {
      log.activated++;
      if (activateError) throw activateError;
    },
  };
  return { candidate, log };
}

const yes = (reason = "found"): ProbeResult => ({ available: true, reason });
const no = (reason: string): ProbeResult => ({ available: false, reason });

test("auto picks the first available backend in order and skips probing the rest", async () => {
  const tfn = fake("tensorflow", no("@tensorflow/tfjs-node is not installed"));
  const gpu = fake("webgpu", yes("adapter NVIDIA H100"));
  const wasm = fake("wasm", yes());
  const cpu = fake("cpu", yes());
  // Candidates given out of order: the rule, not the array, decides.
  const report = await selectBackend([cpu.candidate, wasm.candidate, gpu.candidate, tfn.candidate]);
  assert.equal(report.chosen, "webgpu");
  assert.equal(report.via, "auto");
  assert.deepEqual(report.candidates.map((c) => [c.name, c.status]), [
    ["tensorflow", "unavailable"],
    ["webgpu", "chosen"],
    ["wasm", "skipped"],
    ["cpu", "skipped"],
  ]);
  assert.match(report.candidates[0].reason, /not installed/);
  assert.equal(wasm.log.probed, 0);
  assert.equal(gpu.log.activated, 1);
  assert.equal(wasm.log.activated, 0);
});

test("a backend that is found but fails to start falls through to the next, with the failure reported", async () => {
  const gpu = fake("webgpu", yes(), new Error("device lost\nstack"));
  const wasm = fake("wasm", yes());
  const report = await selectBackend([gpu.candidate, wasm.candidate, fake("cpu", yes()).candidate]);
  assert.equal(report.chosen, "wasm");
  const webgpu = report.candidates.find((c) => c.name === "webgpu")!;
  assert.equal(webgpu.status, "failed");
  assert.match(webgpu.reason, /failed to start: device lost$/);
});

test("a probe that throws counts as unavailable, not as a crash", async () => {
  const report = await selectBackend([fake("webgpu", new Error("dawn exploded")).candidate, fake("cpu", yes()).candidate]);
  assert.equal(report.chosen, "cpu");
  assert.match(report.candidates[0].reason, /probe failed: dawn exploded/);
});

test("probeAll (doctor) probes every candidate and says why the lower ones were not chosen", async () => {
  const wasm = fake("wasm", yes("tfjs-backend-wasm"));
  const cpu = fake("cpu", yes("always"));
  const report = await selectBackend([wasm.candidate, cpu.candidate, fake("webgpu", no("no adapter")).candidate], { probeAll: true });
  assert.equal(report.chosen, "wasm");
  assert.equal(cpu.log.probed, 1);
  assert.equal(cpu.log.activated, 0);
  const c = report.candidates.find((r) => r.name === "cpu")!;
  assert.equal(c.status, "available");
  assert.match(c.reason, /wasm ranks higher/);
});

test("a backend requested by name is used with no fallback, and its absence is a typed error naming the reason", async () => {
  const gpu = fake("webgpu", no("libvulkan.so.1 (the Vulkan loader) is missing"));
  const wasm = fake("wasm", yes());
  await assert.rejects(
    selectBackend([gpu.candidate, wasm.candidate], { requested: "webgpu", via: "LMPROBE_BACKEND" }),
    (err: unknown) => err instanceof BackendUnavailableError && /webgpu/.test(err.message) && /libvulkan/.test(err.message),
  );
  assert.equal(wasm.log.activated, 0, "no silent fallback to wasm");

  const report = await selectBackend([fake("tensorflow", yes()).candidate, wasm.candidate], { requested: "wasm", via: "LMPROBE_BACKEND" });
  assert.equal(report.chosen, "wasm");
  assert.equal(report.via, "LMPROBE_BACKEND");
  assert.equal(report.candidates.find((c) => c.name === "tensorflow")!.status, "skipped");

  const failing = fake("webgpu", yes(), new Error("requestDevice failed"));
  await assert.rejects(selectBackend([failing.candidate, wasm.candidate], { requested: "webgpu" }), /failed to start: requestDevice failed/);
});

test("a software adapter is not chosen automatically but is usable when asked for by name", async () => {
  const soft: ProbeResult = { available: false, usableOnRequest: true, reason: "only a software adapter (llvmpipe)" };
  const auto = await selectBackend([fake("webgpu", soft).candidate, fake("wasm", yes()).candidate]);
  assert.equal(auto.chosen, "wasm");
  const asked = await selectBackend([fake("webgpu", soft).candidate, fake("wasm", yes()).candidate], { requested: "webgpu" });
  assert.equal(asked.chosen, "webgpu");
});

test("no working backend at all is an error listing every reason", async () => {
  await assert.rejects(selectBackend([fake("wasm", no("wasm binary missing")).candidate, fake("cpu", yes(), new Error("broken")).candidate]), (err: unknown) => {
    return err instanceof BackendUnavailableError && /wasm binary missing/.test(err.message) && /broken/.test(err.message);
  });
});

test("backend names are checked", () => {
  assert.equal(checkBackendName("webgpu", "LMPROBE_BACKEND"), "webgpu");
  assert.throws(() => checkBackendName("cuda", "LMPROBE_BACKEND"), (err: unknown) => err instanceof ArgumentError && /LMPROBE_BACKEND/.test(err.message) && /"webgpu"/.test(err.message));
});
