// Architecture conversion: registry errors, and a checkpoint whose tensors disagree with config.json (missing,
// misshapen, or a parameter the conversion would drop) raises a typed error and leaks no tensor.
import assert from "node:assert/strict";
import { before, test } from "node:test";
import * as tf from "@tensorflow/tfjs-core";
import { UnsupportedArchitectureError, WeightShapeError } from "../../src/errors";
import { openCheckpoint } from "../../src/io/checkpoint";
import type { WeightSource } from "../../src/io/weight-source";
import { buildModel } from "../../src/model/build";
import { fixtureDir, useBackend } from "./engine-helpers";

before(useBackend);

/** The llama fixture's weights, with some tensors altered, dropped or added. */
function alteredWeights(edit: (name: string, data: Float32Array, shape: number[]) => { data: Float32Array; shape: number[] } | null, extra: string[] = []): { ck: ReturnType<typeof openCheckpoint>; weights: WeightSource } {
  const ck = openCheckpoint(fixtureDir("llama"));
  const base = ck.weights;
  const table = new Map<string, { data: Float32Array; shape: number[] }>();
  for (const n of base.names()) {
    const e = edit(n, base.read(n), base.info(n).shape);
    if (e) table.set(n, e);
  }
  for (const n of extra) table.set(n, { data: new Float32Array(4), shape: [4] });
  const weights: WeightSource = {
    origin: "altered",
    names: () => [...table.keys()].sort(),
    has: (n) => table.has(n),
    info: (n) => ({ name: n, dtype: "F32", shape: table.get(n)!.shape, file: `altered/${n}` }),
    read: (n) => table.get(n)!.data,
    close: () => undefined,
  };
  return { ck, weights };
}

function expectBuildError(weights: WeightSource, ck: ReturnType<typeof openCheckpoint>, check: (e: unknown) => boolean): void {
  const baseline = tf.memory().numTensors;
  assert.throws(() => buildModel({ ...ck, weights }), check);
  assert.equal(tf.memory().numTensors, baseline, "a failed conversion leaves no tensors");
  ck.weights.close();
}

test("a missing tensor names itself", () => {
  const { ck, weights } = alteredWeights((n, data, shape) => (n === "model.layers.1.mlp.up_proj.weight" ? null : { data, shape }));
  expectBuildError(weights, ck, (e) => e instanceof WeightShapeError && e.tensor === "model.layers.1.mlp.up_proj.weight" && /missing/.test(e.message));
});

test("a tensor whose shape disagrees with config.json names both shapes", () => {
  const { ck, weights } = alteredWeights((n, data, shape) => (n === "model.layers.0.self_attn.k_proj.weight" ? { data: data.slice(0, 16 * 64), shape: [16, 64] } : { data, shape }));
  expectBuildError(weights, ck, (e) => e instanceof WeightShapeError && /\[16,64\].*\[32,64\]/.test(e.message));
});

test("a parameter the conversion does not use is reported, not silently dropped", () => {
  const { ck, weights } = alteredWeights((_n, data, shape) => ({ data, shape }), ["model.layers.0.self_attn.o_proj.bias"]);
  expectBuildError(weights, ck, (e) => e instanceof WeightShapeError && e.tensor === "model.layers.0.self_attn.o_proj.bias");
});

test("an unknown model_type lists the supported ones", () => {
  const ck = openCheckpoint(fixtureDir("llama"));
  try {
    assert.throws(
      () => buildModel({ ...ck, config: { ...ck.config, modelType: "mamba" } }),
      (e: unknown) =>
        e instanceof UnsupportedArchitectureError &&
        e.supported.includes("gemma2") &&
        e.supported.includes("gpt_neox") &&
        // the families added with their generated fixtures (test/model/families.test.ts)
        ["gemma", "phi", "gptj", "opt", "bloom", "qwen2_moe", "olmoe", "smollm3", "granite", "starcoder2", "stablelm", "deepseek_v3"].every((t) => e.supported.includes(t)) &&
        /mamba/.test(e.message),
    );
  } finally {
    ck.weights.close();
  }
});
