// Inputs that used to load and then fail obscurely, hang, or fail in the wrong order: each is now refused at
// load with a typed error naming the file or field (issue 18, items 3, 5, 6, 7).
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { test } from "node:test";
import type { SelectionReport } from "../../src/backend";
import { ConfigError, MissingFileError, ModelTooLargeError, NotRegularFileError, TokenizerVocabError, UnsupportedArchitectureError } from "../../src/errors";
import { openCheckpoint } from "../../src/io/checkpoint";
import { normalizeConfig } from "../../src/io/config";
import { checkMemoryFits, estimateMemory } from "../../src/io/memory-estimate";
import { estimateMemoryFromConfig } from "../../src/io/memory-from-config";
import { openWeightSource } from "../../src/io/safetensors-weights";
import { loadModel } from "../../src/load";
import { copyCheckpoint, ROOT, tempDir, TINY } from "./helpers";

const LLAMA = path.join(TINY, "llama");

function editConfig(dir: string, edit: (c: Record<string, any>) => void): void {
  const file = path.join(dir, "config.json");
  const config = JSON.parse(fs.readFileSync(file, "utf8"));
  edit(config);
  fs.writeFileSync(file, JSON.stringify(config));
}

test("a tokenizer with ids beyond the embedding is a TokenizerVocabError naming tokenizer.json and config.json", async () => {
  const dir = copyCheckpoint(LLAMA);
  const vocabSize = JSON.parse(fs.readFileSync(path.join(dir, "config.json"), "utf8")).vocab_size;
  const tokenizer = JSON.parse(fs.readFileSync(path.join(dir, "tokenizer.json"), "utf8"));
  tokenizer.added_tokens.push({ id: vocabSize, content: "<|beyond|>", single_word: false, lstrip: false, rstrip: false, normalized: false, special: true });
  fs.writeFileSync(path.join(dir, "tokenizer.json"), JSON.stringify(tokenizer));
  await assert.rejects(loadModel(dir, { backend: "cpu" }), (e: any) => {
    assert.ok(e instanceof TokenizerVocabError, String(e));
    assert.equal(e.id, vocabSize);
    assert.equal(e.rows, vocabSize);
    assert.match(e.message, /tokenizer\.json/);
    assert.match(e.message, /config\.json/);
    assert.match(e.message, /<\|beyond\|>/);
    return true;
  });
});

test("a FIFO or a directory in place of a checkpoint file is a NotRegularFileError naming it, never a hang", () => {
  for (const name of ["model.safetensors", "config.json", "tokenizer.json", "tokenizer_config.json", "generation_config.json"]) {
    for (const kind of ["fifo", "directory"] as const) {
      const dir = copyCheckpoint(LLAMA);
      const file = path.join(dir, name);
      fs.rmSync(file);
      if (kind === "directory") fs.mkdirSync(file);
      else assert.equal(spawnSync("mkfifo", [file]).status, 0, "mkfifo");
      assert.throws(() => openCheckpoint(dir).weights.close(), (e: any) => {
        assert.ok(e instanceof NotRegularFileError, `${name} as ${kind}: ${e}`);
        assert.equal(e.file, file);
        assert.match(e.kind, kind === "fifo" ? /FIFO/ : /directory/);
        return true;
      });
    }
  }
});

test("a symlink to a regular file is followed; a symlink to a FIFO is refused", () => {
  const dir = copyCheckpoint(LLAMA);
  const real = path.join(tempDir(), "weights.safetensors");
  fs.renameSync(path.join(dir, "model.safetensors"), real);
  fs.symlinkSync(real, path.join(dir, "model.safetensors"));
  openCheckpoint(dir).weights.close();
  fs.rmSync(real);
  assert.equal(spawnSync("mkfifo", [real]).status, 0);
  assert.throws(() => openCheckpoint(dir), (e: any) => e instanceof NotRegularFileError && /FIFO/.test(e.kind));
});

const BASE = { model_type: "llama", hidden_size: 8, num_attention_heads: 2, num_hidden_layers: 1, intermediate_size: 16, vocab_size: 10, max_position_embeddings: 64 };

test("RoPE factors of zero or below, and a llama3 ramp that divides by zero, are ConfigErrors naming the field", () => {
  for (const type of ["linear", "dynamic", "yarn", "llama3"]) {
    for (const factor of [0, -2]) {
      const rope_parameters = { rope_type: type, rope_theta: 10000, factor, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 32 };
      assert.throws(() => normalizeConfig({ ...BASE, rope_parameters }, "config.json"), (e: any) => e instanceof ConfigError && e.field === "rope_parameters.factor", `${type} ${factor}`);
    }
  }
  // transformers only warns about factors in (0, 1) and computes with them: so does lmprobe.
  assert.equal(normalizeConfig({ ...BASE, rope_parameters: { rope_type: "linear", rope_theta: 10000, factor: 0.5 } }, "c").rope!.factor, 0.5);
  const llama3 = { rope_type: "llama3", rope_theta: 10000, factor: 8, original_max_position_embeddings: 32 };
  assert.throws(() => normalizeConfig({ ...BASE, rope_scaling: { ...llama3, low_freq_factor: 0, high_freq_factor: 4 } }, "c"), (e: any) => e instanceof ConfigError && e.field === "rope_scaling.low_freq_factor");
  assert.throws(() => normalizeConfig({ ...BASE, rope_scaling: { ...llama3, low_freq_factor: 2, high_freq_factor: 2 } }, "c"), (e: any) => e instanceof ConfigError && e.field === "rope_scaling.high_freq_factor");
});

test("rope_scaling beside rope_parameters: the same scaling is accepted, a different or bogus one is a ConfigError", () => {
  const rope_parameters = { rope_type: "linear", rope_theta: 500000, factor: 2 };
  assert.equal(normalizeConfig({ ...BASE, rope_parameters, rope_scaling: { type: "linear", factor: 2 } }, "c").rope!.factor, 2);
  assert.throws(() => normalizeConfig({ ...BASE, rope_parameters, rope_scaling: { type: "linear", factor: 8 } }, "c"), (e: any) => e instanceof ConfigError && e.field === "rope_scaling" && /factor: 8 vs 2/.test(e.message));
  assert.throws(() => normalizeConfig({ ...BASE, rope_parameters, rope_scaling: { rope_type: "bogus" } }, "c"), (e: any) => e instanceof ConfigError && e.field === "rope_scaling.rope_type");
});

test("model_type and hidden_act that name Object.prototype members are the typed unsupported errors", async () => {
  for (const modelType of ["constructor", "toString", "__proto__", "hasOwnProperty", "valueOf"]) {
    const dir = copyCheckpoint(LLAMA);
    editConfig(dir, (c) => (c.model_type = modelType));
    await assert.rejects(loadModel(dir, { backend: "cpu" }), (e: any) => e instanceof UnsupportedArchitectureError && e.modelType === modelType, modelType);
  }
  const dir = copyCheckpoint(LLAMA);
  editConfig(dir, (c) => (c.hidden_act = "constructor"));
  await assert.rejects(loadModel(dir, { backend: "cpu" }), (e: any) => /hidden_act/.test(e.message) && /"constructor"/.test(e.message) && e.name !== "TypeError");
  // a "__proto__" key in config.json is an ordinary (ignored) field, not a prototype
  const proto = JSON.parse(`{"__proto__": {"hidden_size": 999}, ${JSON.stringify(BASE).slice(1)}`);
  assert.equal(normalizeConfig(proto, "c").hiddenSize, 8);
});

const LLAMA_70B = {
  model_type: "llama", hidden_size: 8192, intermediate_size: 28672, num_attention_heads: 64, num_key_value_heads: 8,
  num_hidden_layers: 80, vocab_size: 128256, max_position_embeddings: 8192, rms_norm_eps: 1e-5, rope_theta: 500000,
};

test("a 70B config with no weights says too large before it says missing weights", async () => {
  const dir = copyCheckpoint(LLAMA, (n) => n.endsWith(".safetensors"));
  editConfig(dir, (c) => Object.assign(c, LLAMA_70B));
  await assert.rejects(loadModel(dir, { backend: "wasm" }), (e: any) => e instanceof ModelTooLargeError && e.backend === "wasm");
  // the config-only figure is a lower bound of the headers' figure
  const ck = openWeightSource(LLAMA);
  const fromHeaders = estimateMemory(ck);
  ck.close();
  const fromConfig = estimateMemoryFromConfig(normalizeConfig(JSON.parse(fs.readFileSync(path.join(LLAMA, "config.json"), "utf8")), "c"));
  assert.ok(fromConfig.weightBytes <= fromHeaders.weightBytes && fromConfig.weightBytes > 0.5 * fromHeaders.weightBytes, `${fromConfig.weightBytes} vs ${fromHeaders.weightBytes}`);
});

// Too large in float32 for wasm's 4 GiB (~11 GB) but not read a block at a time (~2 GB): the check from config.json
// alone, made before any weight is asked for (a hub download), must let it through, so the missing weights are
// what stops this load; with layerStreaming "never" it is too large.
const LLAMA_DEEP = { ...LLAMA_70B, hidden_size: 2048, intermediate_size: 8192, num_attention_heads: 16, num_key_value_heads: 16, num_hidden_layers: 40, vocab_size: 32000 };

test("a config too large in float32 but not streamed passes the check from config.json alone", async () => {
  const dir = copyCheckpoint(LLAMA, (n) => n.endsWith(".safetensors"));
  editConfig(dir, (c) => Object.assign(c, LLAMA_DEEP));
  await assert.rejects(loadModel(dir, { backend: "wasm" }), (e: any) => e instanceof MissingFileError && /safetensors/.test(e.message));
  await assert.rejects(loadModel(dir, { backend: "wasm", layerStreaming: "never" }), (e: any) => e instanceof ModelTooLargeError && !e.streamed && e.backend === "wasm");
});

function reportWith(webgpu: { available: boolean; status: "chosen" | "available" | "unavailable" | "skipped" }): SelectionReport {
  return { chosen: "wasm", via: "auto", candidates: [{ name: "webgpu", reason: "test", ...webgpu }, { name: "wasm", status: "chosen", available: true, reason: "test" }] };
}

test("the fix offers webgpu only where an adapter was found or not looked for", () => {
  const estimate = estimateMemoryFromConfig(normalizeConfig(LLAMA_70B, "c"));
  const fixOf = (report: SelectionReport) => {
    try {
      checkMemoryFits(estimate, "wasm", report);
    } catch (e) {
      assert.ok(e instanceof ModelTooLargeError);
      return e.backendsThatFit.join("; ") + " | " + (e.fix ?? "");
    }
    assert.fail("a 70B model fits wasm?");
  };
  assert.doesNotMatch(fixOf(reportWith({ available: false, status: "unavailable" })), /webgpu/);
  assert.match(fixOf(reportWith({ available: true, status: "available" })), /webgpu/);
  assert.match(fixOf(reportWith({ available: false, status: "unavailable" })), /lmprobe doctor/);
});

test("bench:load that cannot run exits non-zero with the message in its error field", () => {
  const dir = tempDir();
  // An index naming a shard that is not there: the bench skips writing its checkpoint and every load fails.
  fs.writeFileSync(path.join(dir, "model.safetensors.index.json"), JSON.stringify({ weight_map: { "model.embed_tokens.weight": "model-00001-of-00001.safetensors" } }));
  fs.copyFileSync(path.join(LLAMA, "config.json"), path.join(dir, "config.json"));
  const run = spawnSync(process.execPath, ["--import", "tsx", path.join(ROOT, "bench/load-checkpoint.ts"), "--keep", dir], { cwd: ROOT, encoding: "utf8" });
  assert.notEqual(run.status, 0, run.stdout + run.stderr);
  const result = JSON.parse(run.stdout);
  assert.match(result.error, /model-00001-of-00001\.safetensors/);
});

test("a hub model too large for the backend is refused after config.json, before its weights are downloaded", async () => {
  const { startHubServer } = await import("./hub-server");
  const config = { ...JSON.parse(fs.readFileSync(path.join(LLAMA, "config.json"), "utf8")), ...LLAMA_70B };
  const server = await startHubServer({ repos: { "big/model": LLAMA }, extra: { "big/model": { "config.json": Buffer.from(JSON.stringify(config)) } } });
  const saved = { ...process.env };
  try {
    process.env.HF_ENDPOINT = server.endpoint;
    await assert.rejects(loadModel("big/model", { cacheDir: tempDir(), backend: "wasm" }), (e: any) => e instanceof ModelTooLargeError);
    assert.ok(!server.requests.some((r) => r.startsWith("GET") && r.includes("model.safetensors")), server.requests.join("\n"));
  } finally {
    process.env = saved;
    await server.close();
  }
});
