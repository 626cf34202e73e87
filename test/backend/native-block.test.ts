// cpu-native's whole block as one onnxruntime call (fusedBlock, model/whole-block.ts): taken where nothing observes
// the inside of a block, with the numbers of the block run op by op (which the parity suite checks against the
// reference); not taken where an inner hook, a KV cache or a streamed intermediate needs the ops apart; and a hook
// on the block's input or output still acts.
import { before, test } from "node:test";
import assert from "node:assert/strict";
import path from "node:path";
import * as tf from "@tensorflow/tfjs-core";
import { setBackend } from "../../src/backend";
import { loadModel } from "../../src/load";
import type { LanguageModel } from "../../src/model/model";
import type { HookMap } from "../../src/model/hooks";
import { attentionStreaming } from "../../src/model/components/attention-streamed";

const TINY = path.resolve(__dirname, "../fixtures/tiny");
const GENERATED = path.resolve(__dirname, "../fixtures/generated");

before(async () => {
  await setBackend("cpu-native");
});

interface Pass {
  logits: Float32Array;
  posts: Float32Array[];
  blocks: number;
}

/** One pass caching every hook_resid_post (plus `extra` hooks on every layer), counting LmprobeBlock calls. */
async function pass(model: LanguageModel, ids: number[], extra: string[] = [], hooks: HookMap = {}): Promise<Pass> {
  const L = model.config.numLayers;
  const names = new Set(Array.from({ length: L }, (_, l) => [`blocks.${l}.hook_resid_post`, ...extra.map((h) => `blocks.${l}.${h}`)]).flat());
  let out: Pass = { logits: new Float32Array(), posts: [], blocks: 0 };
  const info = await tf.profile(async () => {
    const r = model.runWithHooks([ids], hooks, { cache: (n) => names.has(n) });
    out.logits = (await r.logits.data()) as Float32Array;
    out.posts = await Promise.all(Array.from({ length: L }, async (_, l) => (await r.cache.get(`blocks.${l}.hook_resid_post`).data()) as Float32Array));
    r.dispose();
    return [];
  });
  out = { ...out, blocks: info.kernels.filter((k) => k.name === "LmprobeBlock").length };
  return out;
}

/** Largest |a − b| relative to 1 + |b|. */
function worst(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]) / (1 + Math.abs(b[i])));
  return m;
}

// gpt2: LayerNorm with biases, q/k/v and W_O biases, gelu_tanh, no rotary. llama: RMSNorm, rotary, grouped k/v,
// gated silu. qwen2: q/k/v biases. stablelm: LayerNorm and partial rotary (features past the rotated ones pass
// through). gemma: RMSNorm's (1 + w) offset, gated gelu_tanh.
const CASES = [
  { name: "gpt2", dir: path.join(TINY, "gpt2") },
  { name: "llama", dir: path.join(TINY, "llama") },
  { name: "qwen2", dir: path.join(TINY, "qwen2") },
  { name: "stablelm", dir: path.join(GENERATED, "stablelm") },
  { name: "gemma", dir: path.join(GENERATED, "gemma") },
];

for (const c of CASES) {
  test(`${c.name} on cpu-native: one call per block where only the residual stream is cached, with the numbers of the block op by op`, async () => {
    const model = await loadModel(c.dir);
    try {
      const L = model.config.numLayers;
      const ids = Array.from({ length: 40 }, (_, i) => (i * 37 + 5) % Math.min(200, model.config.vocabSize));
      const before = tf.memory().numTensors;
      const whole = await pass(model, ids);
      // Caching hook_resid_mid (which changes no op) sends every block op by op.
      const apart = await pass(model, ids, ["hook_resid_mid"]);
      assert.equal(whole.blocks, L, "one block call per layer");
      assert.equal(apart.blocks, 0, "an observed inner hook: op by op");
      assert.ok(worst(whole.logits, apart.logits) <= 1e-6, `logits: ${worst(whole.logits, apart.logits)}`);
      for (let l = 0; l < L; l++) assert.ok(worst(whole.posts[l], apart.posts[l]) <= 1e-6, `resid_post ${l}: ${worst(whole.posts[l], apart.posts[l])}`);
      assert.equal(tf.memory().numTensors, before, "tensors leaked");
    } finally {
      model.dispose();
    }
  });
}

test("cpu-native whole block: every inner hook point, observed, sends its block op by op; a hook on the block's input still acts", async () => {
  const model = await loadModel(path.join(TINY, "llama"));
  try {
    const ids = Array.from({ length: 24 }, (_, i) => (i * 11 + 3) % 200);
    for (const inner of ["ln1.hook_normalized", "attn.hook_q", "attn.hook_rot_k", "attn.hook_pattern", "attn.hook_z", "hook_attn_out", "ln2.hook_normalized", "mlp.hook_post", "hook_mlp_out"]) {
      const r = await pass(model, ids, [inner]);
      assert.equal(r.blocks, 0, `${inner} observed: no block call`);
    }
    // An intervention on hook_resid_pre changes the block's input: the block call must see the changed stream.
    const shift = { "blocks.1.hook_resid_pre": (t: tf.Tensor) => tf.neg(t) };
    const whole = await pass(model, ids, [], shift);
    const apart = await pass(model, ids, ["hook_resid_mid"], shift);
    const plain = await pass(model, ids);
    assert.equal(whole.blocks, model.config.numLayers);
    assert.ok(worst(whole.logits, apart.logits) <= 1e-6, "the shifted input reaches the block call");
    assert.ok(worst(whole.logits, plain.logits) > 1e-3, "and changes the logits");
  } finally {
    model.dispose();
  }
});

test("cpu-native whole block: a padded batch of two prompts gives the numbers of its blocks op by op", async () => {
  const model = await loadModel(path.join(TINY, "llama"));
  try {
    const L = model.config.numLayers;
    const prompts = [Array.from({ length: 30 }, (_, i) => (i * 13 + 2) % 200), Array.from({ length: 17 }, (_, i) => (i * 29 + 7) % 200)];
    const read = async (extra: string[]) => {
      const names = new Set(Array.from({ length: L }, (_, l) => [`blocks.${l}.hook_resid_post`, ...extra.map((h) => `blocks.${l}.${h}`)]).flat());
      let logits = new Float32Array();
      const info = await tf.profile(async () => {
        const r = model.run(prompts, { cache: (n) => names.has(n) });
        logits = (await r.logits.data()) as Float32Array;
        r.dispose();
        return [];
      });
      return { logits, blocks: info.kernels.filter((k) => k.name === "LmprobeBlock").length };
    };
    const whole = await read([]);
    const apart = await read(["hook_resid_mid"]);
    assert.equal(whole.blocks, L);
    assert.equal(apart.blocks, 0);
    assert.ok(worst(whole.logits, apart.logits) <= 1e-6, `logits: ${worst(whole.logits, apart.logits)}`);
  } finally {
    model.dispose();
  }
});

test("cpu-native whole block: not taken with a KV cache, nor where attention's scores would be streamed", async () => {
  const model = await loadModel(path.join(TINY, "llama"));
  const saved = attentionStreaming.minScoreFloats;
  try {
    const ids = Array.from({ length: 24 }, (_, i) => (i * 11 + 3) % 200);
    const info = await tf.profile(async () => {
      await model.generate(ids, { maxNewTokens: 3, temperature: 0 });
      return [] as tf.Tensor[];
    });
    assert.equal(info.kernels.filter((k) => k.name === "LmprobeBlock").length, 0, "generate (KV cache): op by op");
    attentionStreaming.minScoreFloats = 16;
    const streamed = await pass(model, ids);
    assert.equal(streamed.blocks, 0, "scores above the streaming size: op by op");
  } finally {
    attentionStreaming.minScoreFloats = saved;
    model.dispose();
  }
});

