import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { test } from "node:test";
import * as tf from "@tensorflow/tfjs-core";
import { ModelTooLargeError } from "../../src/errors";
import { backendCapacity, bytesNeededOn, checkMemoryFits, estimateMemory, WASM_HEAP_BYTES } from "../../src/io/memory-estimate";
import { largestTensorOn } from "../../src/backend/capacity";
import { SafetensorsFile } from "../../src/io/safetensors";
import { openWeightSource } from "../../src/io/safetensors-weights";
import type { TensorInfo, WeightSource } from "../../src/io/weight-source";
import { loadModel } from "../../src/load";
import { copyCheckpoint, DEMO, rawHeader, tinyFixtures } from "./helpers";

/** A WeightSource that only describes tensors (nothing to read): the estimate must not need reads. */
function describedOnly(shapes: Record<string, number[]>, dtype: TensorInfo["dtype"] = "BF16"): WeightSource {
  return {
    origin: "described",
    names: () => Object.keys(shapes).sort(),
    has: (n) => n in shapes,
    info: (n) => ({ name: n, dtype, shape: shapes[n], file: "described" }),
    read: () => assert.fail("the estimate read a tensor"),
    close: () => {},
  };
}

for (const dir of [...tinyFixtures(), DEMO]) {
  test(`${path.basename(dir)}: float32 bytes are the headers' element counts × 4`, () => {
    const files = fs.readdirSync(dir).filter((f) => f.endsWith(".safetensors") && !f.includes("reference") && !f.startsWith("gradients"));
    const elements = files.flatMap((f) => Object.values(rawHeader(path.join(dir, f)).entries)).reduce((n, e) => n + e.shape.reduce((a, b) => a * b, 1), 0);
    const weights = openWeightSource(dir);
    const est = estimateMemory(weights);
    weights.close();
    assert.equal(est.weightBytes, elements * 4);
    assert.equal(est.totalBytes, est.weightBytes + est.marginBytes);
    assert.ok(est.marginBytes >= 128 * 1024 * 1024);
  });
}

test("a 1.2B-parameter model is refused on wasm with the bytes it needs and the backends that could hold it", () => {
  // 1.2e9 parameters: 4.8 GB as float32, over the 4 GiB wasm heap
  const weights = describedOnly({ "model.embed_tokens.weight": [150_000, 2000], "model.layers.0.mlp.weight": [900_000, 1000] });
  const est = estimateMemory(weights);
  assert.equal(est.weightBytes, (150_000 * 2000 + 900_000 * 1000) * 4);
  assert.equal(est.largestTensor.name, "model.layers.0.mlp.weight");
  assert.throws(() => checkMemoryFits(est, "wasm"), (e: unknown) => {
    assert.ok(e instanceof ModelTooLargeError);
    assert.equal(e.bytesNeeded, bytesNeededOn(est, "wasm"));
    assert.equal(e.backend, "wasm");
    assert.ok(e.bytesAvailable <= WASM_HEAP_BYTES);
    assert.ok(e.message.includes(String(bytesNeededOn(est, "wasm"))), e.message);
    assert.equal(e.backendsThatFit.includes("cpu"), backendCapacity("cpu").totalBytes >= est.totalBytes);
    // The native CPU path (no 4 GiB heap) is offered first among the CPU backends when host memory holds the model.
    assert.equal(e.backendsThatFit.includes("cpu-native"), backendCapacity("cpu-native").totalBytes >= est.totalBytes);
    if (e.backendsThatFit.includes("cpu-native")) assert.ok(e.backendsThatFit.indexOf("cpu-native") < e.backendsThatFit.indexOf("cpu"));
    assert.ok(!e.backendsThatFit.includes("wasm"));
    return true;
  });
  // and a small model fits
  checkMemoryFits(estimateMemory(describedOnly({ w: [1000, 1000] })), "wasm");
});

test("on wasm, weight matrices count twice (XNNPACK's packed copies) and embedding tables once", () => {
  // 2.2 GB of float32: under the 4 GiB heap as plain tensors, over it with a packed copy of every matrix.
  const matrices = describedOnly({ "model.layers.0.mlp.up_proj.weight": [550_000, 1000] });
  const est = estimateMemory(matrices);
  assert.equal(est.matrixBytes, est.weightBytes);
  assert.equal(bytesNeededOn(est, "wasm"), est.totalBytes + est.weightBytes);
  assert.equal(bytesNeededOn(est, "cpu"), est.totalBytes);
  assert.ok(est.totalBytes < WASM_HEAP_BYTES, "fits without the packed copies");
  assert.throws(() => checkMemoryFits(est, "wasm"), ModelTooLargeError);
  // The same bytes as an embedding table (gathered, never packed) fit.
  const table = estimateMemory(describedOnly({ "model.embed_tokens.weight": [550_000, 1000] }));
  assert.equal(table.matrixBytes, 0);
  checkMemoryFits(table, "wasm");
});

test("capacities: wasm is its heap cap, cpu and cpu-native are bounded by host memory, not by 4 GiB", () => {
  assert.ok(backendCapacity("wasm").totalBytes <= WASM_HEAP_BYTES);
  assert.ok(backendCapacity("cpu-native").totalBytes <= os.totalmem());
  assert.match(backendCapacity("cpu-native").source, /host memory|cgroup/);
  // A 6 GB model (a 1.5B-parameter one as float32) is refused on wasm and, where the host has the memory, fits cpu-native.
  const est = estimateMemory(describedOnly({ "model.layers.0.mlp.weight": [1_500_000, 1000] }));
  assert.throws(() => checkMemoryFits(est, "wasm"), ModelTooLargeError);
  if (backendCapacity("cpu-native").totalBytes >= est.totalBytes) checkMemoryFits(est, "cpu-native");
  else assert.throws(() => checkMemoryFits(est, "cpu-native"), ModelTooLargeError);
  assert.ok(backendCapacity("cpu").totalBytes <= os.totalmem());
  assert.equal(backendCapacity("webgpu").totalBytes, Infinity);
});

test("loadModel refuses an oversized checkpoint before reading any weight", async () => {
  const dir = copyCheckpoint(DEMO, (n) => n.endsWith(".safetensors"));
  // a sparse file declaring 4.5 GB of F32 weights: no disk space used, no byte of it read
  const rows = 1_100_000;
  const header = Buffer.from(JSON.stringify({
    "model.embed_tokens.weight": { dtype: "F32", shape: [rows, 1024], data_offsets: [0, rows * 1024 * 4] },
  }));
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(header.length));
  const file = path.join(dir, "model.safetensors");
  fs.writeFileSync(file, Buffer.concat([length, header]));
  fs.truncateSync(file, 8 + header.length + rows * 1024 * 4);
  const original = SafetensorsFile.prototype.readFloat32;
  let reads = 0;
  SafetensorsFile.prototype.readFloat32 = function (this: SafetensorsFile, name: string) {
    reads++;
    return original.call(this, name);
  };
  try {
    await assert.rejects(loadModel(dir, { backend: "wasm" }), (e: unknown) => e instanceof ModelTooLargeError && e.backend === "wasm");
    assert.equal(reads, 0);
    assert.equal(tf.memory().numTensors, 0);
  } finally {
    SafetensorsFile.prototype.readFloat32 = original;
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("where BF16/F16 matrices stay packed (webgpu) they count 2 bytes per value; elsewhere, or with LMPROBE_PACKED_WEIGHTS=0, 4", () => {
  // An 8B-like shape: the embedding is the largest tensor (2.1 GB as float32, 1.05 GB packed); a norm stays float32.
  const shapes = { "model.embed_tokens.weight": [128256, 4096], "model.layers.0.self_attn.q_proj.weight": [4096, 4096], "model.layers.0.input_layernorm.weight": [4096], "model.layers.0.mlp.experts.0.up_proj.weight": [1024, 4096] };
  const est = estimateMemory(describedOnly(shapes));
  const packable = (128256 * 4096 + 4096 * 4096) * 4; // experts are widened at load (linearFloat32), norms are 1-D
  assert.equal(est.packable?.float32Bytes, packable);
  assert.deepEqual(est.packable?.largestPacked, { name: "model.embed_tokens.weight", bytes: 128256 * 4096 * 2 });
  assert.deepEqual(est.packable?.largestOther, { name: "model.layers.0.mlp.experts.0.up_proj.weight", bytes: 1024 * 4096 * 4 });
  const saved = process.env.LMPROBE_PACKED_WEIGHTS;
  try {
    delete process.env.LMPROBE_PACKED_WEIGHTS;
    assert.equal(bytesNeededOn(est, "webgpu"), est.totalBytes - packable / 2);
    assert.equal(bytesNeededOn(est, "cpu"), est.totalBytes);
    assert.equal(largestTensorOn(est, "webgpu").bytes, 128256 * 4096 * 2);
    assert.equal(largestTensorOn(est, "cpu").bytes, 128256 * 4096 * 4);
    process.env.LMPROBE_PACKED_WEIGHTS = "0";
    assert.equal(bytesNeededOn(est, "webgpu"), est.totalBytes);
    assert.equal(largestTensorOn(est, "webgpu").bytes, 128256 * 4096 * 4);
  } finally {
    if (saved === undefined) delete process.env.LMPROBE_PACKED_WEIGHTS;
    else process.env.LMPROBE_PACKED_WEIGHTS = saved;
  }
  // Float32 checkpoints have nothing to pack.
  assert.equal(estimateMemory(describedOnly(shapes, "F32")).packable, undefined);
});
