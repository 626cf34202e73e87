// GGUF files checked against llama.cpp itself (node-llama-cpp's prebuilt CPU build): the same file evaluated
// by both, next-token log-probabilities compared at every position of a multilingual prompt, and the
// tokenisation compared. The files are written by the test tools from float checkpoints, so the float
// model's log-probabilities show how far quantisation moved the numbers: lmprobe must sit much closer to
// llama.cpp than that.
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import * as tf from "@tensorflow/tfjs-core";
import { loadModel } from "../../src/load";
import { hfToGguf, sentencePieceMetadata } from "../tools/gguf-from-hf";
import { llamaCpp, llamaCppLogProbs, llamaCppTokenize } from "../tools/llama-cpp-reference";
import { writeWideCheckpoint } from "../tools/wide-checkpoint";
import { tempDir, TINY } from "./helpers";

const PROMPT = "The quick brown fox jumps over the lazy dog. Über Köln, 北京和東京, Москва — ¿qué tal? 🙂";
/** Compared where llama.cpp gives a token at least this probability (below it float32 softmax loses digits). */
const MIN_PROB = 1e-5;

async function lmprobeLogProbs(file: string, tokens: number[]): Promise<number[][]> {
  const model = await loadModel(file, { backend: "cpu" });
  try {
    const run = model.run([tokens]);
    try {
      return tf.tidy(() => tf.logSoftmax(run.logits.squeeze([0]) as tf.Tensor2D).arraySync() as number[][]);
    } finally {
      run.dispose();
    }
  } finally {
    model.dispose();
  }
}

function maxDiff(ours: number[][], reference: Float64Array[]): number {
  assert.equal(ours.length, reference.length);
  let worst = 0;
  ours.forEach((row, i) => row.forEach((v, j) => {
    if (reference[i][j] > Math.log(MIN_PROB)) worst = Math.max(worst, Math.abs(v - reference[i][j]));
  }));
  return worst;
}

let work: string;
before(async () => {
  work = tempDir("lmprobe-gguf-llamacpp-");
  await llamaCpp();
});
after(() => fs.rmSync(work, { recursive: true, force: true }));

describe("dequantisation is ggml's, bit for bit", () => {
  // Only token_embd is quantised; every matrix the forward pass multiplies by stays F32. llama.cpp then
  // dequantises the embedding rows exactly (get_rows) and computes everything else in float32, so any
  // difference in how a block is decoded shows up undiluted, while no activation is rounded.
  const TYPES = ["F16", "BF16", "Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K", "MXFP4"];
  test("token embeddings of every type give llama.cpp's log-probabilities to float32 rounding", async (t) => {
    const dir = writeWideCheckpoint(path.join(TINY, "llama"), path.join(work, "wide-llama"));
    const float = hfToGguf(dir, path.join(work, "embd-F32.gguf"));
    const tokens = await llamaCppTokenize(float, PROMPT);
    const floatLogProbs = await lmprobeLogProbs(float, tokens);
    for (const type of TYPES) {
      const file = hfToGguf(dir, path.join(work, `embd-${type}.gguf`), { tokenEmbeddingType: type });
      const reference = await llamaCppLogProbs(file, tokens, 512);
      const ours = maxDiff(await lmprobeLogProbs(file, tokens), reference);
      const quantisation = maxDiff(floatLogProbs, reference);
      t.diagnostic(`${type}: lmprobe vs llama.cpp ${ours.toExponential(2)}, float model vs llama.cpp ${quantisation.toExponential(2)}`);
      // Measured ~2e-6 for every type: float32 summation order only.
      assert.ok(ours < 2e-5, `${type}: lmprobe differs from llama.cpp by ${ours}`);
      // The check can fail: the type's rounding moves the numbers 50× (F16) to 10⁶× (Q2_K) more than that.
      assert.ok(quantisation > 20 * ours, `${type}: quantisation moved the log-probs by only ${quantisation}`);
    }
  });
});

describe("whole quantised models against llama.cpp", () => {
  // llama.cpp multiplies a quantised matrix by activations it first rounds to 8 bits per value (Q8_0 for
  // Q4_0/Q5_0/Q8_0, Q8_1 for Q4_1/Q5_1, Q8_K for the K-quants; F16 for F16 matrices); lmprobe multiplies in
  // float32. That rounding is ~0.4% of each block's largest activation, so logits differ by a fraction of
  // a nat: measured ≤ 0.47 on the tiny fixtures (whose logits span ~±30) and ≤ 0.14 on the wide models.
  // The tolerance is 0.6 / 0.2 nats, and for ≤ 6-bit types lmprobe must also be ≥ 2.5× closer to llama.cpp
  // than the float model is (measured 5× to 35×): close to llama.cpp because it reads the same weights.
  const CASES: Array<{ family: string; wide: boolean; types: string[]; tolerance: number }> = [
    { family: "llama", wide: false, types: ["Q8_0", "Q4_0", "Q5_1"], tolerance: 0.6 },
    { family: "qwen2", wide: false, types: ["Q4_1", "Q5_0"], tolerance: 0.6 },
    { family: "gemma2", wide: false, types: ["Q8_0", "Q4_0"], tolerance: 0.6 },
    { family: "llama", wide: true, types: ["Q4_K", "Q6_K"], tolerance: 0.2 },
    { family: "qwen2", wide: true, types: ["Q5_K", "Q3_K"], tolerance: 0.2 },
    { family: "gemma2", wide: true, types: ["Q4_K", "Q2_K"], tolerance: 0.2 },
  ];
  for (const c of CASES) {
    test(`${c.wide ? "wide " : "tiny "}${c.family}: F32 and ${c.types.join(", ")}`, async (t) => {
      const dir = c.wide ? writeWideCheckpoint(path.join(TINY, c.family), path.join(work, `wide-${c.family}`)) : path.join(TINY, c.family);
      const float = hfToGguf(dir, path.join(work, `${c.family}-${c.wide}-F32.gguf`));
      const tokens = await llamaCppTokenize(float, PROMPT);
      const floatLogProbs = await lmprobeLogProbs(float, tokens);
      // F32 everywhere: the same arithmetic up to summation order, except that ggml's CPU GELU (gemma2)
      // reads an fp16 lookup table (measured 2.1e-3 on gemma2, 1.3e-5 on llama and qwen2).
      const f32 = maxDiff(floatLogProbs, await llamaCppLogProbs(float, tokens, 512));
      t.diagnostic(`F32: lmprobe vs llama.cpp ${f32.toExponential(2)}`);
      assert.ok(f32 < (c.family === "gemma2" ? 5e-3 : 1e-4), `F32 differs from llama.cpp by ${f32}`);
      for (const type of c.types) {
        const file = hfToGguf(dir, path.join(work, `${c.family}-${c.wide}-${type}.gguf`), { type });
        const reference = await llamaCppLogProbs(file, tokens, 512);
        const ours = maxDiff(await lmprobeLogProbs(file, tokens), reference);
        const quantisation = maxDiff(floatLogProbs, reference);
        t.diagnostic(`${type}: lmprobe vs llama.cpp ${ours.toExponential(2)}, float model vs llama.cpp ${quantisation.toExponential(2)}`);
        assert.ok(ours < c.tolerance, `${type}: lmprobe differs from llama.cpp by ${ours} nats`);
        if (type !== "Q8_0") assert.ok(ours * 2.5 < quantisation, `${type}: lmprobe (${ours}) is not clearly closer to llama.cpp than the float model (${quantisation})`);
      }
    });
  }
});

describe("tokenisation from GGUF metadata", () => {
  test("byte-level BPE (tokenizer.ggml.model gpt2): llama.cpp's ids on a multilingual prompt", async () => {
    for (const family of ["llama", "qwen2", "gemma2"]) {
      const file = hfToGguf(path.join(TINY, family), path.join(work, `tok-${family}.gguf`));
      const model = await loadModel(file, { backend: "cpu" });
      try {
        for (const text of [PROMPT, "  leading spaces\n\nnew lines\ttabs 12345 3.14159", "l'été dernier, naïve café"]) {
          const reference = await llamaCppTokenize(file, text);
          assert.ok(reference.length > 10);
          assert.deepEqual(model.toTokens(text), reference, `${family}: ${JSON.stringify(text)}`);
        }
      } finally {
        model.dispose();
      }
    }
  });

  test("SentencePiece (tokenizer.ggml.model llama): llama.cpp's ids, byte fallback included", async () => {
    const texts = [PROMPT, "the lazy fox, the quick dog", "Москва и Köln 北京"];
    const file = hfToGguf(path.join(TINY, "llama"), path.join(work, "tok-spm.gguf"), { tokenizer: sentencePieceMetadata(texts.join(" "), 512) });
    const model = await loadModel(file, { backend: "cpu" });
    try {
      for (const text of [...texts, "unseen words: zebra quartz"]) {
        const reference = await llamaCppTokenize(file, text);
        assert.deepEqual(model.toTokens(text), reference, JSON.stringify(text));
      }
      // The emoji has no piece: both fall back to its UTF-8 bytes F0 9F 99 82 (byte b is token 3 + b).
      const emoji = await llamaCppTokenize(file, "🙂");
      assert.deepEqual(emoji.slice(-4), [0xf0, 0x9f, 0x99, 0x82].map((b) => 3 + b));
      assert.deepEqual(model.toTokens("🙂"), emoji);
    } finally {
      model.dispose();
    }
  });
});
