// Quantised checkpoints too large in float32 run with each block dequantised when the forward pass reaches
// it: the same logits and cached activations as dequantising everything at load, at most two blocks resident
// at any time, the backend's memory after loading holding only the weights outside the blocks, and no tensor
// left behind by a run.
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, before, test } from "node:test";
import * as tf from "@tensorflow/tfjs-core";
import { estimateMemory, checkMemoryFits, chooseLayerStreaming, type BackendCapacity } from "../../src/io/memory-estimate";
import { openCheckpoint } from "../../src/io/checkpoint";
import { loadModel } from "../../src/load";
import { MAX_RESIDENT_LAYERS } from "../../src/model/layer-weights";
import { hfToGguf } from "../tools/gguf-from-hf";
import { writeWideCheckpoint } from "../tools/wide-checkpoint";
import { tempDir, TINY, ROOT } from "../io/helpers";
import { ModelTooLargeError, UnsupportedFormatError } from "../../src/errors";
import { architectureStreamsLayers } from "../../src/model/architectures";
import { buildModel } from "../../src/model/build";

const GENERATED = path.join(ROOT, "test/fixtures/generated");

let work: string;
before(() => (work = tempDir("lmprobe-streaming-")));
after(() => fs.rmSync(work, { recursive: true, force: true }));

for (const family of ["llama", "gemma2"]) {
  test(`${family}: streamed blocks give the eager model's numbers with at most ${MAX_RESIDENT_LAYERS} resident`, async () => {
    const dir = writeWideCheckpoint(path.join(TINY, family), path.join(work, `wide-${family}`), 7, 6);
    const file = hfToGguf(dir, path.join(work, `${family}.gguf`), { type: "Q4_K" });
    const eager = await loadModel(file, { backend: "cpu", layerStreaming: "never" });
    const eagerBytes = tf.memory().numBytes;
    const a = eager.run("The quick brown fox", { cache: ["blocks.3.hook_resid_post", "blocks.5.attn.hook_pattern"] });
    const expected = { logits: a.logits.arraySync(), resid: a.cache.get("blocks.3.hook_resid_post").arraySync(), pattern: a.cache.get("blocks.5.attn.hook_pattern").arraySync() };
    a.dispose();
    eager.dispose();

    const baseline = tf.memory().numBytes;
    const streamed = await loadModel(file, { backend: "cpu", layerStreaming: "always" });
    try {
      const layers = streamed.weights.layerWeights!;
      assert.ok(layers, "the model streams its blocks");
      assert.deepEqual(layers.residentLayers(), []);
      // After loading only the embedding, lm_head and norms are resident: far less than the eager model.
      const loadedBytes = tf.memory().numBytes - baseline;
      assert.ok(loadedBytes < (eagerBytes - baseline) / 2, `streamed load holds ${loadedBytes} bytes, eager ${eagerBytes - baseline}`);
      for (let round = 0; round < 2; round++) {
        const tensors = tf.memory().numTensors;
        const b = streamed.run("The quick brown fox", { cache: ["blocks.3.hook_resid_post", "blocks.5.attn.hook_pattern"] });
        assert.deepEqual(b.logits.arraySync(), expected.logits);
        assert.deepEqual(b.cache.get("blocks.3.hook_resid_post").arraySync(), expected.resid);
        assert.deepEqual(b.cache.get("blocks.5.attn.hook_pattern").arraySync(), expected.pattern);
        b.dispose();
        assert.ok(layers.residentLayers().length <= MAX_RESIDENT_LAYERS, `resident: ${layers.residentLayers()}`);
        assert.deepEqual(layers.residentLayers(), [4, 5]);
        // Blocks stay resident between runs (two of them), the run itself leaves nothing behind.
        if (round === 1) assert.equal(tf.memory().numTensors, tensors);
      }
    } finally {
      streamed.dispose();
    }
    assert.equal(tf.memory().numBytes, baseline, "disposing a streamed model frees its resident blocks");
  });
}

test("auto mode streams only when the float32 form does not fit", () => {
  const dir = writeWideCheckpoint(path.join(TINY, "llama"), path.join(work, "wide-auto"), 7, 4);
  const file = hfToGguf(dir, path.join(work, "auto.gguf"), { type: "Q4_0" });
  const checkpoint = openCheckpoint(file);
  try {
    const estimate = estimateMemory(checkpoint.weights);
    assert.ok(estimate.streaming);
    assert.ok(estimate.streaming.totalBytes < estimate.totalBytes);
    assert.equal(chooseLayerStreaming(estimate, "auto", "cpu"), false, "fits as float32: dequantised at load");
    // The same model against a budget between the streamed and the full size (wasm's heap cap scaled down):
    const tight = { ...estimate, weightBytes: 5e9, totalBytes: 5.2e9, matrixBytes: 4e9 };
    assert.equal(chooseLayerStreaming(tight, "auto", "wasm"), true, "too large as float32: streamed");
    assert.throws(() => chooseLayerStreaming({ ...tight, streaming: { ...estimate.streaming, totalBytes: 5e9 } }, "auto", "wasm"), (e: Error) => e instanceof ModelTooLargeError && e.streamed && e.backend === "wasm" && /two blocks/.test(e.message));
  } finally {
    checkpoint.weights.close();
  }
});

test("direct logit attribution reads each streamed block's W_O and W_out through the provider: the eager model's tables", async () => {
  const { directLogitAttribution } = await import("../../src/probe/direct-logit-attribution");
  const dir = writeWideCheckpoint(path.join(TINY, "llama"), path.join(work, "wide-dla"), 7, 5);
  const file = hfToGguf(dir, path.join(work, "dla.gguf"), { type: "Q8_0" });
  const tables: unknown[] = [];
  for (const layerStreaming of ["never", "always"] as const) {
    const model = await loadModel(file, { backend: "cpu", layerStreaming });
    try {
      const r = await directLogitAttribution(model, "The quick brown fox");
      tables.push([r.components.objects(), r.heads.objects(), r.neurons.objects(), r.total]);
    } finally {
      model.dispose();
    }
  }
  assert.deepEqual(tables[1], tables[0]);
});

// Half-precision safetensors (what the hub serves for 1–8 B models) stream the same way when their float32 form
// does not fit: a BF16 Llama-3.1-8B is 16 GB on disk and 32 GB in float32.
for (const backend of ["cpu", "cpu-native"] as const) {
  test(`${backend}: a BF16 safetensors checkpoint read a block at a time gives the eager model's numbers`, async () => {
    const dir = writeWideCheckpoint(path.join(TINY, "qwen2"), path.join(work, `wide-bf16-${backend}`), 11, 5, "BF16");
    const hooks = ["blocks.0.hook_resid_post", "blocks.2.attn.hook_pattern", "blocks.4.mlp.hook_post"];
    const eager = await loadModel(dir, { backend, layerStreaming: "never" });
    assert.equal(eager.weights.layerWeights, undefined, "loaded whole");
    const a = eager.run("The quick brown fox jumps", { cache: hooks });
    const expected = [a.logits.arraySync(), ...hooks.map((h) => a.cache.get(h).arraySync())];
    a.dispose();
    // Without hooks the backend may run each block as one call (cpu-native), whose sums group differently.
    const eagerPlain = eager.run("The quick brown fox jumps");
    const expectedPlain = eagerPlain.logits.arraySync();
    eagerPlain.dispose();
    eager.dispose();
    const streamed = await loadModel(dir, { backend, layerStreaming: "always" });
    try {
      const layers = streamed.weights.layerWeights;
      assert.ok(layers, "the model reads its blocks as the forward pass reaches them");
      for (let round = 0; round < 2; round++) {
        const b = streamed.run("The quick brown fox jumps", { cache: hooks });
        assert.deepEqual([b.logits.arraySync(), ...hooks.map((h) => b.cache.get(h).arraySync())], expected);
        b.dispose();
        // Five blocks, two resident: each run read blocks 0–2 from the file again.
        assert.deepEqual(layers.residentLayers(), [3, 4]);
      }
      // A plain forward pass (no hooks) takes the backend's fastest block path: still the eager model's logits.
      const plain = streamed.run("The quick brown fox jumps");
      assert.deepEqual(plain.logits.arraySync(), expectedPlain);
      plain.dispose();
    } finally {
      streamed.dispose();
    }
  });
}

test("a float checkpoint's estimate has a streamed form; families that cannot stream are refused as too large", () => {
  const checkpoint = openCheckpoint(path.join(TINY, "llama3-f16-sharded"));
  try {
    const estimate = estimateMemory(checkpoint.weights);
    assert.equal(estimate.storedBytes, undefined, "not quantised");
    // Two blocks of two: the streamed form holds every weight here, so it needs what the whole model needs.
    assert.ok(estimate.streaming && estimate.streaming.layerBytes > 0 && estimate.streaming.totalBytes <= estimate.totalBytes, JSON.stringify(estimate.streaming));
    const tight = { ...estimate, weightBytes: 5e9, totalBytes: 5.2e9, matrixBytes: 4e9 };
    assert.equal(chooseLayerStreaming(tight, "auto", "wasm", true), true, "a family that streams: streamed");
    assert.throws(() => chooseLayerStreaming(tight, "auto", "wasm", false), (e: Error) => e instanceof ModelTooLargeError && !e.streamed && !/two blocks/.test(e.message));
    assert.equal(chooseLayerStreaming(estimate, "auto", "cpu", false), false, "fits whole: loaded whole");
  } finally {
    checkpoint.weights.close();
  }
});

test("a tensor larger than the device's largest buffer is refused by name, whether the model would load whole or streamed", () => {
  const checkpoint = openCheckpoint(path.join(TINY, "llama3-f16-sharded"));
  try {
    const estimate = estimateMemory(checkpoint.weights);
    const largest = estimate.largestTensor;
    assert.ok(largest.bytes > 0 && largest.name !== "");
    // A GPU with memory to spare (WebGPU reports none) whose buffers stop just below this model's largest tensor.
    const capacity: BackendCapacity = { backend: "cpu", totalBytes: Infinity, maxTensorBytes: largest.bytes - 4, source: "test" };
    const refusedByName = (e: Error) => e instanceof ModelTooLargeError && e.tensor === largest.name && e.bytesNeeded === largest.bytes && e.bytesAvailable === largest.bytes - 4 && e.message.includes(`"${largest.name}"`) && e.message.includes("largest buffer") && !/Infinity/.test(e.message);
    assert.throws(() => checkMemoryFits(estimate, "cpu", null, capacity), refusedByName, "loaded whole");
    assert.throws(() => chooseLayerStreaming(estimate, "auto", "cpu", true, capacity), refusedByName, "auto: streaming leaves the tensor its size");
    assert.throws(() => chooseLayerStreaming(estimate, "always", "cpu", true, capacity), refusedByName, "always streamed");
    assert.throws(() => chooseLayerStreaming(estimate, "never", "cpu", true, capacity), refusedByName, "never streamed");
    assert.equal(chooseLayerStreaming(estimate, "auto", "cpu", true, { ...capacity, maxTensorBytes: largest.bytes }), false, "a buffer of exactly its size holds it");
  } finally {
    checkpoint.weights.close();
  }
});

test('layerStreaming "always" on a family whose converter reads every block at load is refused by name', async () => {
  await assert.rejects(loadModel(path.join(TINY, "gpt2"), { backend: "cpu", layerStreaming: "always" }), (e: Error) => e instanceof UnsupportedFormatError && /gpt2 blocks/.test(e.message) && /"auto"/.test(e.message));
});

test("architectureStreamsLayers names exactly the fixture families whose converters honour streamLayers", () => {
  const dirs = [...fs.readdirSync(TINY).map((n) => path.join(TINY, n)), ...fs.readdirSync(GENERATED).map((n) => path.join(GENERATED, n))].filter((d) => fs.existsSync(path.join(d, "config.json")));
  const seen = new Map<string, boolean>();
  for (const dir of dirs) {
    const checkpoint = openCheckpoint(dir);
    const type = checkpoint.config.modelType;
    try {
      checkpoint.weights.streamLayers = true;
      const model = buildModel(checkpoint, dir);
      const streams = model.weights.layerWeights !== undefined;
      model.dispose();
      assert.equal(streams, architectureStreamsLayers(type), `${path.basename(dir)} (${type}): the converter ${streams ? "streams" : "does not stream"}`);
      seen.set(type, streams);
    } finally {
      checkpoint.weights.close();
    }
  }
  // Both kinds are present, so the check can fail either way.
  assert.ok([...seen.values()].includes(true) && [...seen.values()].includes(false), JSON.stringify([...seen]));
});
