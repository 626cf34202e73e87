// Damaged GGUF files, generated from a seed and grouped by kind of damage: truncation anywhere before the
// last tensor's data ends, unknown tensor types, tensor counts that disagree with the infos written,
// missing or mistyped tokenizer and model metadata, random byte changes in the header. Each must raise a
// typed error naming the field at fault (GgufFormatError.field), never crash with a RangeError, hang, or
// hand back a partly opened checkpoint.
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { GgufFormatError, LmprobeError } from "../../src/errors";
import { openCheckpoint } from "../../src/io/checkpoint";
import { GgufFile } from "../../src/io/gguf/gguf-file";
import { quantize } from "../tools/ggml-quantize";
import { ggufBytes, type GgufTensorSpec, type GgufValue } from "../tools/gguf-writer";
import { hfToGguf } from "../tools/gguf-from-hf";
import { seeded, tempDir, TINY } from "./helpers";

const PER_KIND = 30;
let work: string;
let valid: Buffer;
/** Byte offset where the last tensor's data ends (the writer pads after it; cutting padding is harmless). */
let dataEnd: number;
let headerEnd: number;

before(() => {
  work = tempDir("lmprobe-gguf-fuzz-");
  valid = fs.readFileSync(hfToGguf(path.join(TINY, "llama"), path.join(work, "valid.gguf"), { type: "Q8_0" }));
  const parsed = GgufFile.open(path.join(work, "valid.gguf"));
  dataEnd = Math.max(...[...parsed.tensors.values()].map((t) => t.offset + t.byteLength));
  headerEnd = parsed.dataOffset;
  parsed.close();
});
after(() => fs.rmSync(work, { recursive: true, force: true }));

let counter = 0;
function write(bytes: Buffer): string {
  const file = path.join(work, `case-${counter++}.gguf`);
  fs.writeFileSync(file, bytes);
  return file;
}

/** Opens `file` fully (config, tokenizer, every tensor read): returns the error, asserting it is an LmprobeError. */
function failure(file: string): LmprobeError | null {
  let checkpoint: ReturnType<typeof openCheckpoint> | undefined;
  try {
    checkpoint = openCheckpoint(file);
    for (const name of checkpoint.weights.names()) checkpoint.weights.read(name);
    return null;
  } catch (e) {
    assert.ok(e instanceof LmprobeError, `untyped error ${(e as Error).name}: ${(e as Error).message}`);
    return e as LmprobeError;
  } finally {
    checkpoint?.weights.close();
  }
}

function expectField(file: string, field: RegExp, text?: RegExp): void {
  const e = failure(file);
  assert.ok(e instanceof GgufFormatError, `expected GgufFormatError, got ${e ? `${e.name}: ${e.message}` : "success"}`);
  assert.match(e.field, field, e.message);
  assert.ok(e.message.includes(e.field), "the message names the field");
  if (text) assert.match(e.message, text);
}

function tokenizerlessMetadata(): Array<[string, GgufValue]> {
  return [
    ["general.architecture", { type: "string", value: "llama" }],
    ["llama.embedding_length", { type: "u32", value: 64 }],
    ["llama.block_count", { type: "u32", value: 0 }],
  ];
}

describe("damaged GGUF files raise typed errors naming the field", () => {
  test("truncated anywhere before the last tensor's data ends", () => {
    const rand = seeded(1);
    const cuts = [0, 3, 4, 7, 8, 15, 16, 23, 24, headerEnd - 1, headerEnd, dataEnd - 1];
    while (cuts.length < PER_KIND * 2) cuts.push(Math.floor(rand() * dataEnd));
    for (const cut of cuts) {
      expectField(write(valid.subarray(0, cut)), /./, /truncated|past the end|file ends/);
    }
  });

  test("unknown tensor type ids", () => {
    const rand = seeded(2);
    for (let i = 0; i < PER_KIND; i++) {
      const id = [4, 5, 31, 32, 33, 36, 37, 38, 40 + Math.floor(rand() * 1000)][i % 9];
      const spec: GgufTensorSpec = { name: "token_embd.weight", type: "F32", dims: [64, 4], data: new Uint8Array(1024), typeId: id };
      expectField(write(ggufBytes(tokenizerlessMetadata(), [spec])), /^tensor_infos\[0\] \("token_embd\.weight"\)\.type$/, new RegExp(`is ${id},`));
    }
  });

  test("tensor_count larger or smaller than the tensor infos written", () => {
    const data = quantize("F32", new Float32Array(256));
    const tensors: GgufTensorSpec[] = ["a", "b", "c"].map((n) => ({ name: `${n}.weight`, type: "F32", dims: [64, 4], data }));
    for (let extra = 1; extra <= PER_KIND / 2; extra++) {
      // More: the reader takes tensor data for infos and fails on a field of a tensor that is not there.
      expectField(write(ggufBytes(tokenizerlessMetadata(), tensors, { tensorCount: 3 + extra })), /^tensor_infos\[\d+\]/);
    }
    for (const fewer of [0, 1, 2]) {
      // Fewer: the data section is computed to start inside the unread infos, so the tensor ranges overlap
      // the header or each other; or, with none, the model has no weights.
      const e = failure(write(ggufBytes(tokenizerlessMetadata(), tensors, { tensorCount: fewer })));
      assert.ok(e, `tensor_count ${fewer}: opened`);
    }
    // The real file with one tensor fewer declared: reported, never a checkpoint missing a weight silently.
    const bytes = Buffer.from(valid);
    bytes.writeBigUInt64LE(bytes.readBigUInt64LE(8) - 1n, 8);
    assert.ok(failure(write(bytes)));
  });

  test("missing or mistyped tokenizer and model metadata", () => {
    const keys = ["tokenizer.ggml.model", "tokenizer.ggml.tokens", "tokenizer.ggml.merges", "llama.embedding_length", "llama.block_count", "llama.attention.head_count", "llama.context_length", "llama.attention.layer_norm_rms_epsilon", "general.architecture"];
    for (const key of keys) {
      // Rename the key in place (same length) so it reads as absent.
      const bytes = Buffer.from(valid);
      const at = bytes.indexOf(Buffer.from(key));
      bytes.write("X", at, "latin1");
      expectField(write(bytes), new RegExp(`^metadata\\["${key.replace(/\./g, "\\.")}"\\]$`), /is missing/);
    }
    // A token count that disagrees with token_type's.
    const bytes = Buffer.from(valid);
    const typeKey = bytes.indexOf(Buffer.from("tokenizer.ggml.token_type"));
    const countAt = typeKey + "tokenizer.ggml.token_type".length + 4 + 4;
    bytes.writeBigUInt64LE(bytes.readBigUInt64LE(countAt) - 1n, countAt);
    assert.ok(failure(write(bytes)) instanceof GgufFormatError);
  });

  test("wrong magic and version", () => {
    const bad = Buffer.from(valid);
    bad.write("GGML", 0, "latin1");
    expectField(write(bad), /^magic/);
    const v = Buffer.from(valid);
    v.writeUInt32LE(7, 4);
    expectField(write(v), /^version/, /is 7/);
  });

  test("random byte changes in the header: a typed error or a consistent file, never a crash", () => {
    const rand = seeded(5);
    for (let i = 0; i < PER_KIND * 4; i++) {
      const bytes = Buffer.from(valid);
      const changes = 1 + Math.floor(rand() * 4);
      for (let c = 0; c < changes; c++) bytes[Math.floor(rand() * headerEnd)] = Math.floor(rand() * 256);
      failure(write(bytes)); // asserts any error is an LmprobeError
    }
  });
});
