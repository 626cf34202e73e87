// Hook points: caching only what was asked, reading and replacing activations, shorthand names, errors for
// unknown names and misshapen replacements, and hooks that throw (no leak, nothing left behind).
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import * as tf from "@tensorflow/tfjs-core";
import { ArgumentError } from "../../src/errors";
import type { LanguageModel } from "../../src/model/model";
import { loadFixture, maxAbsDiff, useBackend } from "./engine-helpers";

let model: LanguageModel;
let gemma: LanguageModel;
const prompt = "When Mary and John went to the store";
before(async () => {
  await useBackend();
  model = loadFixture("llama");
  gemma = loadFixture("gemma2");
});
after(() => {
  model.dispose();
  gemma.dispose();
});

test("run keeps exactly the activations asked for, and dispose returns to the tensor baseline", () => {
  const baseline = tf.memory().numTensors;
  const r = model.run(prompt, { cache: ["resid_post", "blocks.0.attn.hook_pattern", "hook_embed"] });
  assert.deepEqual(r.cache.names().sort(), ["blocks.0.attn.hook_pattern", "blocks.0.hook_resid_post", "blocks.1.hook_resid_post", "hook_embed"]);
  assert.equal(r.cache.get("resid_post", 1), r.cache.get("blocks.1.hook_resid_post"));
  assert.throws(() => r.cache.get("resid_mid", 0), ArgumentError);
  const none = model.run(prompt);
  assert.deepEqual(none.cache.names(), []);
  none.dispose();
  r.dispose();
  assert.equal(tf.memory().numTensors, baseline);
});

test("every hook point of the model fires once per run with TransformerLens shapes", () => {
  const seen = new Map<string, number[]>();
  const hooks = Object.fromEntries(model.hookPoints().map((n) => [n, (t: tf.Tensor) => void seen.set(n, t.shape)]));
  const r = model.runWithHooks(prompt, hooks);
  const T = r.tokens[0].length;
  const { numHeads: H, numKVHeads: K, headDim: D, hiddenSize: d } = model.config;
  assert.deepEqual([...seen.keys()], model.hookPoints());
  assert.deepEqual(seen.get("blocks.0.attn.hook_q"), [1, T, H, D]);
  assert.deepEqual(seen.get("blocks.0.attn.hook_k"), [1, T, K, D]);
  assert.deepEqual(seen.get("blocks.0.attn.hook_rot_q"), [1, T, H, D]);
  assert.deepEqual(seen.get("blocks.1.attn.hook_pattern"), [1, H, T, T]);
  assert.deepEqual(seen.get("blocks.1.attn.hook_z"), [1, T, H, D]);
  assert.deepEqual(seen.get("blocks.1.hook_resid_mid"), [1, T, d]);
  assert.deepEqual(seen.get("blocks.1.mlp.hook_post"), [1, T, model.config.intermediateSize]);
  assert.deepEqual(seen.get("ln_final.hook_normalized"), [1, T, d]);
  r.dispose();
});

test("the pattern is causal and rows sum to 1; gemma2's sliding layer sees only its window", async () => {
  const long = "When Mary and John went to the store, John gave a book to";
  const r = gemma.run(long, { cache: ["pattern"] });
  const T = r.tokens[0].length;
  assert.ok(T > 8);
  const window = gemma.config.slidingWindow!;
  for (const layer of [0, 1]) {
    const p = (await r.cache.get("pattern", layer).data()) as Float32Array;
    const sliding = gemma.config.layerTypes[layer] === "sliding_attention";
    for (let h = 0; h < gemma.config.numHeads; h++) {
      for (let q = 0; q < T; q++) {
        let sum = 0;
        for (let k = 0; k < T; k++) {
          const v = p[(h * T + q) * T + k];
          sum += v;
          const masked = k > q || (sliding && q - k >= window);
          if (masked) assert.equal(v, 0, `layer ${layer} head ${h} query ${q} key ${k}`);
        }
        assert.ok(Math.abs(sum - 1) < 1e-5);
      }
    }
  }
  r.dispose();
});

test("a hook returning nothing changes nothing; a replacement changes the output as computed by hand", async () => {
  const plain = model.run(prompt);
  const observed = model.runWithHooks(prompt, { "blocks.1.hook_resid_post": () => undefined });
  assert.equal(maxAbsDiff(await plain.logits.data(), await observed.logits.data()), 0);

  // Shifting the last residual (RMSNorm ignores scaling, not shifts): logits = unembed(ln_final(resid + 1)).
  const r = model.run(prompt, { cache: ["blocks.1.hook_resid_post"] });
  const expected = tf.tidy(() => model.unembed(model.applyFinalNorm(r.cache.get("blocks.1.hook_resid_post").add(1))));
  const shifted = model.runWithHooks(prompt, { "blocks.1.hook_resid_post": (x) => x.add(1) });
  assert.ok(maxAbsDiff(await expected.data(), await shifted.logits.data()) < 1e-5);
  assert.ok(maxAbsDiff(await plain.logits.data(), await shifted.logits.data()) > 1e-2, "the replacement had an effect");
  for (const t of [plain, observed, r, shifted]) t.dispose();
  expected.dispose();
});

test("shorthand hook names apply to every block; ctx names the hook and layer", () => {
  const calls: string[] = [];
  const r = model.runWithHooks(prompt, {
    attn_out: (_x, ctx) => {
      calls.push(`${ctx.name}@${ctx.layer}`);
    },
  });
  assert.deepEqual(calls, ["blocks.0.hook_attn_out@0", "blocks.1.hook_attn_out@1"]);
  r.dispose();
});

test("unknown hook names and misshapen replacements are ArgumentErrors", () => {
  assert.throws(() => model.runWithHooks(prompt, { "blocks.9.hook_resid_post": () => undefined }), ArgumentError);
  assert.throws(() => model.run(prompt, { cache: ["resid_postt"] }), ArgumentError);
  const baseline = tf.memory().numTensors;
  assert.throws(() => model.runWithHooks(prompt, { "blocks.0.hook_resid_post": (x) => x.slice([0, 0, 0], [1, 1, -1]) }), /returned shape/);
  assert.equal(tf.memory().numTensors, baseline);
});

test("a hook that throws leaks nothing, and the next run is unaffected", async () => {
  const before = model.run(prompt);
  const expected = await before.logits.data();
  before.dispose();
  const baseline = tf.memory().numTensors;
  assert.throws(
    () =>
      model.runWithHooks(
        prompt,
        {
          "blocks.0.hook_resid_mid": (x) => x.mul(0),
          "blocks.1.attn.hook_pattern": () => {
            throw new Error("hook failure");
          },
        },
        { cache: ["resid_post", "pattern"] },
      ),
    /hook failure/,
  );
  assert.equal(tf.memory().numTensors, baseline, "tensors after the throwing hook");
  const again = model.run(prompt);
  assert.equal(maxAbsDiff(await again.logits.data(), expected), 0, "hooks were removed with the failed run");
  again.dispose();
});

test("accumulatedResid stacks resid_pre 0 and every resid_post; applyFinalNorm + unembed of the last gives the logits", async () => {
  const r = model.run(prompt, { cache: ["resid_pre", "resid_post"] });
  const acc = r.cache.accumulatedResid();
  const T = r.tokens[0].length;
  assert.deepEqual(acc.shape, [model.nLayers + 1, 1, T, model.config.hiddenSize]);
  const logits = tf.tidy(() => model.unembed(model.applyFinalNorm(acc.slice([model.nLayers], [1]).squeeze([0]))));
  assert.ok(maxAbsDiff(await logits.data(), await r.logits.data()) < 1e-5);
  const stack = r.cache.stack("resid_post");
  assert.deepEqual(stack.shape, [model.nLayers, 1, T, model.config.hiddenSize]);
  for (const t of [acc, logits, stack]) t.dispose();
  r.dispose();
});
