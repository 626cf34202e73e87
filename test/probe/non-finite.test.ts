// A finite but huge weight (3e38, near float32's limit) overflows the forward pass. run's opt-in checkFinite throws
// at the first hook point holding NaN/Infinity; every probe that runs the model reports where it began.
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { test } from "node:test";
import * as tf from "@tensorflow/tfjs-core";
import { NonFiniteActivationError } from "../../src/errors";
import { openWeightSource } from "../../src/io/safetensors-weights";
import { writeSafetensors, type TensorToWrite } from "../../src/io/safetensors-writer";
import { loadModel } from "../../src/load";
import type { LanguageModel } from "../../src/model/model";
import { attentionPatterns } from "../../src/probe/attention";
import { fullProbe } from "../../src/probe/full-probe";
import { layerSimilarity } from "../../src/probe/layer-similarity";
import { logitLens } from "../../src/probe/logit-lens";
import { residualNorms } from "../../src/probe/residual";
import { tokenProbabilities } from "../../src/probe/token-probs";
import { copyCheckpoint, TINY } from "../io/helpers";
import { model as fixtureModel, rows } from "./models";

const HUGE_WEIGHT = "model.layers.1.input_layernorm.weight";
const FIRST = { hook: "blocks.1.ln1.hook_normalized", layer: 1 };
const PROMPT = "The capital of France is";

let overflowing: Promise<LanguageModel> | null = null;
/** tiny llama with layer 1's input RMSNorm gain set to 3e38: finite, and overflowing at blocks.1.ln1. */
function overflowingModel(): Promise<LanguageModel> {
  overflowing ??= (async () => {
    const dir = copyCheckpoint(path.join(TINY, "llama"), (n) => n === "model.safetensors");
    const source = openWeightSource(path.join(TINY, "llama"));
    const tensors: Record<string, TensorToWrite> = {};
    for (const name of source.names()) {
      const data = source.read(name);
      tensors[name] = { dtype: "F32", shape: source.info(name).shape, data: name === HUGE_WEIGHT ? new Float32Array(data.length).fill(3e38) : data };
    }
    source.close();
    writeSafetensors(path.join(dir, "model.safetensors"), tensors);
    assert.ok(fs.existsSync(path.join(dir, "model.safetensors")));
    return loadModel(dir, { backend: (process.env.LMPROBE_BACKEND as "wasm" | "cpu") ?? "wasm" });
  })();
  return overflowing;
}

test("run({ checkFinite }) throws NonFiniteActivationError at the first hook point holding one; without it nothing is checked", async () => {
  const model = await overflowingModel();
  const before = tf.memory().numTensors;
  assert.throws(() => model.run(PROMPT, { checkFinite: true }), (e: any) => {
    assert.ok(e instanceof NonFiniteActivationError, String(e));
    assert.equal(e.hook, FIRST.hook);
    assert.equal(e.layer, FIRST.layer);
    assert.ok(Number.isInteger(e.position) && e.position >= 0 && e.position < model.toTokens(PROMPT).length);
    assert.ok(!Number.isFinite(e.value));
    assert.match(e.message, /blocks\.1\.ln1\.hook_normalized \(layer 1, position \d+\)/);
    return true;
  });
  assert.equal(tf.memory().numTensors, before, "no tensor left behind by the throw");
  const plain = model.run(PROMPT);
  assert.ok(Array.from(plain.logits.dataSync()).some((v) => !Number.isFinite(v)), "the fixture does overflow");
  plain.dispose();
  assert.equal(tf.memory().numTensors, before);
  const site = await model.findNonFinite(PROMPT);
  assert.equal(site?.hook, FIRST.hook);
  assert.equal(tf.memory().numTensors, before);
});

test("a healthy model passes checkFinite and every probe reports nonFinite: null", async () => {
  const model = await fixtureModel("llama");
  model.run(PROMPT, { checkFinite: true }).dispose();
  assert.equal((await logitLens(model, PROMPT)).nonFinite, null);
  assert.equal(await model.findNonFinite(PROMPT), null);
});

test("the probes say where the non-finite values began, instead of returning null log-probabilities silently", async () => {
  const model = await overflowingModel();
  const before = tf.memory().numTensors;
  const lens = await logitLens(model, PROMPT);
  assert.ok(rows<{ logprob: number | null }>(lens.table).some((r) => r.logprob === null || !Number.isFinite(r.logprob)), "the lens does hold non-finite numbers");
  for (const [name, result] of [
    ["logitLens", lens],
    ["fullProbe", await fullProbe(model, PROMPT)],
    ["tokenProbabilities", await tokenProbabilities(model, PROMPT)],
    ["layerSimilarity", await layerSimilarity(model, PROMPT)],
    ["attentionPatterns", await attentionPatterns(model, PROMPT)],
    ["residualNorms", await residualNorms(model, PROMPT)],
  ] as const) {
    assert.ok(result.nonFinite, `${name} says nothing`);
    assert.equal(result.nonFinite.site.hook, FIRST.hook, name);
    assert.equal(result.nonFinite.site.layer, FIRST.layer, name);
    assert.match(result.nonFinite.message, /non-finite/);
  }
  assert.equal(tf.memory().numTensors, before);
});

test("verify and the probe report say so too", async () => {
  const { verify } = await import("../../src/verify/verify");
  const { formatVerifyTable } = await import("../../src/verify/format");
  const { probeSections } = await import("../../src/cli/probe-sections");
  const model = await overflowingModel();
  const result = await verify(model, path.join(TINY, "llama", "reference.safetensors"));
  assert.equal(result.ok, false);
  assert.equal(result.nonFinite?.site.hook, FIRST.hook);
  assert.match(formatVerifyTable(result), /warning: non-finite values.*blocks\.1\.ln1\.hook_normalized/);
  const healthy = await verify(await fixtureModel("llama"), path.join(TINY, "llama", "reference.safetensors"));
  assert.equal(healthy.nonFinite, null);
  const sections = await probeSections(model, { prompt: PROMPT, k: 3, targets: [] });
  assert.match(sections[0].title, /non-finite/);
  assert.match(sections[0].intro ?? "", /blocks\.1\.ln1\.hook_normalized/);
});
