// The models of the CPU benchmarks (bench/cpu-bench-worker.ts, bench/probe-phases.ts): the demo, a GPT-2-small shape
// with random weights, and Qwen2.5-1.5B and Llama-3.1-8B shapes written once as sharded BF16 checkpoints of random
// weights (in LMPROBE_BENCH_MODELS, default the system's temporary folder).
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { loadModel } from "../src/load";
import { buildModel } from "../src/model/build";
import { normalizeConfig } from "../src/io/config";
import { estimateMemory } from "../src/io/memory-estimate";
import type { LanguageModel } from "../src/model/model";
import { randomBf16 } from "./random-weights";

interface RandomShape {
  family: "qwen2" | "llama";
  hidden: number;
  layers: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  intermediate: number;
  vocab: number;
  tied: boolean;
}

const SHAPES: Record<string, RandomShape> = {
  "qwen2.5-1.5b": { family: "qwen2", hidden: 1536, layers: 28, heads: 12, kvHeads: 2, headDim: 128, intermediate: 8960, vocab: 151936, tied: true },
  // 8.0 B parameters: 16 GB as BF16, 32 GB as float32 (more than a 24 GiB machine holds).
  "llama3.1-8b": { family: "llama", hidden: 4096, layers: 32, heads: 32, kvHeads: 8, headDim: 128, intermediate: 14336, vocab: 128256, tied: false },
};

/** Writes (once) a checkpoint of `shape` with random BF16 weights in 2 GB shards; returns its directory. */
async function randomCheckpoint(name: string, shape: RandomShape): Promise<string> {
  const dir = path.join(process.env.LMPROBE_BENCH_MODELS ?? os.tmpdir(), `lmprobe-bench-${name}`);
  if (fs.existsSync(path.join(dir, "config.json"))) return dir;
  fs.mkdirSync(dir, { recursive: true });
  const { writeShardedSafetensors } = await import("../src/io/safetensors-writer");
  const { hidden: d, layers, heads, kvHeads, headDim, intermediate: m, vocab } = shape;
  const bias = shape.family === "qwen2";
  const shapes: Record<string, number[]> = { "model.embed_tokens.weight": [vocab, d], "model.norm.weight": [d] };
  if (!shape.tied) shapes["lm_head.weight"] = [vocab, d];
  for (let l = 0; l < layers; l++) {
    const p = `model.layers.${l}.`;
    Object.assign(shapes, {
      [`${p}input_layernorm.weight`]: [d], [`${p}post_attention_layernorm.weight`]: [d],
      [`${p}self_attn.q_proj.weight`]: [heads * headDim, d],
      [`${p}self_attn.k_proj.weight`]: [kvHeads * headDim, d],
      [`${p}self_attn.v_proj.weight`]: [kvHeads * headDim, d],
      [`${p}self_attn.o_proj.weight`]: [d, heads * headDim],
      [`${p}mlp.gate_proj.weight`]: [m, d], [`${p}mlp.up_proj.weight`]: [m, d], [`${p}mlp.down_proj.weight`]: [d, m],
    });
    if (bias) Object.assign(shapes, { [`${p}self_attn.q_proj.bias`]: [heads * headDim], [`${p}self_attn.k_proj.bias`]: [kvHeads * headDim], [`${p}self_attn.v_proj.bias`]: [kvHeads * headDim] });
  }
  const demo = path.join(__dirname, "..", "models", "lmprobe-demo");
  for (const f of ["tokenizer.json", "tokenizer_config.json"]) fs.copyFileSync(path.join(demo, f), path.join(dir, f));
  let seed = 99;
  const tensors = Object.fromEntries(Object.entries(shapes).map(([name, dims]) => {
    const s = seed++;
    const count = dims.reduce((a, b) => a * b, 1);
    return [name, { dtype: "BF16" as const, shape: dims, bytes: () => (name.endsWith("layernorm.weight") || name === "model.norm.weight" ? new Uint8Array(new Uint16Array(count).fill(0x3f80).buffer) : randomBf16(count, s * 2654435761, 4)) }];
  }));
  writeShardedSafetensors(dir, tensors, { maxShardBytes: 2 * 1024 ** 3 });
  const config = {
    architectures: [shape.family === "qwen2" ? "Qwen2ForCausalLM" : "LlamaForCausalLM"], model_type: shape.family, hidden_size: d, num_hidden_layers: layers,
    num_attention_heads: heads, num_key_value_heads: kvHeads, head_dim: headDim, intermediate_size: m, vocab_size: vocab, max_position_embeddings: 32768,
    rms_norm_eps: shape.family === "qwen2" ? 1e-6 : 1e-5, rope_theta: shape.family === "qwen2" ? 1000000.0 : 500000.0, hidden_act: "silu",
    tie_word_embeddings: shape.tied, torch_dtype: "bfloat16", bos_token_id: 0, eos_token_id: 0,
  };
  fs.writeFileSync(path.join(dir, "config.json"), JSON.stringify(config, null, 2)); // last: marks the checkpoint complete
  return dir;
}

/** A bench model; `checkpointWriteMs`: the time spent writing its random checkpoint first (0 when it was there). */
export async function loadBenchModel(name: string): Promise<{ model: LanguageModel; float32WeightsMb?: number; streamed?: boolean; checkpointWriteMs?: number }> {
  if (name === "demo") return { model: await loadModel("demo") };
  if (name === "gpt2-small") {
    // @ts-expect-error: a JavaScript module of the bench
    const { GPT2_SMALL_CONFIG, randomGpt2Weights, idTokenizer } = await import("./probe-gpt2-small.mjs");
    const config = normalizeConfig(GPT2_SMALL_CONFIG, "gpt2-small/config.json");
    return { model: buildModel({ dir: "gpt2-small (random)", config, weights: randomGpt2Weights(), tokenizer: idTokenizer } as never, "gpt2-small-random") };
  }
  // "<shape>" loads as loadModel decides (whole when the float32 form fits, else a block at a time); "<shape>-streamed"
  // always a block at a time (the cost of streaming, against the whole model in the same run).
  const streamedCase = name.endsWith("-streamed");
  const shape = SHAPES[streamedCase ? name.slice(0, -"-streamed".length) : name];
  if (shape) {
    const writeStart = performance.now();
    const dir = await randomCheckpoint(streamedCase ? name.slice(0, -"-streamed".length) : name, shape);
    const checkpointWriteMs = performance.now() - writeStart;
    // The checkpoint carries no tokenizer of its own vocabulary: open it as loadModel does (memory check, sharded
    // BF16 reader, the streaming choice), then build the engine with a tokenizer that names every id (the probe's
    // tables decode ids).
    const { openCheckpoint } = await import("../src/io/checkpoint");
    const { chooseLayerStreaming } = await import("../src/io/memory-estimate");
    const { architectureStreamsLayers } = await import("../src/model/architectures");
    // @ts-expect-error: a JavaScript module of the bench
    const { idTokenizer } = await import("./probe-gpt2-small.mjs");
    const ck = openCheckpoint(dir);
    const estimate = estimateMemory(ck.weights);
    const streamed = chooseLayerStreaming(estimate, streamedCase ? "always" : "auto", undefined, architectureStreamsLayers(ck.config.modelType));
    ck.weights.streamLayers = streamed;
    const tokenizer = { ...idTokenizer, vocabSize: shape.vocab, bosTokenId: 0, eosTokenIds: [0] };
    const model = buildModel({ ...ck, tokenizer } as never, `${name}-random`);
    // Streamed, the model reads its blocks from the files until it is disposed.
    if (!streamed) ck.weights.close();
    return { model, float32WeightsMb: estimate.weightBytes / 1024 ** 2, streamed, checkpointWriteMs };
  }
  throw new Error(`unknown case ${name}`);
}

