import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { test } from "node:test";
import { ConfigError, GgufFormatError, MissingFileError, UnsupportedDtypeError, UnsupportedFormatError } from "../../src/errors";
import { openCheckpoint } from "../../src/io/checkpoint";
import { copyCheckpoint, DEMO, DEMO_REFERENCE, rawHeader, tempDir, tinyFixtures } from "./helpers";

for (const { dir, ref } of [...tinyFixtures().map((d) => ({ dir: d, ref: d })), { dir: DEMO, ref: DEMO_REFERENCE }]) {
  test(`${path.basename(dir)}: opens with config, tokenizer and every weight of the files`, () => {
    const reference = JSON.parse(fs.readFileSync(path.join(ref, "reference.json"), "utf8"));
    const ck = openCheckpoint(dir);
    try {
      assert.equal(ck.dir, path.resolve(dir));
      assert.equal(ck.config.modelType, reference.model_type);
      assert.equal(ck.config.numLayers, reference.num_layers);
      assert.equal(ck.config.hiddenSize, reference.hidden_size);
      assert.equal(ck.config.vocabSize, reference.vocab_size);
      assert.deepEqual(ck.rawConfig, JSON.parse(fs.readFileSync(path.join(dir, "config.json"), "utf8")));
      assert.deepEqual(ck.generationConfig, JSON.parse(fs.readFileSync(path.join(dir, "generation_config.json"), "utf8")));
      assert.deepEqual(ck.tokenizer.encode(reference.text).length, reference.tokens.length);
      const names = fs.readdirSync(dir).filter((f) => f.endsWith(".safetensors") && !f.startsWith("reference") && !f.startsWith("batch") && !f.startsWith("gradients"))
        .flatMap((f) => Object.keys(rawHeader(path.join(dir, f)).entries));
      assert.deepEqual(ck.weights.names(), names.sort());
      assert.ok(ck.tokenizer.eosTokenIds.includes(ck.config.eosTokenIds[0]));
    } finally {
      ck.weights.close();
    }
  });
}

test("missing directory, config.json or weights: MissingFileError naming the path and the fix", () => {
  const nowhere = path.join(tempDir(), "absent");
  assert.throws(() => openCheckpoint(nowhere), (e: any) => e instanceof MissingFileError && e.file === nowhere);
  const noConfig = copyCheckpoint(DEMO, (n) => n === "config.json");
  assert.throws(() => openCheckpoint(noConfig), (e: any) => e instanceof MissingFileError && e.file === path.join(noConfig, "config.json") && /fix:/.test(e.message));
  const noWeights = copyCheckpoint(DEMO, (n) => n.endsWith(".safetensors"));
  assert.throws(() => openCheckpoint(noWeights), (e: any) => e instanceof MissingFileError && e.file === path.join(noWeights, "model.safetensors"));
  fs.writeFileSync(path.join(noWeights, "pytorch_model.bin"), "");
  assert.throws(() => openCheckpoint(noWeights), (e: any) => e instanceof MissingFileError && /safe_serialization/.test(e.message));
});

test("config.json that is not JSON is a ConfigError naming the file", () => {
  const dir = copyCheckpoint(DEMO);
  fs.writeFileSync(path.join(dir, "config.json"), "{ model_type: llama");
  assert.throws(() => openCheckpoint(dir), (e: any) => e instanceof ConfigError && e.file === path.join(dir, "config.json"));
});

test("GGUF files are recognised; quantised safetensors checkpoints get a 'not supported yet' error before any weight is read", () => {
  // A file named .gguf is read as GGUF (a 4-byte one is truncated); a checkpoint directory whose weights are
  // only a GGUF points to the file.
  const gguf = path.join(tempDir(), "model.gguf");
  fs.writeFileSync(gguf, "GGUF");
  assert.throws(() => openCheckpoint(gguf), (e: any) => e instanceof GgufFormatError && e.field === "version (bytes 4-7)");
  const ggufDir = copyCheckpoint(DEMO, (n) => n.endsWith(".safetensors"));
  fs.writeFileSync(path.join(ggufDir, "model-q4.gguf"), "GGUF");
  assert.throws(() => openCheckpoint(ggufDir), (e: any) => e instanceof MissingFileError && /model-q4\.gguf/.test(e.message));

  const quantConfig = copyCheckpoint(DEMO);
  const config = JSON.parse(fs.readFileSync(path.join(quantConfig, "config.json"), "utf8"));
  fs.writeFileSync(path.join(quantConfig, "config.json"), JSON.stringify({ ...config, quantization_config: { quant_method: "fp8" } }));
  assert.throws(() => openCheckpoint(quantConfig), (e: any) => e instanceof UnsupportedFormatError && /fp8/.test(e.message) && /not supported yet/.test(e.message));

  for (const [tensor, dtype, pattern] of [["model.layers.0.mlp.experts.gate_up_proj_blocks", "U8", /MXFP4/], ["model.layers.0.mlp.up_proj.weight", "F8_E4M3", /F8_E4M3/]] as const) {
    const dir = copyCheckpoint(DEMO, (n) => n.endsWith(".safetensors"));
    // a header written by hand: writeSafetensors does not produce quantised dtypes
    const header = Buffer.from(JSON.stringify({
      "model.embed_tokens.weight": { dtype: "F32", shape: [2, 2], data_offsets: [0, 16] },
      [tensor]: { dtype, shape: [16], data_offsets: [16, 32] },
    }));
    const length = Buffer.alloc(8);
    length.writeBigUInt64LE(BigInt(header.length));
    fs.writeFileSync(path.join(dir, "model.safetensors"), Buffer.concat([length, header, Buffer.alloc(32)]));
    assert.throws(() => openCheckpoint(dir), (e: any) => e instanceof UnsupportedDtypeError && e.tensor === tensor && pattern.test(e.message) && /not supported yet/.test(e.message));
  }
});
