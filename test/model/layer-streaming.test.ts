// Quantised checkpoints too large in float32 run with each block dequantised when the forward pass reaches
// it: the same logits and cached activations as dequantising everything at load, at most two blocks resident
// at any time, the backend's memory after loading holding only the weights outside the blocks, and no tensor
// left behind by a run.
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, before, test } from "node:test";
import * as tf from "@tensorflow/tfjs-core";
import { estimateMemory, chooseLayerStreaming } from "../../src/io/memory-estimate";
import { openCheckpoint } from "../../src/io/checkpoint";
import { loadModel } from "../../src/load";
import { MAX_RESIDENT_LAYERS } from "../../src/model/layer-weights";
import { hfToGguf } from "../tools/gguf-from-hf";
import { writeWideCheckpoint } from "../tools/wide-checkpoint";
import { tempDir, TINY } from "../io/helpers";

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
    assert.throws(() => chooseLayerStreaming({ ...tight, streaming: { ...estimate.streaming, totalBytes: 5e9 } }, "auto", "wasm"), /two blocks/);
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
