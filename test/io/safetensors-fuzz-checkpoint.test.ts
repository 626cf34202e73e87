// Corrupt-input cases of issue 18, generated from a seed beside the safetensors fuzz: odd files in place of every
// checkpoint file, tokenizers reaching past the embedding, RoPE factors of zero or below, contradictory rope
// fields, model_type / hidden_act strings that name Object.prototype members, and hub bodies altered or cut in
// transit. Each must raise its typed error naming the file or field; none may hang or load.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { describe, test } from "node:test";
import { ConfigError, HubDownloadError, NotRegularFileError, TokenizerVocabError, UnsupportedArchitectureError } from "../../src/errors";
import { openCheckpoint } from "../../src/io/checkpoint";
import { normalizeConfig } from "../../src/io/config";
import { downloadCheckpoint } from "../../src/io/hub";
import { converterFor } from "../../src/model/architectures";
import { copyCheckpoint, seeded, tempDir, TINY } from "./helpers";
import { startHubServer } from "./hub-server";

const LLAMA = path.join(TINY, "llama");
const SHARDED = path.join(TINY, "llama3-f16-sharded");
const rand = seeded(1818);
let generated = 0;

describe("odd files in place of checkpoint files", () => {
  const shard = fs.readdirSync(SHARDED).find((f) => /^model-0000\d-of-.*\.safetensors$/.test(f))!;
  const targets: [string, string][] = [
    [LLAMA, "model.safetensors"], [LLAMA, "config.json"], [LLAMA, "tokenizer.json"], [LLAMA, "tokenizer_config.json"],
    [LLAMA, "generation_config.json"], [SHARDED, "model.safetensors.index.json"], [SHARDED, shard],
  ];
  const makers: Record<string, (file: string) => void> = {
    fifo: (file) => assert.equal(spawnSync("mkfifo", [file]).status, 0),
    directory: (file) => fs.mkdirSync(file),
    "symlink to a FIFO": (file) => {
      const target = path.join(tempDir(), "pipe");
      assert.equal(spawnSync("mkfifo", [target]).status, 0);
      fs.symlinkSync(target, file);
    },
    "symlink to a directory": (file) => fs.symlinkSync(tempDir(), file),
  };
  for (const [source, name] of targets) {
    for (const [kind, make] of Object.entries(makers)) {
      generated++;
      test(`${name} as a ${kind}`, () => {
        const dir = copyCheckpoint(source);
        const file = path.join(dir, name);
        fs.rmSync(file);
        make(file);
        assert.throws(() => openCheckpoint(dir).weights.close(), (e: any) => e instanceof NotRegularFileError && e.file === file, `${name} as ${kind}`);
      });
    }
  }
});

describe("tokenizer ids at or beyond the embedding rows", () => {
  const vocabSize = JSON.parse(fs.readFileSync(path.join(LLAMA, "config.json"), "utf8")).vocab_size as number;
  for (let i = 0; i < 12; i++) {
    const id = vocabSize + (i === 0 ? 0 : Math.floor(rand() * 100_000));
    const special = rand() < 0.5;
    generated++;
    test(`an ${special ? "added special" : "added"} token with id ${id}`, () => {
      const dir = copyCheckpoint(LLAMA);
      const tokenizer = JSON.parse(fs.readFileSync(path.join(dir, "tokenizer.json"), "utf8"));
      tokenizer.added_tokens.push({ id, content: `<|x${i}|>`, single_word: false, lstrip: false, rstrip: false, normalized: false, special });
      fs.writeFileSync(path.join(dir, "tokenizer.json"), JSON.stringify(tokenizer));
      assert.throws(() => openCheckpoint(dir), (e: any) => e instanceof TokenizerVocabError && e.id === id && e.rows === vocabSize && e.tokenizerFile === path.join(dir, "tokenizer.json") && e.configFile === path.join(dir, "config.json"));
    });
  }
});

const BASE = { model_type: "llama", hidden_size: 8, num_attention_heads: 2, num_hidden_layers: 1, intermediate_size: 16, vocab_size: 10, max_position_embeddings: 64, rms_norm_eps: 1e-6 };

describe("RoPE factors of zero or below", () => {
  const factors = [0, -0, -2, -1e-30, -1e30, ...Array.from({ length: 15 }, () => -rand() * 10 ** Math.floor(rand() * 6))];
  for (const [i, factor] of factors.entries()) {
    const type = ["linear", "dynamic", "yarn", "llama3", "longrope"][i % 5];
    const field = rand() < 0.5 ? "rope_parameters" : "rope_scaling";
    generated++;
    test(`${field} ${type} factor ${factor}`, () => {
      const params = { rope_type: type, rope_theta: 10000, factor, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 32, short_factor: [1, 1], long_factor: [1, 1] };
      assert.throws(() => normalizeConfig({ ...BASE, [field]: params }, "config.json"), (e: any) => e instanceof ConfigError && e.field === `${field}.factor`);
    });
  }
});

describe("rope_scaling that contradicts rope_parameters", () => {
  for (let i = 0; i < 10; i++) {
    const a = 1 + Math.floor(rand() * 16);
    const b = a + 1 + Math.floor(rand() * 16);
    generated++;
    test(`linear factor ${a} vs ${b}`, () => {
      assert.throws(
        () => normalizeConfig({ ...BASE, rope_parameters: { rope_type: "linear", rope_theta: 10000, factor: a }, rope_scaling: { type: "linear", factor: b } }, "config.json"),
        (e: any) => e instanceof ConfigError && e.field === "rope_scaling" && e.message.includes(`factor: ${b} vs ${a}`),
      );
    });
  }
});

describe("model_type and hidden_act naming Object.prototype members", () => {
  for (const name of ["__proto__", ...Object.getOwnPropertyNames(Object.prototype)]) {
    generated += 2;
    test(`model_type ${JSON.stringify(name)}`, () => {
      const config = normalizeConfig({ ...BASE, hidden_act: "silu", model_type: name }, "config.json");
      assert.throws(() => converterFor(config), (e: any) => e instanceof UnsupportedArchitectureError && e.modelType === name);
    });
    test(`hidden_act ${JSON.stringify(name)}`, async () => {
      const { activationFromConfig } = await import("../../src/model/components/activations");
      assert.throws(() => activationFromConfig(name), (e: any) => e.name === "ArgumentError" && e.message.includes(JSON.stringify(name)));
    });
  }
});

describe("hub bodies altered or cut in transit", () => {
  const size = fs.statSync(path.join(LLAMA, "model.safetensors")).size;
  for (let i = 0; i < 10; i++) {
    const flip = rand() < 0.5;
    generated++;
    test(flip ? `one byte changed (case ${i})` : `body cut, no size announced (case ${i})`, async () => {
      const server = await startHubServer({
        repos: { "tiny/llama": LLAMA },
        ...(flip ? { fault: (file: string) => (file === "model.safetensors" ? "flip" as const : "ok" as const) } : { noSize: true, cutFile: "model.safetensors" }),
      });
      try {
        const cacheDir = tempDir();
        await assert.rejects(downloadCheckpoint("tiny/llama", { cacheDir, endpoint: server.endpoint }), (e: any) => e instanceof HubDownloadError && /model\.safetensors/.test(e.message));
        const blobs = path.join(cacheDir, "models--tiny--llama", "blobs");
        for (const b of fs.readdirSync(blobs)) assert.ok(fs.statSync(path.join(blobs, b)).size !== size, `a blob the weights' size was kept: ${b}`);
      } finally {
        await server.close();
      }
    });
  }
});

test("the generator produced the cases", () => {
  assert.ok(generated >= 100, `${generated}`);
});
