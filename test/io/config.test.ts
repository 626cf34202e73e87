// normalizeConfig: every fixture's config, the old and new RoPE forms, family spellings and defaults, and
// ConfigError naming the field for bad input.
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { test } from "node:test";
import { ConfigError } from "../../src/errors";
import { normalizeConfig } from "../../src/io/config";

const TINY = path.resolve(__dirname, "../fixtures/tiny");
const read = (name: string) => JSON.parse(fs.readFileSync(path.join(TINY, name, "config.json"), "utf8"));

test("Llama 3 rope_scaling in the old top-level form equals the same settings as rope_parameters", () => {
  const old = read("llama3-f16-sharded");
  const a = normalizeConfig(old, "old.json");
  const { rope_theta, rope_scaling, ...rest } = old;
  const b = normalizeConfig({ ...rest, rope_parameters: { ...rope_scaling, rope_theta } }, "new.json");
  assert.deepEqual(a.rope, b.rope);
  assert.equal(a.rope!.ropeType, "llama3");
  assert.equal(a.rope!.theta, 500000);
  assert.equal(a.rope!.originalMaxPositions, 16);
  assert.equal(a.rope!.factor, 8);
});

test("GPT-2 spellings, GPT-NeoX partial rotary, Gemma 2 layer types and softcaps", () => {
  const gpt2 = normalizeConfig(read("gpt2"), "gpt2.json");
  assert.deepEqual([gpt2.hiddenSize, gpt2.numLayers, gpt2.numHeads, gpt2.headDim, gpt2.maxPositions, gpt2.intermediateSize], [64, 2, 4, 16, 128, 256]);
  assert.equal(gpt2.activation, "gelu_new");
  assert.equal(gpt2.rope, null);
  const neox = normalizeConfig(read("gpt_neox"), "neox.json");
  assert.equal(neox.rope!.partialRotaryFactor, 0.25);
  assert.equal(neox.parallelResidual, true);
  const { rope_parameters, ...oldNeox } = read("gpt_neox");
  const neoxOld = normalizeConfig({ ...oldNeox, rotary_pct: 0.5, rotary_emb_base: 1000 }, "neox-old.json");
  assert.equal(neoxOld.rope!.partialRotaryFactor, 0.5);
  assert.equal(neoxOld.rope!.theta, 1000);
  assert.ok(rope_parameters);
  const gemma = normalizeConfig(read("gemma2"), "gemma2.json");
  assert.deepEqual(gemma.layerTypes, ["sliding_attention", "full_attention"]);
  assert.deepEqual([gemma.slidingWindow, gemma.attnLogitSoftcap, gemma.finalLogitSoftcap, gemma.queryPreAttnScalar], [8, 50, 30, 16]);
  assert.equal(gemma.activation, "gelu_pytorch_tanh");
  const { layer_types, ...noTypes } = read("gemma2");
  assert.deepEqual(normalizeConfig(noTypes, "g.json").layerTypes, layer_types, "Gemma 2 alternates by default");
});

test("sliding windows: Mistral slides every layer; Qwen2 only with use_sliding_window", () => {
  const mistral = normalizeConfig(read("mistral"), "m.json");
  assert.deepEqual(mistral.layerTypes, ["sliding_attention", "sliding_attention"]);
  assert.equal(mistral.slidingWindow, 8);
  const qwen = read("qwen2");
  const off = normalizeConfig({ ...qwen, sliding_window: 4, layer_types: undefined }, "q.json");
  assert.deepEqual(off.layerTypes, ["full_attention", "full_attention"]);
  assert.equal(off.slidingWindow, null);
  const on = normalizeConfig({ ...qwen, layer_types: undefined, use_sliding_window: true, sliding_window: 4, max_window_layers: 1 }, "q.json");
  assert.deepEqual(on.layerTypes, ["full_attention", "sliding_attention"]);
});

test("head_dim is explicit or derived; tie_word_embeddings and kv heads follow the family's defaults", () => {
  const llama = read("llama");
  const { head_dim, num_key_value_heads, tie_word_embeddings, ...bare } = llama;
  const c = normalizeConfig(bare, "l.json");
  assert.equal(c.headDim, 16);
  assert.equal(c.numKVHeads, c.numHeads);
  assert.equal(c.tieWordEmbeddings, false);
  assert.equal(normalizeConfig({ ...llama, head_dim: 32 }, "l.json").headDim, 32);
  assert.ok(head_dim && num_key_value_heads && tie_word_embeddings === false);
  assert.equal(normalizeConfig({ ...read("qwen2"), tie_word_embeddings: undefined }, "q.json").tieWordEmbeddings, false);
});

test("Gemma 3's old form gives local and global RoPE per layer type", () => {
  const c = normalizeConfig(
    { model_type: "gemma3_text", vocab_size: 10, hidden_size: 8, num_hidden_layers: 6, num_attention_heads: 2, head_dim: 4, rope_theta: 1e6, rope_local_base_freq: 1e4, rope_scaling: { rope_type: "linear", factor: 8 } },
    "g3.json",
  );
  assert.equal(c.ropeByLayerType!.sliding_attention!.theta, 1e4);
  assert.equal(c.ropeByLayerType!.full_attention!.theta, 1e6);
  assert.equal(c.ropeByLayerType!.full_attention!.ropeType, "linear");
  assert.deepEqual(c.layerTypes, ["sliding_attention", "sliding_attention", "sliding_attention", "sliding_attention", "sliding_attention", "full_attention"]);
});

test("bad fields raise ConfigError naming the field", () => {
  const llama = read("llama");
  const cases: [Record<string, unknown>, string][] = [
    [{ ...llama, model_type: undefined }, "model_type"],
    [{ ...llama, hidden_size: undefined }, "hidden_size"],
    [{ ...llama, num_attention_heads: 3.5 }, "num_attention_heads"],
    [{ ...llama, num_key_value_heads: 3 }, "num_key_value_heads"],
    [{ ...llama, head_dim: undefined, hidden_size: 66 }, "head_dim"],
    [{ ...llama, layer_types: ["full_attention"] }, "layer_types"],
    [{ ...llama, layer_types: ["full_attention", "chunked"] }, "layer_types[1]"],
    [{ ...llama, rope_parameters: { rope_type: "mrope", rope_theta: 1 } }, "rope_parameters.rope_type"],
    [{ ...llama, rope_parameters: { rope_type: "llama3", rope_theta: 1, factor: 8 } }, "rope_parameters.low_freq_factor"],
    [{ ...llama, rope_parameters: undefined, rope_scaling: { type: "linear" } }, "rope_scaling.factor"],
    [{ ...llama, layer_types: ["sliding_attention", "full_attention"] }, "sliding_window"],
  ];
  for (const [raw, field] of cases) {
    assert.throws(() => normalizeConfig(raw, "cfg.json"), (e: unknown) => e instanceof ConfigError && e.field === field && e.message.includes("cfg.json"), field);
  }
  assert.throws(() => normalizeConfig([], "cfg.json"), ConfigError);
});

test("a present but non-numeric RoPE or norm field is an error naming the key config.json holds, never a default", () => {
  const llama = read("llama");
  const { rope_parameters, ...llamaOld } = llama;
  const { rope_parameters: _neoxRope, ...neoxOld } = read("gpt_neox");
  const gemma3 = { model_type: "gemma3_text", vocab_size: 10, hidden_size: 8, num_hidden_layers: 2, num_attention_heads: 2, head_dim: 4 };
  assert.ok(rope_parameters);
  const cases: [Record<string, unknown>, string][] = [
    [{ ...llamaOld, rope_theta: "10000" }, "rope_theta"],
    [{ ...llamaOld, rope_theta: Infinity }, "rope_theta"],
    [{ ...llamaOld, rope_theta: -1 }, "rope_theta"],
    [{ ...llamaOld, partial_rotary_factor: "half" }, "partial_rotary_factor"],
    [{ ...llamaOld, partial_rotary_factor: NaN }, "partial_rotary_factor"],
    [{ ...llamaOld, partial_rotary_factor: 2 }, "partial_rotary_factor"],
    [{ ...neoxOld, rotary_emb_base: "1e4" }, "rotary_emb_base"],
    [{ ...neoxOld, rotary_pct: "0.25" }, "rotary_pct"],
    [{ ...neoxOld, rotary_pct: 0 }, "rotary_pct"],
    [{ ...llama, rope_parameters: { rope_type: "default", rope_theta: "x" } }, "rope_parameters.rope_theta"],
    [{ ...llama, rope_parameters: { rope_type: "default", rope_theta: 1e4, partial_rotary_factor: [1] } }, "rope_parameters.partial_rotary_factor"],
    [{ ...llama, rope_parameters: { rope_type: "default", rope_theta: 1e4, truncate: "no" } }, "rope_parameters.truncate"],
    [{ ...llamaOld, rope_scaling: { rope_type: "llama3", factor: 8, low_freq_factor: 1, high_freq_factor: 4 }, original_max_position_embeddings: "8k" }, "original_max_position_embeddings"],
    [{ ...gemma3, rope_theta: "1e6" }, "rope_theta"],
    [{ ...gemma3, rope_local_base_freq: {} }, "rope_local_base_freq"],
    [{ ...gemma3, rope_local_base_freq: 0 }, "rope_local_base_freq"],
    // Aliased fields: the key the value was read from, not lmprobe's internal name.
    [{ ...llama, rms_norm_eps: "x" }, "rms_norm_eps"],
    [{ ...read("gpt2"), layer_norm_epsilon: -1 }, "layer_norm_epsilon"],
    [{ ...read("gpt2"), n_embd: "64" }, "n_embd"],
    [{ ...read("gpt2"), n_positions: 12.5 }, "n_positions"],
    [{ ...read("gpt2"), activation_function: 3 }, "activation_function"],
    [{ ...read("qwen2"), use_sliding_window: "false" }, "use_sliding_window"],
  ];
  for (const [raw, field] of cases) {
    assert.throws(
      () => normalizeConfig(raw, "cfg.json"),
      (e: unknown) => e instanceof ConfigError && e.field === field && e.message.includes(`"${field}"`) && /fix: /.test(e.message),
      `${field} = ${String(raw[field] ?? JSON.stringify((raw.rope_parameters as Record<string, unknown> | undefined) ?? {}))}`,
    );
  }
});

test("valid spellings still read: top-level rope_theta, GPT-NeoX rotary_pct, null meaning unset, max_window_layers 0", () => {
  const { rope_parameters: _r, ...llamaOld } = read("llama");
  assert.equal(normalizeConfig({ ...llamaOld, rope_theta: 12345 }, "l.json").rope!.theta, 12345);
  assert.equal(normalizeConfig({ ...llamaOld, rope_theta: null }, "l.json").rope!.theta, 10_000, "null is unset: the default");
  const { rope_parameters: _n, ...neoxOld } = read("gpt_neox");
  const neox = normalizeConfig({ ...neoxOld, rotary_pct: 0.5, rotary_emb_base: 500 }, "n.json").rope!;
  assert.deepEqual([neox.partialRotaryFactor, neox.theta], [0.5, 500]);
  const qwen = read("qwen2");
  const on = normalizeConfig({ ...qwen, layer_types: undefined, use_sliding_window: true, sliding_window: 4, max_window_layers: 0 }, "q.json");
  assert.deepEqual(on.layerTypes, ["sliding_attention", "sliding_attention"]);
});
