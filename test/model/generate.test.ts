// Generation: greedy ids equal the reference's with and without the key/value cache, captures and hooks agree
// between the two, a seed reproduces sampling, batches are left-padded, chat templates apply, and the context
// limit is enforced. Memory returns to its baseline after each call.
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";
import * as tf from "@tensorflow/tfjs-core";
import { ArgumentError, ContextLengthError } from "../../src/errors";
import { openCheckpoint } from "../../src/io/checkpoint";
import { buildModel } from "../../src/model/build";
import type { LanguageModel } from "../../src/model/model";
import { TINY, loadFixture, maxAbsDiff, readReference, referencePath, useBackend } from "./engine-helpers";

let model: LanguageModel;
let ref: { ids: number[]; generated: number[] };
before(async () => {
  await useBackend();
  model = loadFixture("mistral"); // sliding window 8 < prompt: the cache must respect it too
  ref = readReference(referencePath("mistral"), (f) => ({ ids: f.readIntegers("input_ids"), generated: f.readIntegers("generated_ids") }));
});
after(() => model.dispose());

test("greedy generation reproduces generated_ids with and without the kv cache, leaving no tensors", async () => {
  const baseline = tf.memory().numTensors;
  for (const useCache of [true, false]) {
    const out = await model.generate([ref.ids], { maxNewTokens: ref.generated.length - ref.ids.length, useCache, stopAtEos: false });
    assert.deepEqual(out.tokens[0], ref.generated, `useCache ${useCache}`);
    assert.equal(out.newTokens[0].length, 8);
    out.dispose();
  }
  assert.equal(tf.memory().numTensors, baseline);
});

test("captured activations per step are the same with and without the cache, and so are hooks' effects", async () => {
  const steer = tf.tidy(() => tf.randomNormal([model.config.hiddenSize], 0, 3, "float32", 7));
  const opts = {
    maxNewTokens: 4,
    stopAtEos: false,
    capture: ["resid_post", "blocks.1.attn.hook_pattern"],
    hooks: { "blocks.0.hook_resid_post": (x: tf.Tensor) => x.add(steer) },
  };
  const cached = await model.generate([ref.ids], { ...opts, useCache: true });
  const full = await model.generate([ref.ids], { ...opts, useCache: false });
  const plain = await model.generate([ref.ids], { maxNewTokens: 4, stopAtEos: false });
  assert.deepEqual(cached.tokens, full.tokens);
  assert.notDeepEqual(cached.newTokens, plain.newTokens, "the steering hook changed the continuation");
  assert.equal(cached.steps.length, 4);
  for (let s = 0; s < 4; s++) {
    for (const name of ["blocks.1.hook_resid_post", "blocks.1.attn.hook_pattern"]) {
      const a = cached.steps[s].get(name);
      const b = full.steps[s].get(name);
      assert.deepEqual(a.shape, b.shape, `${name} step ${s}`);
      assert.ok(maxAbsDiff(await a.data(), await b.data()) < 1e-4, `${name} step ${s}`);
    }
  }
  const T = ref.ids.length;
  assert.deepEqual(cached.steps[0].get("resid_post", 0).shape, [1, T, model.config.hiddenSize]);
  assert.deepEqual(cached.steps[2].get("blocks.1.attn.hook_pattern").shape, [1, model.config.numHeads, 1, T + 2]);
  for (const r of [cached, full, plain]) r.dispose();
  steer.dispose();
});

test("sampling is reproducible with a seed; topK 1 is greedy", async () => {
  const baseline = tf.memory().numTensors;
  const a = await model.generate([ref.ids], { maxNewTokens: 6, temperature: 1.5, seed: 42, stopAtEos: false });
  const b = await model.generate([ref.ids], { maxNewTokens: 6, temperature: 1.5, seed: 42, stopAtEos: false });
  assert.deepEqual(a.tokens, b.tokens);
  const others = await Promise.all([1, 2, 3].map((seed) => model.generate([ref.ids], { maxNewTokens: 6, temperature: 1.5, seed, stopAtEos: false })));
  assert.ok(others.some((o) => JSON.stringify(o.newTokens) !== JSON.stringify(a.newTokens)), "different seeds sample differently");
  const top1 = await model.generate([ref.ids], { maxNewTokens: 6, temperature: 1.5, topK: 1, seed: 5, stopAtEos: false });
  assert.deepEqual(top1.tokens[0], ref.generated.slice(0, ref.ids.length + 6));
  assert.equal(tf.memory().numTensors, baseline);
  await assert.rejects(model.generate([ref.ids], { temperature: -1 }), ArgumentError);
});

test("a batch of prompts of different lengths generates what each prompt generates alone", async () => {
  const short = ref.ids.slice(0, 7);
  const batch = await model.generate([ref.ids, short], { maxNewTokens: 5, stopAtEos: false });
  const alone = await model.generate([short], { maxNewTokens: 5, stopAtEos: false });
  assert.deepEqual(batch.tokens[0], ref.generated.slice(0, ref.ids.length + 5));
  assert.deepEqual(batch.tokens[1], alone.tokens[0]);
  batch.dispose();
  alone.dispose();
});

test("inputs longer than the context raise ContextLengthError, for run and for generate", async () => {
  const max = model.config.maxPositions;
  const tooLong = new Array(max + 1).fill(5);
  assert.throws(() => model.run([tooLong]), ContextLengthError);
  await assert.rejects(model.generate([new Array(max - 2).fill(5)], { maxNewTokens: 3 }), ContextLengthError);
  assert.throws(() => model.run([[model.config.vocabSize]]), ArgumentError);
});

test("chat: messages go through the checkpoint's chat template; without one it is an ArgumentError", async () => {
  await assert.rejects(model.generate("hello", { chat: true, maxNewTokens: 1 }), ArgumentError);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "lmprobe-chat-"));
  try {
    for (const f of fs.readdirSync(path.join(TINY, "llama"))) fs.copyFileSync(path.join(TINY, "llama", f), path.join(dir, f));
    const configFile = path.join(dir, "tokenizer_config.json");
    const tc = JSON.parse(fs.readFileSync(configFile, "utf8"));
    tc.chat_template = "{% for m in messages %}{{ m.role }}: {{ m.content }}\n{% endfor %}{% if add_generation_prompt %}assistant:{% endif %}";
    fs.writeFileSync(configFile, JSON.stringify(tc));
    const ck = openCheckpoint(dir);
    const chatModel = buildModel(ck);
    ck.weights.close();
    const out = await chatModel.generate([{ role: "user", content: "the store" }], { maxNewTokens: 2 });
    const expectedPrompt = chatModel.toTokens("user: the store\nassistant:", { prependBos: false });
    assert.deepEqual(out.tokens[0].slice(0, expectedPrompt.length), expectedPrompt);
    const viaFlag = await chatModel.generate("the store", { chat: true, maxNewTokens: 2 });
    assert.deepEqual(viaFlag.tokens, out.tokens);
    chatModel.dispose();
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
