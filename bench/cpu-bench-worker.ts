// The lmprobe side of bench/cpu-vs-torch.mjs: builds one case's model, prints {"ready": …}, then answers each line
// on stdin ("forward", "probe", "rss", "quit") with one JSON line.
//   node --import tsx bench/cpu-bench-worker.ts <demo|gpt2-small|qwen2.5-1.5b> <positions>
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { createInterface } from "node:readline";
import * as tf from "@tensorflow/tfjs-core";
import { ensureBackend } from "../src/backend";
import { loadModel } from "../src/load";
import { buildModel } from "../src/model/build";
import { normalizeConfig } from "../src/io/config";
import { estimateMemory } from "../src/io/memory-estimate";
import { openWeightSource } from "../src/io/safetensors-weights";
import { logitLensFromCache } from "../src/probe/logit-lens";
import { layerSimilarityFromCache } from "../src/probe/layer-similarity";
import { residualHookNames } from "../src/probe/residual-rows";
import type { LanguageModel } from "../src/model/model";
import { randomBf16 } from "./random-weights";

const QWEN_1_5B = { hidden: 1536, layers: 28, heads: 12, kvHeads: 2, headDim: 128, intermediate: 8960, vocab: 151936 };

function peakRssMb(): number {
  const line = fs.readFileSync("/proc/self/status", "utf8").split("\n").find((l) => l.startsWith("VmHWM:"))!;
  return Number(line.replace(/\D+/g, "")) / 1024;
}

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

async function load(name: string): Promise<{ model: LanguageModel; float32WeightsMb?: number }> {
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

async function main(): Promise<void> {
  const [name, t] = process.argv.slice(2);
  const T = Number(t);
  const chosen = await ensureBackend();
  const { model, float32WeightsMb } = await load(name);
  const L = model.config.numLayers;
  const V = model.config.vocabSize;
  const ids = Array.from({ length: T }, (_, i) => 1 + ((i * 7919) % (V - 1)));
  const names = new Set(residualHookNames(L));
  const phases: Record<string, () => Promise<void>> = {
    forward: async () => {
      const out = model.run(ids, { lastPositionOnly: true });
      await out.logits.data();
      out.dispose();
    },
    probe: async () => {
      const run = model.run(ids, { cache: (n: string) => names.has(n), lastPositionOnly: true });
      await run.logits.data();
      await logitLensFromCache(model, run.cache, run.tokens[0], { k: 5, targets: [ids[T - 1]] });
      await layerSimilarityFromCache(run.cache, L);
      run.dispose();
    },
  };
  console.log(JSON.stringify({ ready: true, backend: chosen, threads: process.env.LMPROBE_THREADS, float32_weights_mb: float32WeightsMb }));
  for await (const line of createInterface({ input: process.stdin })) {
    const cmd = line.trim();
    if (cmd === "quit") break;
    if (cmd in phases) {
      const before = tf.memory().numTensors;
      const t0 = performance.now();
      await phases[cmd]();
      const ms = performance.now() - t0;
      if (tf.memory().numTensors !== before) throw new Error(`${cmd} leaked ${tf.memory().numTensors - before} tensors`);
      console.log(JSON.stringify({ ms }));
    } else if (cmd === "rss") console.log(JSON.stringify({ peak_rss_mb: peakRssMb() }));
  }
  model.dispose();
  process.exit(0);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
