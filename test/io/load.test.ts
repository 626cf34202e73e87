import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { test } from "node:test";
import * as tf from "@tensorflow/tfjs-core";
import { MissingFileError, UnsupportedArchitectureError, WeightShapeError } from "../../src/errors";
import { demoModelDir, packageRoot } from "../../src/io/package-root";
import { loadModel, resolveCheckpointDir } from "../../src/load";
import { copyCheckpoint, DEMO, ROOT, TINY } from "./helpers";

test("'demo' and no argument resolve to the embedded model in the package", async () => {
  assert.equal(packageRoot(), ROOT);
  assert.equal(demoModelDir(), DEMO);
  assert.equal(await resolveCheckpointDir(undefined), DEMO);
  assert.equal(await resolveCheckpointDir("demo"), DEMO);
  assert.equal(await resolveCheckpointDir(path.relative(process.cwd(), DEMO) || "."), DEMO);
  await assert.rejects(resolveCheckpointDir("./no/such/dir"), (e: unknown) => e instanceof MissingFileError && /owner\/name/.test((e as Error).message));
});

test("loadModel() loads the demo model offline with its tokenizer, and dispose frees every tensor", async () => {
  await tf.ready();
  const model = await loadModel(undefined, { backend: "wasm" });
  const baseline = tf.memory().numTensors;
  try {
    assert.equal(model.config.modelType, "llama");
    assert.equal(model.config.numLayers, 4);
    assert.deepEqual(model.tokenizer.tokenTexts(model.tokenizer.encode("The capital of France is")), ["The", " capital", " of", " France", " is"]);
    assert.ok(baseline > 0);
  } finally {
    model.dispose();
  }
  assert.equal(tf.memory().numTensors, 0);
});

test("a weight whose shape disagrees with config.json fails the load with WeightShapeError and leaves no tensors", async () => {
  const dir = copyCheckpoint(path.join(TINY, "llama"));
  const configPath = path.join(dir, "config.json");
  const config = JSON.parse(fs.readFileSync(configPath, "utf8"));
  fs.writeFileSync(configPath, JSON.stringify({ ...config, intermediate_size: config.intermediate_size + 8 }));
  await assert.rejects(loadModel(dir, { backend: "wasm" }), (e: unknown) => e instanceof WeightShapeError && /mlp\.(gate|up|down)_proj\.weight/.test((e as WeightShapeError).tensor) && /config\.json/.test((e as Error).message));
  assert.equal(tf.memory().numTensors, 0);
});

test("an architecture the engine lacks is named with the supported list", async () => {
  const dir = copyCheckpoint(path.join(TINY, "llama"));
  const configPath = path.join(dir, "config.json");
  fs.writeFileSync(configPath, JSON.stringify({ ...JSON.parse(fs.readFileSync(configPath, "utf8")), model_type: "mamba_nonexistent" }));
  await assert.rejects(loadModel(dir, { backend: "wasm" }), (e: unknown) => e instanceof UnsupportedArchitectureError && (e as UnsupportedArchitectureError).supported.includes("llama"));
  assert.equal(tf.memory().numTensors, 0);
});
