import { test } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { run, formatReport, settingsLine } from "../../src/cli/doctor";
import { BACKEND_ORDER } from "../../src/backend/types";
import { ArgumentError } from "../../src/errors";

async function capture(fn: () => Promise<number>): Promise<{ code: number; out: string }> {
  const lines: string[] = [];
  const log = console.log;
  console.log = (...a: unknown[]) => lines.push(a.join(" "));
  try {
    return { code: await fn(), out: lines.join("\n") };
  } finally {
    console.log = log;
  }
}

test("doctor --json on this machine: the chosen backend is the first usable one in order and is active", async () => {
  const { code, out } = await capture(() => run(["--json"]));
  assert.equal(code, 0);
  const report = JSON.parse(out);
  assert.deepEqual(report.candidates.map((c: { name: string }) => c.name), [...BACKEND_ORDER]);
  const chosenAt = BACKEND_ORDER.indexOf(report.chosen);
  report.candidates.forEach((c: { name: string; status: string; reason: string }, i: number) => {
    assert.ok(c.reason.length > 0, `${c.name} has a reason`);
    if (i < chosenAt) assert.ok(["unavailable", "failed"].includes(c.status), `${c.name} ranks higher, so it must have been unusable: ${c.status}`);
    if (i === chosenAt) assert.equal(c.status, "chosen");
    if (i > chosenAt) assert.ok(["available", "unavailable"].includes(c.status), `${c.name} was probed: ${c.status}`);
  });
  assert.equal(tf.getBackend(), report.chosen);
  // tfjs-node cannot be installed here: when it is absent the report must say so, not just "unavailable".
  let hasTfjsNode = true;
  try {
    require.resolve("@tensorflow/tfjs-node");
  } catch {
    hasTfjsNode = false;
  }
  if (!hasTfjsNode) assert.match(report.candidates[0].reason, /@tensorflow\/tfjs-node is not installed/);
  assert.equal(report.candidates.at(-1).name, "cpu");
  assert.notEqual(report.candidates.at(-1).status, "unavailable");
});

test("doctor's text report marks the chosen backend and prints every reason and the override", async () => {
  const { out } = await capture(() => run([]));
  const text = formatReport({
    chosen: "wasm",
    via: "auto",
    candidates: [
      { name: "tensorflow", status: "unavailable", available: false, reason: "@tensorflow/tfjs-node is not installed" },
      { name: "webgpu", status: "unavailable", available: false, reason: "no WebGPU adapter", detail: { features: [] } },
      { name: "wasm", status: "chosen", available: true, reason: "wasm ok" },
      { name: "cpu", status: "available", available: true, reason: "always" },
    ],
  });
  assert.match(text, /^backend: wasm \(chosen automatically\)/);
  assert.match(text, /^\* wasm\s+chosen\s+wasm ok$/m);
  assert.match(text, /^- webgpu\s+unavailable\s+no WebGPU adapter$/m);
  assert.match(text, /features: \(none\)/);
  assert.match(text, /npm install @tensorflow\/tfjs-node/);
  assert.match(out, /LMPROBE_BACKEND=/);
  assert.match(out, new RegExp(`^backend: ${tf.getBackend()} `));
});

test("doctor rejects unknown options with the usage", async () => {
  await assert.rejects(run(["--jsn"]), (err: unknown) => err instanceof ArgumentError && /--jsn/.test(err.message) && /usage: lmprobe doctor/.test(err.message));
});

test("doctor --model reports a GGUF's float32 and quantised sizes and how it would load, without reading weights", async () => {
  const { hfToGguf } = await import("../tools/gguf-from-hf");
  const fs = await import("node:fs");
  const os = await import("node:os");
  const path = await import("node:path");
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "lmprobe-doctor-"));
  const file = hfToGguf(path.join(__dirname, "../fixtures/tiny/llama"), path.join(dir, "tiny.Q8_0.gguf"), { type: "Q8_0" });
  const lines: string[] = [];
  const log = console.log;
  console.log = (s: string) => lines.push(s);
  try {
    assert.equal(await run(["--json", "--model", file]), 0);
  } finally {
    console.log = log;
    fs.rmSync(dir, { recursive: true, force: true });
  }
  const model = JSON.parse(lines.join("\n")).model;
  assert.equal(model.modelType, "llama");
  assert.ok(model.tensorTypes.Q8_0 > 0 && model.tensorTypes.F32 > 0);
  assert.ok(model.quantisedBytes < model.float32Bytes / 2, JSON.stringify(model));
  assert.match(model.plan, /loaded whole/);
  await assert.rejects(run(["--model"]), (err: unknown) => err instanceof ArgumentError && /--model/.test(err.message));
});

test("doctor says which CPU path is active, with its threads, or why it fell back to wasm", () => {
  const base = [
    { name: "tensorflow" as const, status: "unavailable" as const, available: false, reason: "@tensorflow/tfjs-node is not installed" },
    { name: "webgpu" as const, status: "unavailable" as const, available: false, reason: "no WebGPU adapter" },
  ];
  const native = formatReport({
    chosen: "cpu-native",
    via: "auto",
    candidates: [...base, { name: "cpu-native", status: "chosen", available: true, reason: "onnxruntime-node 1.30.0 CPU provider (MLAS), 8 intra-op threads (os.availableParallelism())", detail: { threads: 8 } }],
  });
  assert.match(native, /^cpu path: cpu-native, onnxruntime-node 1\.30\.0 CPU provider \(MLAS\), 8 intra-op threads/m);
  assert.match(native, /LMPROBE_BACKEND=<tensorflow\|webgpu\|cpu-native\|wasm\|cpu>/);
  const fallback = formatReport({
    chosen: "wasm",
    via: "auto",
    candidates: [
      ...base,
      { name: "cpu-native", status: "unavailable", available: false, reason: "onnxruntime-node 1.31.0 is installed; lmprobe … 1.30.0 only: npm ci", detail: { threads: 4 } },
      { name: "wasm", status: "chosen", available: true, reason: "wasm ok" },
    ],
  });
  assert.match(fallback, /^cpu path: wasm, one thread and a 4 GiB heap, because the native path is unavailable: onnxruntime-node 1\.31\.0 is installed.*\(it would use 4 threads\)$/m);
});

test("on this machine the native CPU path loads (onnxruntime-node is a pinned dependency) and doctor reports its threads", async () => {
  const { out } = await capture(() => run(["--json"]));
  const native = JSON.parse(out).candidates.find((c: { name: string }) => c.name === "cpu-native");
  assert.ok(native.available, native.reason);
  assert.equal(native.detail.onnxruntime, require("../../package.json").dependencies["onnxruntime-node"]);
  assert.ok(Number.isInteger(native.detail.threads) && native.detail.threads >= 1);
});

test("doctor names every LMPROBE_* setting of the process, sorted, or says there are none", () => {
  assert.equal(settingsLine({ PATH: "/bin" }), "settings: lmprobe's defaults (no LMPROBE_* variable set)");
  assert.equal(
    settingsLine({ LMPROBE_WEBGPU_CAUSAL_SKIP: "off", HOME: "/h", LMPROBE_MATRIX_UNITS: "on" }),
    "settings: LMPROBE_MATRIX_UNITS=on LMPROBE_WEBGPU_CAUSAL_SKIP=off",
  );
});
