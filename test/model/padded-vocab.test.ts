// A model whose unembedding has more rows than its tokenizer has tokens (Pythia's 50304 rows for 50277 tokens,
// Qwen2.5's 151936 for 151665): the extra rows get logits like any other, so the logit lens and generation can
// name an id no token has. Its text must read "<no token ID>" (where transformers' decode drops it silently), not
// stop the probe; an id past the model's rows is still refused by name.
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, before, test } from "node:test";
import { loadModel } from "../../src/load";
import { logitLens } from "../../src/probe/logit-lens";
import { openWeightSource } from "../../src/io/safetensors-weights";
import { writeSafetensors, type TensorToWrite } from "../../src/io/safetensors-writer";
import { ArgumentError } from "../../src/errors";
import type { LanguageModel } from "../../src/model/model";
import { tempDir, TINY } from "../io/helpers";

const EXTRA = 64;
let work: string;
let model: LanguageModel;
let tokens: number;

/**
 * tiny/gpt_neox with EXTRA more embedding and unembedding rows. The final norm's bias gets +5 on dimension 0 and each
 * extra unembedding row points along it (40 + i / 100), so the last extra id wins the final layer's logits.
 */
function writePaddedNeox(dir: string): void {
  const src = path.join(TINY, "gpt_neox");
  for (const f of ["tokenizer.json", "tokenizer_config.json", "generation_config.json"]) fs.copyFileSync(path.join(src, f), path.join(dir, f));
  const config = JSON.parse(fs.readFileSync(path.join(src, "config.json"), "utf8"));
  tokens = config.vocab_size;
  config.vocab_size = tokens + EXTRA;
  fs.writeFileSync(path.join(dir, "config.json"), JSON.stringify(config, null, 2));
  const weights = openWeightSource(src);
  const tensors: Record<string, TensorToWrite> = {};
  for (const name of weights.names()) {
    const info = weights.info(name);
    let data = weights.read(name);
    let shape = [...info.shape];
    if (name === "embed_out.weight" || name === "gpt_neox.embed_in.weight") {
      const d = shape[1];
      const padded = new Float32Array((tokens + EXTRA) * d);
      padded.set(data);
      for (let i = 0; i < EXTRA; i++) padded[(tokens + i) * d] = name === "embed_out.weight" ? 40 + i / 100 : 0.01;
      [data, shape] = [padded, [tokens + EXTRA, d]];
    }
    if (name === "gpt_neox.final_layer_norm.bias") data[0] += 5;
    tensors[name] = { dtype: "F32", shape, data };
  }
  weights.close();
  writeSafetensors(path.join(dir, "model.safetensors"), tensors);
}

before(async () => {
  work = tempDir("lmprobe-padded-vocab-");
  writePaddedNeox(work);
  model = await loadModel(work, { backend: "cpu" });
});
after(() => {
  model?.dispose();
  fs.rmSync(work, { recursive: true, force: true });
});

test("the tokenizer has fewer tokens than the model has rows: the fixture is what it claims", () => {
  assert.equal(model.tokenizer.vocabSize, tokens);
  assert.equal(model.weights.vocabSize, tokens + EXTRA);
});

test("toStrTokens names an id without a token by its number, beside the tokenizer's own texts", () => {
  const last = tokens + EXTRA - 1;
  assert.deepEqual(model.toStrTokens([3, tokens, last]), [model.tokenizer.tokenTexts([3])[0], `<no token ${tokens}>`, `<no token ${last}>`]);
  assert.equal(model.toText([3, tokens, 4]), `${model.tokenizer.decode([3])}<no token ${tokens}>${model.tokenizer.decode([4])}`);
  assert.throws(() => model.toStrTokens([tokens + EXTRA]), (e: Error) => e instanceof ArgumentError && /ids\[0\]/.test(e.message));
});

test("the logit lens's top token at the last layer is an id without a token: the probe names it", async () => {
  const lens = await logitLens(model, "hello world");
  const rows = lens.table.objects() as { layer: number; rank: number; token_id: number; token: string }[];
  const top = rows.find((r) => r.layer === model.nLayers && r.rank === 1)!;
  assert.equal(top.token_id, tokens + EXTRA - 1);
  assert.equal(top.token, `<no token ${tokens + EXTRA - 1}>`);
});

test("greedy generation that picks an id without a token decodes it as the marker", async () => {
  const out = await model.generate("hello", { maxNewTokens: 2 });
  try {
    assert.deepEqual(out.newTokens[0], [tokens + EXTRA - 1, tokens + EXTRA - 1]);
    assert.equal(out.texts[0], `<no token ${tokens + EXTRA - 1}>`.repeat(2));
  } finally {
    out.dispose();
  }
});
