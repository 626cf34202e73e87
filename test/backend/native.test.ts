// The native CPU backend's kernels give tfjs-backend-cpu's numbers (the reference: the same ops in JavaScript)
// on shapes that exercise transposes, batch broadcasting, bias and activation epilogues, numpy broadcasting of
// elementwise ops, and reductions over any axes; and the backend falls back to wasm when switched off.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import path from "node:path";
import { before, test } from "node:test";
import * as tf from "@tensorflow/tfjs-core";
import { setBackend } from "../../src/backend";
import { nativeElementwise } from "../../src/backend/native/elementwise";
import fs from "node:fs";
import os from "node:os";
import { endNativeProfiling, nativeProfile, nativeSessionCount, runGraph } from "../../src/backend/native/runtime";

const ROOT = path.resolve(__dirname, "../..");

/** Runs `f` on cpu and on cpu-native with the same input values and compares the results. */
async function same(label: string, shapes: number[][], f: (...xs: tf.Tensor[]) => tf.Tensor, tol = 1e-5): Promise<void> {
  let seed = 7;
  const values = shapes.map((s) => Float32Array.from({ length: tf.util.sizeFromShape(s) }, () => ((seed = (seed * 16807) % 2147483647) / 2147483647 - 0.5) * 4));
  const results: Float32Array[] = [];
  const outShapes: number[][] = [];
  for (const backend of ["cpu", "cpu-native"] as const) {
    await setBackend(backend);
    const before = tf.memory().numTensors;
    const xs = shapes.map((s, i) => tf.tensor(values[i], s));
    const y = tf.tidy(() => f(...xs));
    results.push((await y.data()) as Float32Array);
    outShapes.push(y.shape);
    tf.dispose([...xs, y]);
    assert.equal(tf.memory().numTensors, before, `${label} on ${backend} leaves no tensors`);
  }
  assert.deepEqual(outShapes[1], outShapes[0], `${label}: shape`);
  let worst = 0;
  results[0].forEach((r, i) => {
    if (Number.isNaN(r) && Number.isNaN(results[1][i])) return;
    worst = Math.max(worst, Number.isNaN(r - results[1][i]) ? Infinity : Math.abs(r - results[1][i]) / (1 + Math.abs(r)));
  });
  assert.ok(worst <= tol, `${label}: worst relative difference ${worst}`);
}

before(() => {
  nativeElementwise.minElements = 0; // every op native, however small
});

test("matmuls: transposes, batches (broadcast), fused bias and relu", async () => {
  const sessions = nativeSessionCount();
  await same("a·b", [[33, 17], [17, 29]], (a, b) => tf.matMul(a, b));
  await same("aᵀ·bᵀ", [[17, 33], [29, 17]], (a, b) => tf.matMul(a, b, true, true));
  await same("a·bᵀ batched", [[3, 5, 8], [3, 6, 8]], (a, b) => tf.matMul(a, b, false, true));
  await same("batch of one broadcast", [[1, 4, 8], [2, 3, 8, 5]], (a, b) => tf.matMul(a, b));
  await same("unequal batches (tfjs's own rule, JavaScript kernel)", [[2, 1, 4, 8], [1, 3, 8, 5]], (a, b) => tf.matMul(a, b));
  await same("fused bias relu", [[9, 16], [16, 7], [7]], (a, b, c) => tf.fused.matMul({ a, b, bias: c, activation: "relu" }));
  await same("fused bias, transposed b", [[9, 16], [7, 16], [7]], (a, b, c) => tf.fused.matMul({ a, b, bias: c, transposeB: true }));
  assert.ok(nativeSessionCount() > sessions, "the products ran on onnxruntime");
});

test("elementwise ops with broadcasting, unary ops, softmax, transpose, reductions", async () => {
  for (const [name, op] of [["add", tf.add], ["sub", tf.sub], ["mul", tf.mul], ["div", tf.div], ["maximum", tf.maximum], ["minimum", tf.minimum], ["squaredDifference", tf.squaredDifference]] as const) {
    await same(name, [[4, 1, 6], [3, 1]], (a, b) => (op as (a: tf.Tensor, b: tf.Tensor) => tf.Tensor)(a, b));
  }
  for (const [name, op] of [["exp", tf.exp], ["neg", tf.neg], ["abs", tf.abs], ["sigmoid", tf.sigmoid], ["tanh", tf.tanh], ["relu", tf.relu], ["erf", tf.erf], ["square", tf.square]] as const) {
    await same(name, [[5, 7]], (x) => (op as (x: tf.Tensor) => tf.Tensor)(x));
  }
  await same("log, sqrt, rsqrt of positives", [[5, 7]], (x) => tf.add(tf.add(tf.log(tf.abs(x)), tf.sqrt(tf.abs(x))), tf.rsqrt(tf.add(tf.abs(x), 0.5))));
  await same("softmax", [[3, 4, 50]], (x) => tf.softmax(x));
  await same("transpose", [[2, 3, 4, 5]], (x) => tf.transpose(x, [0, 2, 1, 3]));
  await same("sum axis 1 keepDims", [[4, 6, 5]], (x) => tf.sum(x, 1, true));
  await same("mean axes -1", [[4, 6, 5]], (x) => tf.mean(x, -1));
  await same("max axes [0, 2]", [[4, 6, 5]], (x) => tf.max(x, [0, 2]));
  await same("int32 add stays exact (JavaScript kernel)", [[4, 5]], (x) => tf.cast(tf.add(tf.cast(tf.mul(x, 100), "int32"), tf.scalar(3, "int32")), "float32"));
});

function doctorJson(env: Record<string, string>): { chosen: string; candidates: Array<{ name: string; status: string; reason: string; detail?: Record<string, unknown> }> } {
  const out = spawnSync(process.execPath, ["--import", "tsx", "-e", `require("./src/cli/doctor").run(["--json"])`], { cwd: ROOT, env: { ...process.env, LMPROBE_BACKEND: "", ...env }, encoding: "utf8" });
  assert.equal(out.status, 0, out.stderr);
  return JSON.parse(out.stdout);
}

test("LMPROBE_NATIVE=off falls back to wasm and doctor says why; LMPROBE_THREADS sets the threads", () => {
  const off = doctorJson({ LMPROBE_NATIVE: "off" });
  if (!off.candidates.slice(0, 2).some((c) => c.status === "chosen")) {
    assert.equal(off.chosen, "wasm");
    const native = off.candidates.find((c) => c.name === "cpu-native")!;
    assert.equal(native.status, "unavailable");
    assert.match(native.reason, /LMPROBE_NATIVE=off/);
  }
  const one = doctorJson({ LMPROBE_THREADS: "1" });
  const native = one.candidates.find((c) => c.name === "cpu-native")!;
  assert.equal(native.detail?.threads, 1);
  assert.equal(native.detail?.threadsFrom, "LMPROBE_THREADS");
  const bad = doctorJson({ LMPROBE_THREADS: "many" });
  assert.match(bad.candidates.find((c) => c.name === "cpu-native")!.reason, /LMPROBE_THREADS is "many": use a positive integer/);
});

test("topk (ties: lower index first) and step (NaN kept) match tfjs's kernels", async () => {
  await same("topk values and ids", [[6, 40]], (x) => {
    const tied = tf.round(tf.mul(x, 2)); // many equal values
    const { values, indices } = tf.topk(tied, 5);
    return tf.concat([values, tf.cast(indices, "float32")], 1);
  });
  await same("step with NaN and alpha", [[4, 9]], (x) => tf.step(tf.where(tf.greater(x, 1.5), tf.fill(x.shape, NaN), x), 0.25), 0);
});

test("fused norm, activation and scores-softmax kernels give the composed ops' numbers", async () => {
  const { applyNorm } = await import("../../src/model/components/norm");
  const { applyActivation } = await import("../../src/model/components/activations");
  const { fusedActivation, fusedScoresSoftmax } = await import("../../src/backend/capabilities");
  for (const kind of ["rms", "layer"] as const) {
    await same(`${kind} norm`, [[2, 5, 16], [16], [16]], (x, w, b) => applyNorm(x, { kind, weight: w as tf.Tensor1D, bias: kind === "layer" ? (b as tf.Tensor1D) : null, eps: 1e-5, weightOffset: kind === "rms" ? 1 : 0 }));
  }
  for (const act of ["silu", "gelu_tanh", "gelu_quick", "relu"] as const) {
    await same(`activation ${act}`, [[3, 20]], (x) => fusedActivation(x, act) ?? applyActivation(x, act));
    await same(`gated activation ${act}`, [[3, 20], [3, 20]], (x, up) => fusedActivation(x, act, up) ?? tf.mul(applyActivation(x, act), up));
  }
  await same("scores softmax with softcap", [[1, 3, 4, 6], [1, 1, 4, 6]], (s, m) => {
    const mask = tf.where(tf.greater(m, 1), tf.fill(m.shape, -1e9), tf.zerosLike(m)) as tf.Tensor4D;
    return fusedScoresSoftmax(s as tf.Tensor4D, mask, 0.125, 30) ?? tf.softmax(tf.add(tf.mul(tf.tanh(tf.div(tf.mul(s, 0.125), 30)), 30), mask));
  });
});

test("the lens's logit statistics on cpu-native equal tfjs-backend-cpu's composed path, masked (−Infinity) logits included", async () => {
  const { lensReduction } = await import("../../src/tensor/lens-reduction");
  const { nativeLogitStats } = await import("../../src/backend/native/row-kernels");
  const saved = nativeLogitStats.blockLogits;
  nativeLogitStats.blockLogits = 3 * 300; // several onnxruntime calls per kernel
  try {
    for (const masked of [false, true]) {
      await same(`lens statistics${masked ? ", masked bias" : ""}`, [[10, 8], [300, 8]], (rows, w) => {
        const bias = masked ? tf.tensor1d(Array.from({ length: 300 }, (_, i) => (i % 7 === 3 ? -Infinity : 0))) : undefined;
        const r = lensReduction(rows as tf.Tensor2D, { unembedding: { weight: w as tf.Tensor2D, layout: "vocab_d", bias: bias as tf.Tensor1D | undefined }, k: 5, targets: [3, 11] });
        return tf.concat([r.topLogits, tf.cast(r.topIds, "float32"), tf.expandDims(r.logSumExp, 1), tf.expandDims(r.entropy, 1), tf.cast(r.targetRanks, "float32")], 1);
      });
    }
  } finally {
    nativeLogitStats.blockLogits = saved;
  }
});

test("cpu-native's logit statistics match float64: finite blocks by the parallel graph, the others by the exact one", async () => {
  const { checkLogitStats } = await import("./logit-stats-check");
  const { nativeLogitStats } = await import("../../src/backend/native/row-kernels");
  const { nativeSessionKeys } = await import("../../src/backend/native/runtime");
  const saved = { ...nativeLogitStats };
  await setBackend("cpu-native");
  try {
    // One row per onnxruntime call: the finite rows take the fast graph, the rows with −Infinity or NaN fall back.
    nativeLogitStats.blockLogits = 1001;
    for (const fast of [true, false]) {
      nativeLogitStats.fast = fast;
      await checkLogitStats();
    }
    assert.ok(nativeSessionKeys().some((k) => k.startsWith("logit-stats-fast")), "the fast graph ran");
    assert.ok(nativeSessionKeys().some((k) => k.startsWith("logit-stats") && !k.startsWith("logit-stats-fast")), "the exact graph ran for the non-finite rows");
    // Whole blocks of rows: one non-finite row sends its block (here all nine rows) to the exact graph.
    nativeLogitStats.blockLogits = 2 ** 21;
    nativeLogitStats.fast = true;
    await checkLogitStats();
  } finally {
    Object.assign(nativeLogitStats, saved);
  }
});

test("cpu-native: with nativeProfile.dir set, a session writes onnxruntime's per-node times there", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "lmprobe-ort-profile-"));
  nativeProfile.dir = dir;
  try {
    const graph = () => ({ nodes: [{ op: "MatMul", inputs: ["a", "b"], outputs: ["y"] }], inputs: [{ name: "a" }, { name: "b" }], outputs: [{ name: "y" }] });
    for (let i = 0; i < 3; i++) runGraph("profile-test:matmul", graph, { a: [new Float32Array([1, 2, 3, 4]), [2, 2]], b: [new Float32Array([5, 6, 7, 8]), [2, 2]] });
  } finally {
    nativeProfile.dir = null;
  }
  endNativeProfiling();
  const files = fs.readdirSync(dir).filter((f) => f.startsWith("profile-test_matmul") && f.endsWith(".json"));
  assert.equal(files.length, 1, `profile files: ${fs.readdirSync(dir)}`);
  const events = JSON.parse(fs.readFileSync(path.join(dir, files[0]), "utf8")) as Array<{ cat: string; name: string; args?: { op_name?: string } }>;
  const nodes = events.filter((e) => e.cat === "Node" && e.name.endsWith("_kernel_time"));
  assert.equal(nodes.length, 3, "one node time per call");
  assert.ok(nodes.every((e) => e.args?.op_name === "MatMul"));
  fs.rmSync(dir, { recursive: true, force: true });
});
