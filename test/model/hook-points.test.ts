import path from "node:path";
import { openCheckpoint } from "../../src/io/checkpoint";
import { buildModel } from "../../src/model/build";
// The table of hook points (src/model/hook-points.ts) is the single source of hook names, axes and existence:
// checked here against what the forward pass really calls, architecture by architecture, and against the
// interventions' layouts and the errors for mistyped names.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import * as tf from "@tensorflow/tfjs-core";
import { ArgumentError, UnknownHookError } from "../../src/errors";
import { HOOK_POINTS, hookPointNames, hookPointOf, type HookAxis } from "../../src/model/hook-points";
import { resolveHookName } from "../../src/model/hooks";
import type { LanguageModel } from "../../src/model/model";
import { hookLayout } from "../../src/intervene/hook-layout";
import { zeroAblate } from "../../src/intervene/zero-ablate";
import { loadFixture, useBackend } from "./engine-helpers";

// gpt2: learned positions, no rotary · gpt_neox: parallel blocks · llama: gated, rotary · gemma2: post norms ·
// mixtral and qwen3_moe: mixtures of experts.
const FIXTURES = ["gpt2", "gpt_neox", "llama", "gemma2", "mixtral", "qwen3_moe"];
// Generated fixtures whose points no tiny fixture has: a shared expert (qwen2_moe), latent attention (deepseek_v3).
const GENERATED = ["qwen2_moe", "deepseek_v3"];
const models = new Map<string, LanguageModel>();
const generated = new Map<string, LanguageModel>();
const prompt = "When Mary and John went to the store";

before(async () => {
  await useBackend();
  for (const name of FIXTURES) models.set(name, loadFixture(name));
  for (const name of GENERATED) {
    const checkpoint = openCheckpoint(path.join(__dirname, "..", "fixtures", "generated", name));
    try {
      generated.set(name, buildModel(checkpoint, name));
    } finally {
      checkpoint.weights.close();
    }
  }
});
after(() => [...models.values(), ...generated.values()].forEach((m) => m.dispose()));

function axisSize(model: LanguageModel, axis: HookAxis, T: number): number {
  const c = model.config;
  const sizes: Record<HookAxis, number> = {
    batch: 1,
    pos: T,
    query: T,
    key: T,
    head: c.numHeads,
    kv_head: c.numKVHeads,
    d_head: c.headDim,
    d_model: c.hiddenSize,
    d_mlp: c.intermediateSize,
    d_q_latent: NaN, // only on the generated DeepSeek-V3 fixture, which the shape test does not load
    d_kv_latent: NaN,
    expert: c.moe?.numExperts ?? NaN,
    k: c.moe?.topK ?? NaN,
  };
  return sizes[axis];
}

test("the forward pass calls exactly the table's hook points, in its order, with the table's axes", () => {
  for (const [name, model] of models) {
    const baseline = tf.memory().numTensors;
    const r = model.run(prompt, { cache: () => true });
    const T = r.tokens[0].length;
    assert.deepEqual(r.cache.names(), hookPointNames(model.weights), `${name}: hook points called`);
    for (const hook of r.cache.names()) {
      const point = hookPointOf(hook)!;
      const expected = point.axes.map((a) => axisSize(model, a, T));
      assert.deepEqual(r.cache.get(hook).shape, expected, `${name}: ${hook} has axes [${point.axes}]`);
    }
    r.dispose();
    assert.equal(tf.memory().numTensors, baseline);
  }
});

test("every point of the table occurs in some architecture, and each condition both holds and fails among the fixtures", () => {
  const all = [...models.values(), ...generated.values()];
  const everywhere = new Set(all.flatMap((m) => m.hookPoints().map((n) => hookPointOf(n)!.short)));
  assert.deepEqual(HOOK_POINTS.map((p) => p.short).filter((s) => !everywhere.has(s)), []);
  // ln1/ln2 are absent only on post-norm blocks (olmo2), which have no fixture checkpoint here; every family has a
  // final norm (the canonical layout allows none).
  const everyFixture = new Set(["always", "ln1", "ln2", "final_norm"]);
  for (const p of HOOK_POINTS.filter((q) => !everyFixture.has(q.when))) {
    const has = all.filter((m) => m.hookPoints().some((n) => hookPointOf(n) === p));
    assert.ok(has.length > 0 && has.length < all.length, `${p.name} (${p.when}) exists on some fixtures only`);
  }
});

test("the interventions' layouts follow the table's axes", () => {
  assert.deepEqual(hookLayout("blocks.0.attn.hook_z"), { position: 1, head: 2, unit: null, unitName: null });
  assert.deepEqual(hookLayout("blocks.1.attn.hook_k"), { position: 1, head: 2, unit: null, unitName: null });
  assert.deepEqual(hookLayout("blocks.0.attn.hook_pattern"), { position: 2, head: 1, unit: null, unitName: null });
  assert.deepEqual(hookLayout("blocks.0.mlp.hook_pre_linear"), { position: 1, head: null, unit: 2, unitName: "neuron" });
  assert.deepEqual(hookLayout("blocks.2.mlp.hook_router_logits"), { position: 1, head: null, unit: 2, unitName: "expert" });
  assert.deepEqual(hookLayout("blocks.2.mlp.hook_expert_indices"), { position: 1, head: null, unit: null, unitName: null });
  assert.deepEqual(hookLayout("hook_embed"), { position: 1, head: null, unit: null, unitName: null });
  assert.throws(() => zeroAblate("blocks.0.mlp.hook_expert_weights", { neuron: 0 }), ArgumentError);
});

test("a mistyped hook name is an UnknownHookError that suggests the nearest name the model has", () => {
  const llama = models.get("llama")!;
  const typo = (fn: () => unknown, suggestion: string | null) =>
    assert.throws(fn, (e: unknown) => e instanceof UnknownHookError && e instanceof ArgumentError && e.suggestion === suggestion);
  typo(() => llama.run(prompt, { cache: ["resid_postt"] }), "resid_post");
  typo(() => llama.runWithHooks(prompt, { "blocks.0.attn.hook_zz": () => undefined }), "blocks.0.attn.hook_z");
  typo(() => llama.run(prompt, { cache: ["blocks.1.mlp.hook_pst"] }), "blocks.1.mlp.hook_post");
  typo(() => resolveHookName("resid_pots", 0), "resid_post");
  // A point this architecture lacks is not "suggested" back: llama has no learned position embedding.
  typo(() => llama.run(prompt, { cache: ["hook_pos_embed"] }), null);
  // A block past the last names the range rather than a different block.
  assert.throws(
    () => llama.run(prompt, { cache: ["blocks.9.hook_resid_post"] }),
    (e: unknown) => e instanceof UnknownHookError && /blocks 0 … 1/.test((e as Error).message),
  );
  assert.throws(() => llama.run(prompt, { cache: ["something_else"] }), (e: unknown) => e instanceof UnknownHookError && e.suggestion === null);
});
