// Out-of-range selections and wrong-typed prompts are typed errors naming the caller's argument and the valid
// range, raised when the hook runs: never a silent no-op that makes an intervention look ineffective.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { zeroAblate } from "../../src/intervene/zero-ablate";
import { meanAblate } from "../../src/intervene/mean-ablate";
import { resampleAblate } from "../../src/intervene/resample-ablate";
import { steer } from "../../src/intervene/steering";
import { activationPatching } from "../../src/intervene/activation-patching";
import { causalTrace } from "../../src/intervene/causal-trace";
import { ArgumentError } from "../../src/errors";
import { ANSWERS, CLEAN, CORRUPTED, model } from "./helpers";

/** Asserts an ArgumentError naming `argument` (exactly) whose message matches `pattern`. */
function argumentError(argument: string, pattern?: RegExp) {
  return (e: unknown) => {
    assert.ok(e instanceof ArgumentError, `an ArgumentError, got ${String(e)}`);
    assert.equal(e.argument, argument);
    if (pattern) assert.match(e.message, pattern);
    return true;
  };
}

test("a position outside the prompt raises at hook time, naming target.position and the valid range", async () => {
  const m = await model();
  const T = m.toTokens(CLEAN).length;
  const before = tf.memory().numTensors;
  for (const position of [T, T + 4, -T - 1]) {
    assert.throws(
      () => m.runWithHooks(CLEAN, zeroAblate("blocks.0.hook_resid_pre", { position })),
      argumentError("target.position", new RegExp(`holds ${position} but the prompt at "blocks.0.hook_resid_pre" has ${T} positions \\(valid: 0 … ${T - 1}, or ${-T} … -1`)),
    );
  }
  // Query axis of the pattern; a list with one bad entry; with a head selection beside it.
  assert.throws(() => m.runWithHooks(CLEAN, zeroAblate("blocks.1.attn.hook_pattern", { position: [0, T] })), argumentError("target.position"));
  assert.throws(() => m.runWithHooks(CLEAN, zeroAblate("blocks.0.attn.hook_z", { head: 1, position: 99 })), argumentError("target.position"));
  assert.equal(tf.memory().numTensors, before, "no tensor left behind by the failed runs");
  // The extremes of the range are accepted.
  for (const position of [0, T - 1, -1, -T]) m.runWithHooks(CLEAN, zeroAblate("blocks.0.hook_resid_pre", { position })).dispose();
});

test("heads and neurons out of range for the activation name their argument and range", async () => {
  const m = await model();
  const heads = m.config.numHeads;
  assert.throws(() => m.runWithHooks(CLEAN, zeroAblate("blocks.0.attn.hook_z", { head: heads })), argumentError("target.head", new RegExp(`indices 0 … ${heads - 1}`)));
  const d = m.weights.blocks[0].mlp.kind === "dense" ? m.weights.blocks[0].mlp.W_out.shape[0] : 0;
  assert.throws(() => m.runWithHooks(CLEAN, zeroAblate("blocks.0.mlp.hook_post", { neuron: d })), argumentError("target.neuron", new RegExp(`indices 0 … ${d - 1}`)));
});

test("in generate, prompt positions select the same cells with and without the key/value cache; others raise", async () => {
  const m = await model();
  const T = m.toTokens(CLEAN).length;
  for (const useCache of [true, false]) {
    await assert.rejects(m.generate(CLEAN, { maxNewTokens: 2, useCache, hooks: zeroAblate("blocks.0.hook_resid_pre", { position: T }) }), argumentError("target.position"));
  }
  const hooks = zeroAblate("blocks.0.hook_resid_pre", { position: -2 });
  const a = await m.generate(CLEAN, { maxNewTokens: 3, useCache: true, hooks });
  const b = await m.generate(CLEAN, { maxNewTokens: 3, useCache: false, hooks });
  assert.deepEqual(a.tokens, b.tokens);
  a.dispose();
  b.dispose();
});

test("mean and resample ablation options positions are checked too (argument options.position)", async () => {
  const m = await model();
  const mean = await meanAblate(m, "blocks.0.hook_attn_out", [CLEAN, CORRUPTED], { position: 7 });
  assert.throws(() => m.runWithHooks(CLEAN, mean), argumentError("options.position", /has 5 positions/));
  const resample = await resampleAblate(m, "blocks.0.hook_attn_out", [CORRUPTED], { position: -9 });
  assert.throws(() => m.runWithHooks(CLEAN, resample), argumentError("options.position"));
});

test("steering positions outside the prompt raise, naming positions", async () => {
  const m = await model();
  const v = { hook: "blocks.1.hook_resid_pre", vector: new Float32Array(m.config.hiddenSize).fill(0.1) };
  assert.throws(() => m.runWithHooks(CLEAN, steer(v, 1, { positions: [9] })), argumentError("positions", /valid: 0 … 4/));
});

test("a wrong-typed prompt names the caller's argument, not the model's \"input\"", async () => {
  const m = await model();
  const bad = 42 as unknown as string;
  await assert.rejects(meanAblate(m, "blocks.0.hook_attn_out", bad), argumentError("reference", /is empty or not text\/ids/));
  await assert.rejects(meanAblate(m, "blocks.0.hook_attn_out", [[1, 2], [1e9]]), argumentError("reference[1][0]", /not a token id/));
  await assert.rejects(resampleAblate(m, "blocks.0.hook_attn_out", bad), argumentError("source"));
  await assert.rejects(activationPatching(m, { clean: bad, corrupted: CORRUPTED, answers: ANSWERS }), argumentError("clean"));
  await assert.rejects(activationPatching(m, { clean: CLEAN, corrupted: [] as unknown as string, answers: ANSWERS }), argumentError("corrupted"));
  await assert.rejects(causalTrace(m, {} as unknown as string, { subject: "France" }), argumentError("prompt"));
});
