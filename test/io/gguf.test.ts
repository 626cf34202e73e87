// GGUF loading: the F32 form of each tiny fixture reproduces the transformers reference through verify()
// (tensor names, llama's q/k permutation, gemma2's norm offset, config and tokenizer all mapped), each
// dequantiser recovers the float weights within its type's rounding bound, unsupported types are refused by
// name, and Ollama / LM Studio stores resolve to their files.
import assert from "node:assert/strict";
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import * as tf from "@tensorflow/tfjs-core";
import { GgufFormatError, MissingFileError, UnsupportedDtypeError, UnsupportedFormatError } from "../../src/errors";
import { openCheckpoint } from "../../src/io/checkpoint";
import { dequantize } from "../../src/io/gguf/dequantize";
import { ggmlType } from "../../src/io/gguf/ggml-types";
import { estimateMemory } from "../../src/io/memory-estimate";
import { loadModel } from "../../src/load";
import { verify } from "../../src/verify";
import { quantize } from "../tools/ggml-quantize";
import { hfToGguf } from "../tools/gguf-from-hf";
import { ggufBytes, writeGgufLazily, type GgufValue } from "../tools/gguf-writer";
import { seeded, tempDir, TINY } from "./helpers";

let work: string;
before(() => (work = tempDir("lmprobe-gguf-")));
after(() => fs.rmSync(work, { recursive: true, force: true }));

describe("F32 GGUF files reproduce the transformers reference", () => {
  for (const family of ["llama", "qwen2", "gemma2"]) {
    test(family, async () => {
      const file = hfToGguf(path.join(TINY, family), path.join(work, `${family}-F32.gguf`));
      const model = await loadModel(file, { backend: "cpu" });
      try {
        const before = tf.memory().numTensors;
        const result = await verify(model, path.join(TINY, family, "reference.safetensors"));
        for (const [name, c] of Object.entries(result.tensors)) assert.ok(c!.ok, `${name}: max abs diff ${c!.maxAbsDiff}`);
        assert.ok(result.ok);
        assert.equal(tf.memory().numTensors, before);
      } finally {
        model.dispose();
      }
    });
  }
});

test("llama 3 RoPE scaling stored as rope_freqs.weight (as llama.cpp converts Llama 3.1+) reproduces the reference", async () => {
  const dir = path.join(TINY, "llama3-f16-sharded");
  const file = hfToGguf(dir, path.join(work, "llama3-rope.gguf"));
  const model = await loadModel(file, { backend: "cpu" });
  try {
    // The llama3 parameters recovered from the divisors alone are the config's.
    assert.deepEqual(
      { type: model.config.rope!.ropeType, factor: model.config.rope!.factor, low: model.config.rope!.lowFreqFactor, high: model.config.rope!.highFreqFactor, old: model.config.rope!.originalMaxPositions },
      { type: "llama3", factor: 8, low: 1, high: 4, old: 16 },
    );
    const result = await verify(model, path.join(dir, "reference.safetensors"));
    for (const [name, c] of Object.entries(result.tensors)) assert.ok(c!.ok, `${name}: max abs diff ${c!.maxAbsDiff}`);
  } finally {
    model.dispose();
  }
});

test("Llama 3.1-style rope_freqs with many in-between frequencies: Meta's parameters recovered, the same logits", async () => {
  const { writeWideCheckpoint } = await import("../tools/wide-checkpoint");
  const dir = writeWideCheckpoint(path.join(TINY, "llama"), path.join(work, "wide-llama31"));
  const config = JSON.parse(fs.readFileSync(path.join(dir, "config.json"), "utf8"));
  config.max_position_embeddings = 131072;
  config.rope_parameters = { rope_type: "llama3", rope_theta: 500000, factor: 32, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 8192 };
  fs.writeFileSync(path.join(dir, "config.json"), JSON.stringify(config));
  const file = hfToGguf(dir, path.join(work, "llama31.gguf"));
  const [fromGguf, fromHf] = [await loadModel(file, { backend: "cpu" }), await loadModel(dir, { backend: "cpu" })];
  try {
    const r = fromGguf.config.rope!;
    assert.deepEqual([r.ropeType, r.factor, r.lowFreqFactor, r.highFreqFactor, r.originalMaxPositions], ["llama3", 32, 1, 4, 8192]);
    const a = fromGguf.run("The quick brown fox"), b = fromHf.run("The quick brown fox");
    assert.deepEqual(a.logits.arraySync(), b.logits.arraySync());
    a.dispose();
    b.dispose();
  } finally {
    fromGguf.dispose();
    fromHf.dispose();
  }
});

describe("dequantisers recover the float weights within each type's bound", () => {
  // Bound on |dequantised − original| per block, from the type's step: symmetric types round to d/2 but clamp
  // one extreme by up to d (ggml's "d = max / −half" rule); asymmetric ones add the float16 rounding of the
  // min; K-quants add the 6-bit (4-bit for Q2_K) rounding of each sub-block scale. `absMax` and `range` are
  // the block's (the super-block's for K-quants).
  const BOUNDS: Record<string, (absMax: number, range: number) => number> = {
    F16: (a) => a * 2 ** -11,
    BF16: (a) => a * 2 ** -8,
    Q8_0: (a) => a / 127,
    Q4_0: (a) => a / 8 * 1.01,
    Q5_0: (a) => a / 16 * 1.01,
    Q4_1: (_, r) => r / 15,
    Q5_1: (_, r) => r / 31,
    Q2_K: (_, r) => r / 3,
    Q3_K: (a) => a / 4 * 1.1,
    Q4_K: (_, r) => r / 15,
    Q5_K: (_, r) => r / 31,
    Q6_K: (a) => a / 32,
    // e2m1's widest gap is 4 half-scales (8 → 12 on ggml's doubled values), and the half-scale is below amax/6
    // (the power of two at or above amax/12): half the gap is below amax/3.
    MXFP4: (a) => a / 3,
  };
  for (const [type, bound] of Object.entries(BOUNDS)) {
    test(type, () => {
      const rand = seeded(11);
      const values = Float32Array.from({ length: 4096 }, (_, i) => (rand() - 0.5) * (i % 512 < 256 ? 0.1 : 3) + (i % 1024 === 5 ? 4 : 0));
      const t = ggmlType(type);
      const out = dequantize(t, quantize(type, values), values.length);
      const block = Math.max(t.blockSize, type === "F16" || type === "BF16" ? 1 : 32);
      let worstRatio = 0;
      for (let b = 0; b < values.length; b += block) {
        const v = values.subarray(b, b + block);
        const absMax = Math.max(...Array.from(v, Math.abs));
        const range = Math.max(...v) - Math.min(...v, 0);
        for (let i = 0; i < v.length; i++) {
          const err = Math.abs(out[b + i] - v[i]);
          worstRatio = Math.max(worstRatio, err / bound(absMax, range));
          assert.ok(err <= bound(absMax, range), `${type} value ${b + i}: ${out[b + i]} for ${v[i]} (error ${err}, bound ${bound(absMax, range)})`);
        }
      }
      // The bound is not vacuous: the rounding reaches a fair part of it.
      assert.ok(worstRatio > 0.2, `${type}: worst error is only ${worstRatio} of the bound`);
    });
  }
});

describe("types and architectures lmprobe does not read are refused by name", () => {
  test("a tensor of a type without a dequantiser: UnsupportedDtypeError naming the type and the tensor", async () => {
    const file = hfToGguf(path.join(TINY, "llama"), path.join(work, "i32.gguf"));
    // Retype blk.0.ffn_up.weight (F32) in place as I32, which has the same 4 bytes per value, so the file
    // stays well-formed: its tensor info is the name, n_dims (u32), two dims (u64), then the type (u32).
    const bytes = fs.readFileSync(file);
    const name = Buffer.from("blk.0.ffn_up.weight");
    const at = bytes.indexOf(name) + name.length;
    assert.equal(bytes.readUInt32LE(at + 4 + 16), 0);
    bytes.writeUInt32LE(26, at + 4 + 16);
    fs.writeFileSync(file, bytes);
    await assert.rejects(loadModel(file, { backend: "cpu" }), (e: unknown) => {
      assert.ok(e instanceof UnsupportedDtypeError, String(e));
      assert.match((e as Error).message, /I32/);
      assert.match((e as Error).message, /blk\.0\.ffn_up\.weight/);
      return true;
    });
  });

  test("an architecture without a mapping: UnsupportedFormatError naming it", () => {
    const file = hfToGguf(path.join(TINY, "llama"), path.join(work, "arch.gguf"));
    const bytes = fs.readFileSync(file);
    const at = bytes.indexOf(Buffer.from("llama", "ascii"), bytes.indexOf(Buffer.from("general.architecture")));
    bytes.write("bloom", at, "ascii");
    fs.writeFileSync(file, bytes);
    assert.throws(() => openCheckpoint(file), (e: unknown) => e instanceof UnsupportedFormatError && /"bloom"/.test((e as Error).message));
  });
});

describe("memory estimate", () => {
  test("reports float32 bytes and the quantised bytes on disk", () => {
    const file = hfToGguf(path.join(TINY, "llama"), path.join(work, "mem.gguf"), { type: "Q4_0" });
    const checkpoint = openCheckpoint(file);
    try {
      const estimate = estimateMemory(checkpoint.weights);
      const q = checkpoint.weights.info("model.layers.0.mlp.up_proj.weight");
      assert.deepEqual(q.quantisation, { type: "Q4_0", bytes: (128 * 64 / 32) * 18 });
      assert.ok(estimate.storedBytes! < estimate.weightBytes / 4, `${estimate.storedBytes} vs ${estimate.weightBytes}`);
    } finally {
      checkpoint.weights.close();
    }
  });
});

describe("local model stores", () => {
  function ollamaStore(): { root: string; blob: string; digest: string } {
    const root = path.join(work, "ollama");
    const file = hfToGguf(path.join(TINY, "qwen2"), path.join(work, "ollama-src.gguf"), { type: "Q8_0" });
    const hex = crypto.createHash("sha256").update(fs.readFileSync(file)).digest("hex");
    fs.mkdirSync(path.join(root, "blobs"), { recursive: true });
    const blob = path.join(root, "blobs", `sha256-${hex}`);
    fs.copyFileSync(file, blob);
    const manifestDir = path.join(root, "manifests", "registry.ollama.ai", "library", "tiny-qwen");
    fs.mkdirSync(manifestDir, { recursive: true });
    fs.writeFileSync(path.join(manifestDir, "q8"), JSON.stringify({
      schemaVersion: 2,
      mediaType: "application/vnd.docker.distribution.manifest.v2+json",
      config: { mediaType: "application/vnd.docker.container.image.v1+json", digest: `sha256:${"0".repeat(64)}`, size: 2 },
      layers: [
        { mediaType: "application/vnd.ollama.image.template", digest: `sha256:${"1".repeat(64)}`, size: 10 },
        { mediaType: "application/vnd.ollama.image.model", digest: `sha256:${hex}`, size: fs.statSync(file).size },
      ],
    }));
    return { root, blob, digest: hex };
  }

  test("ollama:name:tag loads the blob its manifest names (read in place), and a missing blob is named", async () => {
    const { root, blob } = ollamaStore();
    const saved = process.env.OLLAMA_MODELS;
    process.env.OLLAMA_MODELS = root;
    try {
      const model = await loadModel("ollama:tiny-qwen:q8", { backend: "cpu" });
      const direct = await loadModel(blob, { backend: "cpu" });
      try {
        assert.equal(model.config.modelType, "qwen2");
        const a = model.run("hello world"), b = direct.run("hello world");
        assert.deepEqual(a.logits.arraySync(), b.logits.arraySync());
        a.dispose();
        b.dispose();
      } finally {
        model.dispose();
        direct.dispose();
      }
      await assert.rejects(loadModel("ollama:tiny-qwen:q4", { backend: "cpu" }), (e: unknown) => e instanceof MissingFileError && /ollama pull tiny-qwen:q4/.test((e as Error).message));
      fs.renameSync(blob, `${blob}.moved`);
      await assert.rejects(loadModel("ollama:tiny-qwen:q8", { backend: "cpu" }), (e: unknown) => {
        assert.ok(e instanceof MissingFileError, String(e));
        assert.equal((e as MissingFileError).file, blob);
        assert.match((e as Error).message, /layers\[1\]\.digest/);
        return true;
      });
      fs.renameSync(`${blob}.moved`, blob);
      const manifest = path.join(root, "manifests", "registry.ollama.ai", "library", "tiny-qwen", "q8");
      const good = fs.readFileSync(manifest, "utf8");
      const damaged = JSON.parse(good);
      damaged.layers[1].digest = "md5:abc";
      fs.writeFileSync(manifest, JSON.stringify(damaged));
      await assert.rejects(loadModel("ollama:tiny-qwen:q8", { backend: "cpu" }), (e: unknown) => e instanceof GgufFormatError && (e as GgufFormatError).field === "layers[1].digest");
      fs.writeFileSync(manifest, good);
    } finally {
      if (saved === undefined) delete process.env.OLLAMA_MODELS;
      else process.env.OLLAMA_MODELS = saved;
    }
  });

  test("lmstudio:publisher/model loads the folder's one GGUF", async () => {
    const root = path.join(work, "lmstudio");
    const folder = path.join(root, "someone", "tiny-gemma-GGUF");
    fs.mkdirSync(folder, { recursive: true });
    hfToGguf(path.join(TINY, "gemma2"), path.join(folder, "tiny-gemma.Q4_0.gguf"), { type: "Q4_0" });
    const saved = process.env.LMPROBE_LMSTUDIO_MODELS;
    process.env.LMPROBE_LMSTUDIO_MODELS = root;
    try {
      const model = await loadModel("lmstudio:someone/tiny-gemma-GGUF", { backend: "cpu" });
      assert.equal(model.config.modelType, "gemma2");
      model.dispose();
      await assert.rejects(loadModel("lmstudio:someone/absent", { backend: "cpu" }), MissingFileError);
    } finally {
      if (saved === undefined) delete process.env.LMPROBE_LMSTUDIO_MODELS;
      else process.env.LMPROBE_LMSTUDIO_MODELS = saved;
    }
  });
});

test("the lazy GGUF writer (benchmarks' multi-GB files) writes the bytes the whole-file writer does", () => {
  const random = seeded(7);
  const values = (n: number) => Float32Array.from({ length: n }, () => random() - 0.5);
  const tensors = [
    { name: "token_embd.weight", type: "Q6_K", dims: [256, 3], data: quantize("Q6_K", values(768)) },
    { name: "blk.0.attn_q.weight", type: "Q4_K", dims: [256, 2], data: quantize("Q4_K", values(512)) },
    { name: "output_norm.weight", type: "F32", dims: [5], data: quantize("F32", values(5)) },
  ];
  const metadata: Array<[string, GgufValue]> = [["general.architecture", { type: "string", value: "llama" }], ["general.name", { type: "string", value: "lazy" }]];
  const file = writeGgufLazily(path.join(work, "lazy.gguf"), metadata, tensors.map((t) => ({ name: t.name, type: t.type, dims: t.dims, make: () => t.data })));
  assert.ok(fs.readFileSync(file).equals(ggufBytes(metadata, tensors)));
  // A tensor made at a size other than its header's would shift every later tensor: refused, naming it.
  assert.throws(() => writeGgufLazily(path.join(work, "bad.gguf"), metadata, [{ name: "x.weight", type: "Q4_K", dims: [256, 2], make: () => new Uint8Array(10) }]), /x\.weight: made 10 bytes, its header says 288/);
});
