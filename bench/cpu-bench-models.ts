// The models of the CPU benchmarks (bench/cpu-bench-worker.ts, bench/probe-phases.ts): the demo, a GPT-2-small shape
// with random weights, and a Qwen2.5-1.5B shape written once as a sharded BF16 checkpoint of random weights.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { loadModel } from "../src/load";
import { buildModel } from "../src/model/build";
import { normalizeConfig } from "../src/io/config";
import { estimateMemory } from "../src/io/memory-estimate";
import { openWeightSource } from "../src/io/safetensors-weights";
import type { LanguageModel } from "../src/model/model";
import { randomBf16 } from "./random-weights";

const QWEN_1_5B = { hidden: 1536, layers: 28, heads: 12, kvHeads: 2, headDim: 128, intermediate: 8960, vocab: 151936 };

/** Writes (once) a Qwen2.5-1.5B-shaped checkpoint of random BF16 weights in 2 GB shards; returns its directory. */
async function qwenCheckpoint(): Promise<string> {
  const dir = path.join(os.tmpdir(), "lmprobe-bench-qwen2.5-1.5b");
  if (fs.existsSync(path.join(dir, "model.safetensors.index.json"))) return dir;
  fs.mkdirSync(dir, { recursive: true });
  const { writeShardedSafetensors } = await import("../src/io/safetensors-writer");
  const { hidden: d, layers, heads, kvHeads, headDim, intermediate: m, vocab } = QWEN_1_5B;
  const shapes: Record<string, number[]> = { "model.embed_tokens.weight": [vocab, d], "model.norm.weight": [d] };
  for (let l = 0; l < layers; l++) {
    const p = `model.layers.${l}.`;
    Object.assign(shapes, {
      [`${p}input_layernorm.weight`]: [d], [`${p}post_attention_layernorm.weight`]: [d],
      [`${p}self_attn.q_proj.weight`]: [heads * headDim, d], [`${p}self_attn.q_proj.bias`]: [heads * headDim],
      [`${p}self_attn.k_proj.weight`]: [kvHeads * headDim, d], [`${p}self_attn.k_proj.bias`]: [kvHeads * headDim],
      [`${p}self_attn.v_proj.weight`]: [kvHeads * headDim, d], [`${p}self_attn.v_proj.bias`]: [kvHeads * headDim],
      [`${p}self_attn.o_proj.weight`]: [d, heads * headDim],
      [`${p}mlp.gate_proj.weight`]: [m, d], [`${p}mlp.up_proj.weight`]: [m, d], [`${p}mlp.down_proj.weight`]: [d, m],
    });
  }
  const demo = path.join(__dirname, "..", "models", "lmprobe-demo");
  for (const f of ["tokenizer.json", "tokenizer_config.json"]) fs.copyFileSync(path.join(demo, f), path.join(dir, f));
  let seed = 99;
  const tensors = Object.fromEntries(Object.entries(shapes).map(([name, shape]) => {
    const s = seed++;
    const count = shape.reduce((a, b) => a * b, 1);
    return [name, { dtype: "BF16" as const, shape, bytes: () => (name.endsWith("layernorm.weight") || name === "model.norm.weight" ? new Uint8Array(new Uint16Array(count).fill(0x3f80).buffer) : randomBf16(count, s * 2654435761, 4)) }];
  }));
  writeShardedSafetensors(dir, tensors, { maxShardBytes: 2 * 1024 ** 3 });
  const config = {
    architectures: ["Qwen2ForCausalLM"], model_type: "qwen2", hidden_size: d, num_hidden_layers: layers, num_attention_heads: heads,
    num_key_value_heads: kvHeads, intermediate_size: m, vocab_size: vocab, max_position_embeddings: 32768, rms_norm_eps: 1e-6,
    rope_theta: 1000000.0, hidden_act: "silu", tie_word_embeddings: true, torch_dtype: "bfloat16", bos_token_id: 0, eos_token_id: 0,
  };
  fs.writeFileSync(path.join(dir, "config.json"), JSON.stringify(config, null, 2)); // last: marks the checkpoint complete
  return dir;
}

export async function loadBenchModel(name: string): Promise<{ model: LanguageModel; float32WeightsMb?: number }> {
  if (name === "demo") return { model: await loadModel("demo") };
  if (name === "gpt2-small") {
    // @ts-expect-error: a JavaScript module of the bench
    const { GPT2_SMALL_CONFIG, randomGpt2Weights, idTokenizer } = await import("./probe-gpt2-small.mjs");
    const config = normalizeConfig(GPT2_SMALL_CONFIG, "gpt2-small/config.json");
    return { model: buildModel({ dir: "gpt2-small (random)", config, weights: randomGpt2Weights(), tokenizer: idTokenizer } as never, "gpt2-small-random") };
  }
  if (name === "qwen2.5-1.5b") {
    const dir = await qwenCheckpoint();
    const described = openWeightSource(dir);
    const float32WeightsMb = estimateMemory(described).weightBytes / 1024 ** 2;
    described.close();
    // The checkpoint carries no tokenizer of its own vocabulary: open it as loadModel does (memory check, sharded
    // BF16 reader), then build the engine with a tokenizer that names all 151936 ids (the probe's tables decode ids).
    const { openCheckpoint } = await import("../src/io/checkpoint");
    const { checkMemoryFits } = await import("../src/io/memory-estimate");
    // @ts-expect-error: a JavaScript module of the bench
    const { idTokenizer } = await import("./probe-gpt2-small.mjs");
    const ck = openCheckpoint(dir);
    checkMemoryFits(estimateMemory(ck.weights));
    const tokenizer = { ...idTokenizer, vocabSize: QWEN_1_5B.vocab, bosTokenId: 0, eosTokenIds: [0] };
    const model = buildModel({ ...ck, tokenizer } as never, "qwen2.5-1.5b-random");
    ck.weights.close();
    return { model, float32WeightsMb };
  }
  throw new Error(`unknown case ${name}`);
}

